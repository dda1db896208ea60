"""MetaPruning's fidelity draws (the measurement itself is slimkit.search.fidelity's, tested there)."""

from __future__ import annotations

from slimkit.methods.metapruning.fidelity import sample_structures
from slimkit.models.channel_spec import network_flops


def test_fidelity_draws_distinct_structures_under_the_cap(digits_pruningnet):
    net = digits_pruningnet[0]
    cap = 0.1 * network_flops(net.spec, net.spec.full_encoding())
    structures = sample_structures(net, cap, 8, seed=1)
    assert len(set(structures)) == 8
    assert all(network_flops(net.spec, net.encoding(choice)) <= cap for choice in structures)
    assert structures == sample_structures(net, cap, 8, seed=1)

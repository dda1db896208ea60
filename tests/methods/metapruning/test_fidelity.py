"""MetaPruning's fidelity draws and rank agreement."""

from __future__ import annotations

from slimkit.methods.metapruning.fidelity import rank_agreement, sample_structures, undefined_as_null
from slimkit.models.channel_spec import network_flops


def test_fidelity_draws_distinct_structures_under_the_cap_and_ranks_agreement(digits_pruningnet):
    net = digits_pruningnet[0]
    cap = 0.1 * network_flops(net.spec, net.spec.full_encoding())
    structures = sample_structures(net, cap, 8, seed=1)
    assert len(set(structures)) == 8
    assert all(network_flops(net.spec, net.encoding(choice)) <= cap for choice in structures)
    assert structures == sample_structures(net, cap, 8, seed=1)
    assert rank_agreement([0.1, 0.5, 0.3], [0.2, 0.9, 0.4]) == {"spearman": 1.0, "kendall": 1.0}
    assert rank_agreement([0.1, 0.5, 0.3], [0.9, 0.2, 0.4]) == {"spearman": -1.0, "kendall": -1.0}
    tied = rank_agreement([0.1, 0.5, 0.3], [0.8, 0.8, 0.8])  # short trainings can all score alike: undefined
    assert undefined_as_null({**tied, "above_uniform": 0}) == {"spearman": None, "kendall": None, "above_uniform": 0}

"""One network trained from several seeds: the accuracies in seed order, their metrics and log text."""

from __future__ import annotations

import pytest

from slimkit.methods.repeated_training import SeedAccuracies


def test_seed_accuracies_keep_seed_order_whatever_the_order_they_came_in():
    accuracies = SeedAccuracies({43: 0.5, 42: 0.7, 44: 0.6})
    assert accuracies.values == [0.7, 0.5, 0.6]
    assert accuracies.mean == pytest.approx(0.6) and accuracies.std == pytest.approx(0.1)
    metrics = accuracies.metrics()
    assert list(metrics) == ["test/acc", "test/acc_std", "test/acc_seed42", "test/acc_seed43", "test/acc_seed44"]
    assert metrics["test/acc_seed43"] == 0.5 and metrics["test/acc"] == pytest.approx(0.6)
    assert accuracies.describe() == "0.6000 +- 0.1000 (3 seeds)"


def test_one_seed_has_no_spread_and_is_described_as_one_figure():
    single = SeedAccuracies({7: 0.91})
    assert single.std == 0.0 and single.metrics()["test/acc_std"] == 0.0
    assert single.describe() == "0.9100"

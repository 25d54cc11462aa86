"""One rule for a run that ends early, shared by the three topics (plsim.stopping)."""

from __future__ import annotations

import math

import pytest

from plsim import ensembles, stopping
from plsim.training import _common


@pytest.mark.parametrize(("loss", "initial", "expected"), [
    (99.0, 1.0, False), (100.0, 1.0, False), (100.5, 1.0, True),   # 100 x the untrained loss
    (50.0, 0.01, False), (100.5, 0.01, True),                       # floored at 1: a tiny start is not a trap
    (229.0, 2.3, False), (231.0, 2.3, True),
    (math.inf, 2.3, True), (math.nan, 2.3, True),
])
def test_divergence_rule(loss, initial, expected):
    assert stopping.has_diverged(loss, initial) is expected


def test_every_topic_uses_the_same_rule_and_warning():
    assert _common.diverged is stopping.has_diverged
    assert _common.DIVERGED_LOSS_FACTOR == stopping.DIVERGED_LOSS_FACTOR == 100.0
    assert ensembles.PartialResultWarning is stopping.PartialResultWarning
    assert issubclass(stopping.PartialResultWarning, UserWarning)

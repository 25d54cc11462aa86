"""Amdahl's and Gustafson's laws have one home, plsim.speedup.laws (issue 14: the training copy disagreed)."""

from __future__ import annotations

import pytest

import plsim.speedup as sp
import plsim.training as T
from plsim.training import scaling


def test_plsim_training_no_longer_exports_its_own_laws():
    for name in ("amdahl_speedup", "gustafson_speedup"):
        assert name not in T.__all__ and name not in scaling.__all__
        with pytest.raises(AttributeError):
            getattr(T, name)


def test_the_one_home_gives_the_hand_computed_answers():
    # 10 % parallel on 4 workers: Amdahl 1 / (0.9 + 0.1 / 4) = 1.0811, Gustafson 0.9 + 0.1 * 4 = 1.3.
    assert sp.amdahl_speedup(0.9, 4) == pytest.approx(1 / 0.925)
    assert sp.gustafson_speedup(0.9, 4) == pytest.approx(1.3)
    for name in ("amdahl_speedup", "gustafson_speedup"):
        assert not hasattr(scaling, name), f"plsim.training.scaling still has its own {name}"

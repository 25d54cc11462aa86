"""Amdahl's and Gustafson's laws have one home, plsim.speedup.laws (issue 14: the training copy disagreed)."""

from __future__ import annotations

import numpy as np
import pytest

import plsim.speedup as sp
import plsim.training as T
from plsim.training import scaling


def test_plsim_training_no_longer_exports_its_own_laws():
    for name in ("amdahl_speedup", "gustafson_speedup"):
        assert name not in T.__all__ and name not in scaling.__all__
        with pytest.raises(AttributeError):
            getattr(T, name)


def test_the_deprecated_training_laws_warn_and_give_the_speedup_laws_answer():
    # Hand-computed: 10 % parallel on 4 workers is 1 / (0.9 + 0.1 / 4) = 1.0811, Gustafson 0.9 + 0.1 * 4 = 1.3.
    with pytest.warns(DeprecationWarning, match=r"plsim\.speedup\.amdahl_speedup\(serial_fraction, workers\)"):
        assert scaling.amdahl_speedup(4, 0.1) == pytest.approx(1 / 0.925)
    assert sp.amdahl_speedup(0.9, 4) == pytest.approx(1 / 0.925)
    with pytest.warns(DeprecationWarning, match="gustafson_speedup"):
        assert scaling.gustafson_speedup(4, 0.1) == pytest.approx(1.3)
    assert sp.gustafson_speedup(0.9, 4) == pytest.approx(1.3)
    with pytest.warns(DeprecationWarning):
        out = scaling.amdahl_speedup(np.array([1, 2, 4]), 0.5)
    np.testing.assert_allclose(out, [1.0, 1 / 0.75, 1 / 0.625])
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="parallel_fraction=1.5"):
        scaling.amdahl_speedup(4, 1.5)

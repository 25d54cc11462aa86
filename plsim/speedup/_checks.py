"""Input checks shared by the speedup modules: clear errors naming the parameter and what is allowed."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from plsim._validation import check_positive_int as _positive_int  # noqa: F401 (re-exported)


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------
def _nonneg_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name}={value!r} must be a non-negative integer (>= 0)")
    return int(value)


def _nonneg_real(name: str, value: Any, *, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if math.isnan(value) or value < 0 or (math.isinf(value) and not allow_inf):
        allowed = "a non-negative number" + (" (inf allowed)" if allow_inf else "")
        raise ValueError(f"{name}={value!r} must be {allowed}")
    return value


def _fraction(name: str, value: Any) -> float:
    value = _nonneg_real(name, value)
    if value > 1:
        raise ValueError(f"{name}={value!r} must be a fraction between 0 and 1")
    return value


def _workers_list(workers: Any) -> list[int]:
    if isinstance(workers, numbers.Integral) and not isinstance(workers, bool):
        workers = [workers]
    if isinstance(workers, (str, bytes)) or not isinstance(workers, Sequence | range):
        raise TypeError(f"workers must be an int or a sequence of ints, got {workers!r}")
    out = [_positive_int("workers", p) for p in workers]
    if not out:
        raise ValueError("workers=[] is empty; give at least one worker count such as [1, 2]")
    if len(set(out)) != len(out):
        raise ValueError(f"workers={list(workers)!r} has repeated counts; give each count once")
    return sorted(out)



"""Input checks shared by every plsim module: one home for each rule.

Each raises a message that names the parameter, the value given and what is
allowed: a value of the wrong *type* (a string, ``None``, a bool where a number
belongs) is a ``TypeError``; a number outside its range, NaN or infinity is a
``ValueError``. Cheap to import (numpy only, for :func:`check_random_state`).

``check_random_state`` (the seed tree's root) and ``check_callback`` (the
progress protocol) are re-exported here from :mod:`plsim._random` and
:mod:`plsim.progress`, so a module needs one import for all its checks.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from plsim._random import check_random_state
from plsim.progress import check_callback

__all__ = ["check_int", "check_positive_int", "check_nonneg_int", "check_real", "check_nonneg_real",
           "check_fraction", "check_random_state", "check_callback"]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> int | None:
    """``int(value)`` if it is an integer ``>= minimum`` (``None`` passes when ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def check_positive_int(name: str, value: Any, allow_none: bool = False) -> int | None:
    """``int(value)`` if it is an integer ``>= 1`` (a count of workers, tasks, threads...)."""
    if value is None and allow_none:
        return None
    if not _is_int(value):
        raise TypeError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer (>= 1)")
    return int(value)


def _allowed(minimum: float | None, maximum: float | None, low_open: bool, high_open: bool, allow_inf: bool) -> str:
    kind = "a number" if allow_inf else "a finite number"
    if minimum is not None and maximum is not None:  # a bounded range already excludes infinity
        kind = "a number"
        return f"{kind} in {'(' if low_open else '['}{minimum:g}, {maximum:g}{')' if high_open else ']'}"
    if minimum is not None:
        return f"{kind} {'>' if low_open else '>='} {minimum:g}"
    if maximum is not None:
        return f"{kind} {'<' if high_open else '<='} {maximum:g}"
    return kind


def check_real(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None,
               low_open: bool = False, high_open: bool = False, allow_inf: bool = False) -> float:
    """``float(value)`` if it is a real number in the allowed range, else a clear error.

    Parameters
    ----------
    name : str
        The parameter's name, quoted in the message.
    value : object
        What the caller passed.
    minimum, maximum : float, optional
        Bounds of the allowed range (``None``: unbounded on that side).
    low_open, high_open : bool
        Exclude the bound itself (``minimum=0, low_open=True`` means ``> 0``).
    allow_inf : bool
        Let +/-infinity through (still subject to the bounds). NaN never passes.

    Raises
    ------
    TypeError
        ``value`` is not a real number (``bool`` counts as not a number).
    ValueError
        ``value`` is NaN, infinite (unless ``allow_inf``) or outside the range.
    """
    allowed = _allowed(minimum, maximum, low_open, high_open, allow_inf)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})")
    v = float(value)
    bad = math.isnan(v) or (math.isinf(v) and not allow_inf)
    if not bad and minimum is not None:
        bad = v <= minimum if low_open else v < minimum
    if not bad and maximum is not None:
        bad = v >= maximum if high_open else v > maximum
    if bad:
        raise ValueError(f"{name}={value!r} must be {allowed}")
    return v


def check_nonneg_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name}={value!r} must be a non-negative integer (>= 0)")
    return int(value)


def check_nonneg_real(name: str, value: Any, *, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if math.isnan(value) or value < 0 or (math.isinf(value) and not allow_inf):
        allowed = "a non-negative number" + (" (inf allowed)" if allow_inf else "")
        raise ValueError(f"{name}={value!r} must be {allowed}")
    return value


def check_fraction(name: str, value: Any) -> float:
    value = check_nonneg_real(name, value)
    if value > 1:
        raise ValueError(f"{name}={value!r} must be a fraction between 0 and 1")
    return value

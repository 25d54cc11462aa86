"""Number checks shared by the federated modules: NaN and infinity are bad *values* (ValueError),
a string or ``None`` is a bad *type* (TypeError); each message names the parameter, the value
given and what is allowed. Cheap to import (no third-party modules).

``run_federated``'s own argument checks (``client_fraction``, ``lr``, ``mu``, ``dropout_rate``) live
in :mod:`plsim.federated.runner`; its ``_real`` helper is meant to be this :func:`check_real`.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["check_real"]


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

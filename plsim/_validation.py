"""Integer checks shared across plsim, each raising a message that names the parameter,
the value given and what is allowed. Cheap to import (no third-party modules)."""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["check_int", "check_positive_int"]


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

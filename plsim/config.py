"""Settings shared by every topic: the small/fast mode for CI and Binder.

Set ``PLSIM_SMALL=1`` to shrink demo sizes (fewer rounds, fewer members,
smaller datasets) so notebooks and tests finish quickly on 1-2 CPUs. Each topic
keeps its own demo sizes in one dataclass that consults :func:`small_mode`.
"""

from __future__ import annotations

import os

__all__ = ["small_mode"]

_TRUE = {"1", "true", "yes", "on"}


def small_mode() -> bool:
    """True when ``PLSIM_SMALL`` is set to 1/true/yes/on."""
    return os.environ.get("PLSIM_SMALL", "").strip().lower() in _TRUE

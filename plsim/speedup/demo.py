"""The sizes ``01_speedup`` measures with, in one place; ``PLSIM_SMALL=1`` shrinks them for CI and Binder."""

from __future__ import annotations

from dataclasses import dataclass

from plsim.config import small_mode

__all__ = ["SpeedupDemo", "demo_settings"]


@dataclass(frozen=True)
class SpeedupDemo:
    """Task sizes and repeats of ``notebooks/01_speedup.ipynb``."""

    task_ms: int = 50       # milliseconds of pure-Python work per task in the main measurement
    n_tasks: int = 8        # tasks in the main measurement
    tiny_ms: int = 1        # milliseconds per task where the per-task overhead dominates
    tiny_tasks: int = 200
    data_mb: int = 16       # data every task needs, shipped per task or placed once
    repeats: int = 2        # timed runs per configuration (median reported)


_SMALL = {"task_ms": 20, "tiny_tasks": 100, "data_mb": 8, "repeats": 1}


def demo_settings(small: bool | None = None) -> SpeedupDemo:
    """The demo sizes: the full ones, or smaller ones when ``small`` (default: ``PLSIM_SMALL`` is set)."""
    return SpeedupDemo(**_SMALL) if (small_mode() if small is None else small) else SpeedupDemo()

"""Amdahl's and Gustafson's laws, the Amdahl fit to measured speedups, and the Karp-Flatt metric.

Taught in ``notebooks/01_speedup.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plsim.validation import check_fraction as _fraction, check_nonneg_real as _nonneg_real, check_positive_int as _positive_int

# ---------------------------------------------------------------------------
# laws
# ---------------------------------------------------------------------------
def amdahl_speedup(serial_fraction: float, workers: int | float) -> float:
    """Amdahl's law ``1 / (f + (1 - f) / p)``: a fixed problem on ``p`` workers.

    ``f`` is the fraction of the *sequential* run time that cannot be parallelised.
    """
    f = _fraction("serial_fraction", serial_fraction)
    p = _nonneg_real("workers", workers)
    if p < 1:
        raise ValueError(f"workers={workers!r} must be at least 1")
    return 1.0 / (f + (1.0 - f) / p)


def ideal_speedup(workers: int, cpus: int) -> int:
    """The best speedup ``workers`` can reach on ``cpus`` CPUs they share: ``min(workers, cpus)``.

    Workers beyond the CPUs take turns (they lower nothing but add no speed); CPUs beyond
    the workers stay idle. :attr:`plsim.executor.Executor.parallelism` is the same bound
    read from a running cluster (its threads and the CPUs they share).
    """
    return min(_positive_int("workers", workers), _positive_int("cpus", cpus))


def gustafson_speedup(serial_fraction: float, workers: int | float) -> float:
    """Gustafson's law ``p - f (p - 1)``: the problem grows with the workers.

    ``f`` is the serial fraction of the *parallel* run time; the scaled speedup
    says how much more work ``p`` workers finish in the same time as one.
    """
    f = _fraction("serial_fraction", serial_fraction)
    p = _nonneg_real("workers", workers)
    if p < 1:
        raise ValueError(f"workers={workers!r} must be at least 1")
    return p - f * (p - 1.0)


def _check_speedups(workers: Any, speedups: Any) -> tuple[list[float], list[float]]:
    ps = [float(_nonneg_real("workers", p)) for p in workers]
    ss = [float(_nonneg_real("speedups", s)) for s in speedups]
    if len(ps) != len(ss):
        raise ValueError(f"workers has {len(ps)} values but speedups has {len(ss)}; give one speedup per count")
    if any(p < 1 for p in ps):
        raise ValueError(f"workers={list(workers)!r} must all be >= 1")
    if any(s <= 0 for s in ss):
        raise ValueError(f"speedups={list(speedups)!r} must all be > 0")
    return ps, ss


def fit_amdahl(workers: Sequence[float], speedups: Sequence[float]) -> float:
    """Serial fraction ``f`` of Amdahl's law that best fits measured speedups.

    Amdahl says ``1/S = 1/p + f (1 - 1/p)``, a straight line in ``f``; the
    least-squares ``f`` is ``sum(x (1/S - 1/p)) / sum(x^2)`` with ``x = 1 - 1/p``,
    clipped to [0, 1]. Overheads that grow with ``p`` show up as a larger ``f``.

    Raises
    ------
    ValueError
        If no count above 1 is given (one worker says nothing about ``f``).
    """
    ps, ss = _check_speedups(workers, speedups)
    xs = [1.0 - 1.0 / p for p in ps]
    denom = sum(x * x for x in xs)
    if denom == 0:
        raise ValueError(f"workers={list(workers)!r}: need at least one count above 1 to fit Amdahl's law")
    f = sum(x * (1.0 / s - 1.0 / p) for x, s, p in zip(xs, ss, ps, strict=True)) / denom
    return min(max(f, 0.0), 1.0)


def karp_flatt(speedup: float, workers: int) -> float:
    """Karp-Flatt metric ``e = (1/S - 1/p) / (1 - 1/p)``: the experimentally determined serial fraction.

    If ``e`` grows with ``p``, overhead (not a fixed serial part) limits the speedup.
    """
    p = _positive_int("workers", workers)
    if p < 2:
        raise ValueError(f"workers={workers!r}: the Karp-Flatt metric needs at least 2 workers")
    s = _nonneg_real("speedup", speedup)
    if s <= 0:
        raise ValueError(f"speedup={speedup!r} must be > 0")
    return (1.0 / s - 1.0 / p) / (1.0 - 1.0 / p)



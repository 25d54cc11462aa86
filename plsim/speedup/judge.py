"""Read a measured speedup against the machine it was measured on, before anyone quotes it.

A wall-clock speedup is only meaningful next to the CPUs the workers really
had. On Binder (one CPU) two "parallel" workers take turns; on a busy laptop
the sequential baseline can be slowed by another program and the parallel run
then looks *super-linear*. :func:`read_speedup` checks one measurement and
returns a :class:`SpeedupReading` whose text says, in plain words, what the
number can and cannot show:

* **fewer CPUs than workers** (one CPU above all): no real speedup can be
  measured; what the run still measures is the cluster's overhead, and the
  curve beyond it must come from the cost model (*predicted*);
* **above the ideal** (speedup above the usable CPUs, efficiency above 100 %):
  not a super-linear gain but a disturbed baseline (busy machine, warm-up,
  caches);
* **below 1**: slower than sequential, explained by the cost model when it
  predicts it, otherwise by something the model does not know about;
* **far below the prediction**, or **repeats that disagree** widely: the
  machine was busy; rerun, or trust the prediction more than this run.

:func:`cluster_cpus` gives the CPUs a client's workers really share.
Used by ``plsim bench`` and taught in ``notebooks/00_start_here.ipynb`` and
``notebooks/01_speedup.ipynb``.
"""

from __future__ import annotations

import math
import numbers
import statistics
from dataclasses import dataclass
from typing import Any

from plsim.validation import check_positive_int as _positive_int

__all__ = ["SpeedupReading", "read_speedup", "cluster_cpus"]

SLACK = 1.05
"""A measured speedup up to 5 % above the ideal is timing noise, not yet implausible."""
FAR_BELOW = 0.7
"""Measured below 70 % of the predicted speedup: the machine was probably busy."""
WIDE_SPREAD = 0.25
"""Repeats whose range exceeds 25 % of their median disagree too much to quote one number."""


@dataclass(frozen=True)
class SpeedupReading:
    """One measured speedup and what it can honestly be said to show."""

    speedup: float
    workers: int
    cpus: int
    predicted: float | None
    caveats: tuple[tuple[str, str], ...]
    """``(kind, sentence)`` pairs; kinds: ``"cpus"``, ``"implausible"``, ``"slower"``, ``"suspect"``, ``"noisy"``."""

    @property
    def efficiency(self) -> float:
        return self.speedup / self.workers

    @property
    def ideal(self) -> int:
        """The best speedup these workers can reach on these CPUs: ``min(workers, cpus)``."""
        return min(self.workers, self.cpus)

    @property
    def can_show_speedup(self) -> bool:
        """Whether this machine can show a parallel speedup at all (two or more workers on two or more CPUs)."""
        return self.ideal >= 2

    @property
    def plausible(self) -> bool:
        """False when the number itself is suspect (above the ideal, or far below the prediction)."""
        return not any(kind in ("implausible", "suspect") for kind, _ in self.caveats)

    def notes(self, skip: tuple[str, ...] = ()) -> list[str]:
        """The caveat sentences, leaving out the kinds in ``skip``."""
        return [text for kind, text in self.caveats if kind not in skip]

    def __str__(self) -> str:
        head = (f"measured speedup {self.speedup:.2f}x on {self.workers} worker(s) sharing {self.cpus} usable "
                f"CPU(s) (ideal {self.ideal}x, efficiency {self.efficiency:.0%})")
        if self.predicted is not None:
            head += f"; cost model predicted {self.predicted:.2f}x"
        if not self.caveats:
            return head + "."
        return head + ".\n" + "\n".join(f"  * {c}" for c in self.notes())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def _relative_spread(runs: Any) -> float | None:
    if runs is None:
        return None
    values = [float(r) for r in runs]
    if len(values) < 2:
        return None
    mid = statistics.median(values)
    return (max(values) - min(values)) / mid if mid > 0 else None


def read_speedup(speedup: float, workers: int, *, cpus: int, predicted: float | None = None,
                 runs: Any = None) -> SpeedupReading:
    """Judge a measured speedup against the CPUs it ran on and the cost model's prediction.

    Parameters
    ----------
    speedup : float
        Measured ``T1 / Tp`` (> 0).
    workers : int
        Workers the parallel run used.
    cpus : int
        CPUs those workers really share (:func:`cluster_cpus`; on one machine
        the usable CPUs of :func:`plsim.detect_resources`).
    predicted : float, optional
        The cost model's speedup for the same run, to explain a slowdown.
    runs : sequence of float, optional
        The repeated timings behind the median, to flag a noisy machine.

    Returns
    -------
    SpeedupReading
        ``str()`` of it is the sentence to print under the measurement.
    """
    if isinstance(speedup, bool) or not isinstance(speedup, numbers.Real):
        raise TypeError(f"speedup must be a real number, got {type(speedup).__name__}")
    speedup = float(speedup)
    if not (math.isfinite(speedup) and speedup > 0):
        raise ValueError(f"speedup={speedup!r} must be a finite number > 0 (T1 / Tp of two measured times)")
    workers = _positive_int("workers", workers)
    cpus = _positive_int("cpus", cpus)
    if predicted is not None:
        predicted = float(predicted)
        if not (math.isfinite(predicted) and predicted > 0):
            raise ValueError(f"predicted={predicted!r} must be a finite speedup > 0 or None")
    ideal = min(workers, cpus)
    caveats: list[tuple[str, str]] = []
    if cpus < 2:
        who = "one worker" if workers == 1 else f"{workers} workers take turns on it"
        caveats.append(("cpus",
            f"One usable CPU ({who}): no parallel speedup can be measured "
            "here. What this run does measure is the cluster's cost (scheduling and transfer) against the "
            "plain loop; the speedup on more CPUs comes from the cost model (predicted), not from this machine."))
    elif workers > cpus:
        caveats.append(("cpus",
            f"{workers} workers share {cpus} usable CPUs: at most {cpus}x is possible, and the extra workers' "
            "timings show contention, not speedup."))
    if speedup > ideal * SLACK:
        caveats.append(("implausible",
            f"Implausible: {speedup:.2f}x is above the ideal {ideal}x (efficiency {speedup / workers:.0%}). "
            "Parallel work cannot beat the CPUs it has; the sequential baseline was slowed (another program "
            "busy, first-run warm-up, cold caches). Rerun with more repeats on a quiet machine."))
    if speedup < 1:
        if predicted is not None and predicted < 1:
            caveats.append(("slower",
                f"Slower than sequential, as the cost model predicted ({predicted:.2f}x): the cluster's "
                "overhead outweighs the work it spreads."))
        elif ideal < 2:
            alone = "one CPU" if cpus < 2 else "one worker"
            caveats.append(("slower", f"Slower than sequential: with {alone} there is nothing to gain, so the cluster "
                            "only adds its overhead (expected here)."))
        elif predicted is None:
            caveats.append(("slower", "Slower than sequential: the per-task overhead (scheduling, transfer) outweighed "
                            "the work spread over the workers, or other programs used the CPUs; a cost model "
                            "(01_speedup) tells which."))
        else:
            caveats.append(("suspect",
                "Suspect: slower than sequential although the cost model expects a gain; most likely other "
                "programs used the CPUs during the parallel run. Check the load and rerun."))
    elif predicted is not None and ideal >= 2 and speedup < FAR_BELOW * min(predicted, ideal):
        caveats.append(("suspect",
            f"Suspect: well below the predicted {predicted:.2f}x; the CPUs were probably busy with other work "
            "(check the load) or a straggler held the last wave (see the timeline)."))
    spread = _relative_spread(runs)
    if spread is not None and spread > WIDE_SPREAD:
        caveats.append(("noisy", f"The repeats disagree by {spread:.0%} of their median: a noisy machine; quote the median "
                       "with care and rerun."))
    return SpeedupReading(speedup, workers, cpus, predicted, tuple(caveats))


def cluster_cpus(client: Any) -> int:
    """CPUs a client's workers really share.

    A local cluster's workers share this machine's usable CPUs (cgroup quota,
    ``CPU_LIMIT``, affinity), however many workers were started (fewer workers
    than CPUs lower the ideal, not the CPUs). A remote cluster's workers are
    assumed to have one CPU per thread.
    """
    from plsim.cluster import worker_threads
    from plsim.resources import detect_resources

    if getattr(client, "cluster", None) is not None:
        return detect_resources().cpus
    return max(1, sum(worker_threads(client).values()))

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

:func:`read_serial_fraction` does the same for the numbers derived from
several measured speedups, the Amdahl fit and the Karp-Flatt metric: a
"serial fraction" of 1 or a Karp-Flatt value above 1 is not a serial part of
the work but a parallel run slower than the sequential one, and a value far
above what the cost model's measured overhead accounts for points at a busy
machine.

:func:`cluster_cpus` gives the CPUs a client's workers really share.
Used by ``plsim bench`` and taught in ``notebooks/00_start_here.ipynb`` and
``notebooks/01_speedup.ipynb``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plsim.i18n import _
from plsim.speedup.laws import ideal_speedup
from plsim.validation import check_positive_int as _positive_int, check_real

__all__ = ["SpeedupReading", "read_speedup", "SerialFractionReading", "read_serial_fraction", "cluster_cpus"]

SLACK = 1.05
"""A measured speedup up to 5 % above the ideal is timing noise, not yet implausible."""
FAR_BELOW = 0.7
"""Measured below 70 % of the predicted speedup: the machine was probably busy."""
WIDE_SPREAD = 0.25
"""Repeats whose range exceeds 25 % of their median disagree too much to quote one number."""
AS_PREDICTED = 0.9
"""A slowdown within 10 % of the cost model's is "as predicted"; a deeper one has a cause the model leaves out."""
UNEXPLAINED = 0.15
"""Karp-Flatt more than 0.15 above (or below) the cost model's: the model's overhead does not explain the run."""


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
        """The best speedup these workers can reach on these CPUs (:func:`plsim.speedup.laws.ideal_speedup`)."""
        return ideal_speedup(self.workers, self.cpus)

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
        head = _("measured speedup {speedup:.2f}x on {workers} worker(s) sharing {cpus} usable "
                 "CPU(s) (ideal {ideal}x, efficiency {efficiency:.0%})").format(
            speedup=self.speedup, workers=self.workers, cpus=self.cpus, ideal=self.ideal, efficiency=self.efficiency)
        if self.predicted is not None:
            head += _("; cost model predicted {predicted:.2f}x").format(predicted=self.predicted)
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
    speedup = check_real("speedup", speedup, minimum=0, low_open=True)  # T1 / Tp of two measured times
    workers = _positive_int("workers", workers)
    cpus = _positive_int("cpus", cpus)
    if predicted is not None:
        predicted = check_real("predicted", predicted, minimum=0, low_open=True)
    ideal = ideal_speedup(workers, cpus)
    caveats: list[tuple[str, str]] = []
    if cpus < 2:
        who = _("one worker") if workers == 1 else _("{workers} workers take turns on it").format(workers=workers)
        caveats.append(("cpus",
            _("One usable CPU ({who}): no parallel speedup can be measured "
              "here. What this run does measure is the cluster's cost (scheduling and transfer) against the "
              "plain loop; the speedup on more CPUs comes from the cost model (predicted), not from this machine."
              ).format(who=who)))
    elif workers > cpus:
        caveats.append(("cpus",
            _("{workers} workers share {cpus} usable CPUs: at most {cpus}x is possible, and the extra workers' "
              "timings show contention, not speedup.").format(workers=workers, cpus=cpus)))
    if speedup > ideal * SLACK:
        caveats.append(("implausible",
            _("Implausible: {speedup:.2f}x is above the ideal {ideal}x (efficiency {efficiency:.0%}). "
              "Parallel work cannot beat the CPUs it has; the sequential baseline was slowed (another program "
              "busy, first-run warm-up, cold caches). Rerun with more repeats on a quiet machine.").format(
                speedup=speedup, ideal=ideal, efficiency=speedup / workers)))
    far_below = predicted is not None and speedup < FAR_BELOW * min(predicted, ideal)
    if speedup < 1 and far_below and ideal < 2:
        # One CPU or one worker: a slowdown is expected, but not this much of one.
        caveats.append(("suspect",
            _("Suspect: slower than sequential by far more than the cost model's {predicted:.2f}x (the cluster's "
              "measured overhead) explains; most likely other programs used the CPUs during the run. Check the load "
              "and rerun.").format(predicted=predicted)))
    elif speedup < 1:
        if predicted is not None and predicted < 1 and speedup < AS_PREDICTED * predicted:
            caveats.append(("slower",
                _("Slower than sequential, and by more than the cost model predicted ({predicted:.2f}x from the "
                  "measured overhead): the cluster's overhead explains part of it, the rest is not in the model "
                  "(most likely other programs using the CPUs; rerun to see how much of it stays).").format(
                    predicted=predicted)))
        elif predicted is not None and predicted < 1:
            caveats.append(("slower",
                _("Slower than sequential, as the cost model predicted ({predicted:.2f}x): the cluster's "
                  "overhead outweighs the work it spreads.").format(predicted=predicted)))
        elif ideal < 2:
            alone = _("one CPU") if cpus < 2 else _("one worker")
            caveats.append(("slower", _("Slower than sequential: with {alone} there is nothing to gain, so the cluster "
                                        "only adds its overhead (expected here).").format(alone=alone)))
        elif predicted is None:
            caveats.append(("slower", _("Slower than sequential: the per-task overhead (scheduling, transfer) "
                                        "outweighed the work spread over the workers, or other programs used the "
                                        "CPUs; a cost model (01_speedup) tells which.")))
        else:
            caveats.append(("suspect",
                _("Suspect: slower than sequential although the cost model expects a gain; most likely other "
                  "programs used the CPUs during the parallel run. Check the load and rerun.")))
    elif far_below and ideal >= 2:
        caveats.append(("suspect",
            _("Suspect: well below the predicted {predicted:.2f}x; the CPUs were probably busy with other work "
              "(check the load) or a straggler held the last wave (see the timeline).").format(predicted=predicted)))
    spread = _relative_spread(runs)
    if spread is not None and spread > WIDE_SPREAD:
        caveats.append(("noisy", _("The repeats disagree by {spread:.0%} of their median: a noisy machine; quote the "
                                   "median with care and rerun.").format(spread=spread)))
    return SpeedupReading(speedup, workers, cpus, predicted, tuple(caveats))


@dataclass(frozen=True)
class SerialFractionReading:
    """An Amdahl fit and Karp-Flatt values from measured speedups, and what they can honestly be said to show."""

    serial_fraction: float
    """Amdahl's serial fraction fitted to the measured speedups (clipped to [0, 1], as :func:`fit_amdahl`)."""
    karp_flatt: dict[int, float]
    """Karp-Flatt metric per worker count >= 2 (measured)."""
    predicted_karp_flatt: dict[int, float] | None
    """The same metric computed from the cost model's predicted speedups, or None without a model."""
    caveats: tuple[tuple[str, str], ...]
    """``(kind, sentence)`` pairs; kinds: ``"slower"``, ``"implausible"``, ``"cpus"``, ``"unexplained"``."""

    @property
    def plausible(self) -> bool:
        """False when the fitted numbers cannot be read as a serial part of the work."""
        return not self.caveats

    @property
    def max_speedup(self) -> float:
        """Amdahl's bound ``1 / f`` for the fitted ``f`` (``inf`` for ``f = 0``)."""
        return math.inf if self.serial_fraction <= 0 else 1.0 / self.serial_fraction

    def notes(self, skip: tuple[str, ...] = ()) -> list[str]:
        """The caveat sentences, leaving out the kinds in ``skip``."""
        return [text for kind, text in self.caveats if kind not in skip]

    def __str__(self) -> str:
        f = self.serial_fraction
        bound = _("no limit") if f <= 0 else _("at most {bound:.1f}x").format(bound=self.max_speedup)
        lines = [_("Amdahl fit to the measured speedups: serial fraction {f:.3f} -> {bound}").format(f=f, bound=bound)]
        for p, e in self.karp_flatt.items():
            model = ("" if self.predicted_karp_flatt is None else
                     _(" (the cost model, from the measured per-task overhead: {model:.3f})").format(
                         model=self.predicted_karp_flatt[p]))
            lines.append(_("Karp-Flatt on {p} workers (measured): {e:.3f}{model}").format(p=p, e=e, model=model))
        return "\n".join(lines + [f"  * {c}" for c in self.notes()])

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def read_serial_fraction(speedups: Mapping[int, float], *, cpus: int | None = None,
                         predicted: Mapping[int, float] | None = None) -> SerialFractionReading:
    """Fit Amdahl's serial fraction and the Karp-Flatt metric to measured speedups, and judge them.

    Both numbers assume that the parallel run is the sequential work spread over
    ``p`` workers plus a serial part. On a machine that cannot show that (one
    CPU, a busy machine, tasks smaller than the per-task overhead) they come out
    as numbers no serial fraction can be, and the reading says why:

    * a **Karp-Flatt value above 1** (and a fit clipped to 1): the run on ``p``
      workers was slower than sequential; overhead or other programs, not a
      serial part of the work;
    * **below 0**: a speedup above ``p``, a disturbed sequential baseline;
    * **more workers than CPUs**: the extra workers take turns;
    * **far from the cost model's** value (by more than 0.15): the model's
      measured overhead does not explain the run; most likely other programs
      used the CPUs (or the overhead was measured at a busier moment).

    Parameters
    ----------
    speedups : mapping of int to float
        Measured speedup ``T1 / Tp`` per worker count ``p`` (at least one ``p >= 2``).
    cpus : int, optional
        CPUs the workers shared (:func:`cluster_cpus`); unknown if None.
    predicted : mapping of int to float, optional
        The cost model's speedups for the same counts.

    Returns
    -------
    SerialFractionReading
        ``str()`` of it is the lines to print (fit, Karp-Flatt per count, caveats).
    """
    from plsim.speedup.laws import fit_amdahl, karp_flatt

    if not isinstance(speedups, Mapping):
        raise TypeError(f"speedups must be a mapping of worker count to measured speedup, got {type(speedups).__name__}")
    measured = {_positive_int("workers", p): float(s) for p, s in sorted(speedups.items())}
    bad = {p: s for p, s in measured.items() if not (math.isfinite(s) and s > 0)}
    if bad:
        raise ValueError(f"speedups={dict(speedups)!r}: every speedup must be a finite number > 0, got {bad}")
    counts = [p for p in measured if p >= 2]
    if not counts:
        raise ValueError(f"speedups for workers {list(measured)}: an Amdahl fit needs a speedup measured on 2 or "
                         "more workers")
    cpus = None if cpus is None else _positive_int("cpus", cpus)
    model: dict[int, float] | None = None
    if predicted is not None:
        if not isinstance(predicted, Mapping):
            raise TypeError(f"predicted must be a mapping of worker count to speedup or None, "
                            f"got {type(predicted).__name__}")
        missing = [p for p in counts if p not in predicted]
        if missing:
            raise ValueError(f"predicted={dict(predicted)!r} has no speedup for workers {missing}")
        model = {p: karp_flatt(float(predicted[p]), p) for p in counts}
    f = fit_amdahl(list(measured), list(measured.values()))
    kf = {p: karp_flatt(measured[p], p) for p in counts}
    caveats: list[tuple[str, str]] = []
    slower = [p for p in counts if kf[p] > 1]
    if slower:
        p = slower[0]
        clipped = (_(" The Amdahl fit is clipped to 1.000 and says nothing about the work either.") if f >= 1
                   else "")
        if model is None:
            why = _("overhead that outweighed the work spread over the workers (scheduling, transfer: tasks too "
                    "small), or other programs using the CPUs")
        elif model[p] > 1:
            why = _("the cluster's overhead outweighing the work spread over the workers, as the cost model "
                    "predicts ({predicted:.2f}x): the tasks are too small").format(predicted=predicted[p])
        else:
            why = _("something the cost model leaves out: with the measured per-task overhead it expects "
                    "{predicted:.2f}x, so most likely other programs used the CPUs during the run (check the "
                    "load and rerun)").format(predicted=predicted[p])
        caveats.append(("slower",
            _("Karp-Flatt {kf:.3f} on {p} workers is above 1, and no part of the work can be more than all of "
              "it: the run on {p} workers was slower than the sequential one (measured {measured:.3g}x). That is "
              "not a serial part of the work but {why}.").format(kf=kf[p], p=p, measured=measured[p], why=why)
            + clipped))
    above = [p for p in counts if measured[p] > p * SLACK]
    if above:
        p = above[0]
        caveats.append(("implausible",
            _("Karp-Flatt {kf:.3f} on {p} workers is below 0: the measured {measured:.2f}x is above {p}x, "
              "which parallel work cannot do; the sequential baseline was slowed (busy machine, warm-up).").format(
                kf=kf[p], p=p, measured=measured[p])))
    if cpus is not None:
        crowded = [p for p in counts if p > cpus]
        if crowded:
            caveats.append(("cpus",
                _("{workers} workers share {cpus} usable CPU(s): the extra workers take turns, so their speedup "
                  "measures contention and the fitted serial fraction is no property of the work.").format(
                    workers=crowded[-1], cpus=cpus)))
    if model is not None and not slower and not above:
        far = [p for p in counts if abs(kf[p] - model[p]) > UNEXPLAINED]
        if far:
            p = far[-1]
            if kf[p] > model[p]:
                caveats.append(("unexplained",
                    _("The cost model's per-task overhead accounts for {model:.3f} of the {kf:.3f} on {p} "
                      "workers; the other {rest:.3f} is not in the model and not a serial part of the "
                      "work: most likely other programs used the CPUs during the run (check the load and rerun)."
                      ).format(model=model[p], kf=kf[p], p=p, rest=kf[p] - model[p])))
            else:
                caveats.append(("unexplained",
                    _("The run did better than the cost model expects ({kf:.3f} against {model:.3f} on {p} "
                      "workers): the per-task overhead was measured at a busier moment than the run.").format(
                        kf=kf[p], model=model[p], p=p)))
    return SerialFractionReading(f, kf, model, tuple(caveats))


def cluster_cpus(client: Any) -> int:
    """CPUs a client's workers really share: :attr:`plsim.executor.Executor.cpus` of ``client``.

    A local cluster's workers -- a private one or the student session's shared
    one (:func:`plsim.cluster.is_local_cluster`) -- share this machine's usable
    CPUs (cgroup quota, ``CPU_LIMIT``, affinity), however many workers were
    started (fewer workers than CPUs lower the ideal, not the CPUs). A remote or
    gateway cluster's workers are assumed to have one CPU per thread.
    ``client`` may also be any executor :func:`plsim.executor.resolve_executor` accepts.
    """
    from plsim.executor import resolve_executor

    return resolve_executor(client, name="client").cpus

"""The cost model that *predicts* a speedup: serial part + per-task overhead + data moved + work in waves.

Taught in ``notebooks/01_speedup.ipynb``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from plsim.i18n import N_, _
from plsim.validation import check_nonneg_real as _nonneg_real, check_positive_int as _positive_int

# ---------------------------------------------------------------------------
# cost model
# ---------------------------------------------------------------------------
UNEXPLAINED_BELOW = 0.85
"""A measured speedup below 85 % of the prediction has a cause the model leaves out."""
_TERM_NAMES = {
    "serial": N_("the serial part"),
    "overhead": N_("per-task scheduling overhead"),
    "transfer": N_("data transfer"),
    "compute": N_("the work itself"),
}


@dataclass(frozen=True)
class CostModel:
    """Predicted run time of ``n_tasks`` independent tasks on ``p`` workers.

    ``T1 = serial + n_tasks * task_seconds`` (one process, no scheduler) and::

        Tp = serial                                  # cannot be parallelised
           + n_tasks * overhead_per_task             # the scheduler handles tasks one at a time
           + (n_tasks * bytes_per_task + p * bytes_once) / bandwidth   # data moved
           + ceil(n_tasks / p) * task_seconds        # the work, in waves of p tasks

    With ``overhead_per_task = 0`` and no bytes this is Amdahl's law with serial
    fraction ``serial / T1`` (exactly, when ``p`` divides ``n_tasks``; otherwise the
    last, partly empty wave costs a little more: task granularity).

    Parameters
    ----------
    task_seconds : float
        Compute time of one task on one worker.
    n_tasks : int
        Independent tasks.
    serial : float
        Seconds of work that stays sequential (setup, combining results).
    overhead_per_task : float
        Seconds the scheduler/client spend per task (submit, assign, report back).
    bytes_per_task : float
        Bytes shipped with (or returned from) every task.
    bytes_once : float
        Bytes scattered once to every worker used (e.g. the training data).
    bandwidth : float
        Bytes per second between client and workers (``inf``: free).
    """

    task_seconds: float
    n_tasks: int
    serial: float = 0.0
    overhead_per_task: float = 0.0
    bytes_per_task: float = 0.0
    bytes_once: float = 0.0
    bandwidth: float = math.inf

    def __post_init__(self) -> None:
        _nonneg_real("task_seconds", self.task_seconds)
        _positive_int("n_tasks", self.n_tasks)
        _nonneg_real("serial", self.serial)
        _nonneg_real("overhead_per_task", self.overhead_per_task)
        _nonneg_real("bytes_per_task", self.bytes_per_task)
        _nonneg_real("bytes_once", self.bytes_once)
        bw = _nonneg_real("bandwidth", self.bandwidth, allow_inf=True)
        if bw == 0:
            raise ValueError("bandwidth=0 would make every transfer take forever; give bytes per second > 0")
        if self.serial + self.task_seconds * self.n_tasks <= 0:
            raise ValueError("task_seconds and serial are both 0: there is no work to time")

    def sequential_time(self) -> float:
        """Predicted seconds in one process, no scheduler."""
        return self.serial + self.n_tasks * self.task_seconds

    def breakdown(self, workers: int) -> dict[str, float]:
        """Predicted seconds of each term of ``Tp`` on ``workers`` workers."""
        p = _positive_int("workers", workers)
        waves = math.ceil(self.n_tasks / p)
        moved = self.n_tasks * self.bytes_per_task + p * self.bytes_once
        return {
            "serial": self.serial,
            "overhead": self.n_tasks * self.overhead_per_task,
            "transfer": moved / self.bandwidth if moved else 0.0,
            "compute": waves * self.task_seconds,
        }

    def parallel_time(self, workers: int) -> float:
        """Predicted seconds on ``workers`` workers."""
        return sum(self.breakdown(workers).values())

    def speedup(self, workers: int) -> float:
        """Predicted speedup ``T1 / Tp``."""
        return self.sequential_time() / self.parallel_time(workers)

    def efficiency(self, workers: int) -> float:
        """Predicted efficiency ``speedup / p``."""
        return self.speedup(workers) / _positive_int("workers", workers)

    @property
    def serial_fraction(self) -> float:
        """Amdahl's serial fraction ``serial / T1`` of this model."""
        return self.serial / self.sequential_time()

    def dominant_cost(self, workers: int) -> str:
        """The largest non-compute term on ``workers`` workers: serial, overhead or transfer."""
        parts = self.breakdown(workers)
        return max(("serial", "overhead", "transfer"), key=lambda k: parts[k])

    def explain(self, workers: int, measured_speedup: float | None = None) -> str:
        """One or two sentences on why the speedup is what it is, naming the dominant cost."""
        p = _positive_int("workers", workers)
        parts = self.breakdown(p)
        predicted = self.speedup(p)
        saved = self.n_tasks * self.task_seconds - parts["compute"]
        key = self.dominant_cost(p)
        shown = predicted if measured_speedup is None else measured_speedup
        kind = _("predicted speedup") if measured_speedup is None else _("measured speedup")
        cost = parts[key]
        term = _(_TERM_NAMES[key])
        if measured_speedup is not None and measured_speedup < 1 <= predicted and p > 1:
            return _(
                "Slower than sequential (measured speedup {measured:.2f}x on {p} workers) although the "
                "cost model predicts {predicted:.2f}x: the modelled costs (largest: {term}, "
                "{cost:.3g} s) do not explain it. Most likely the CPUs were shared with other programs while "
                "the parallel run was measured (check the load), or the workers have fewer CPUs than assumed."
            ).format(measured=measured_speedup, p=p, predicted=predicted, term=term, cost=cost)
        if shown < 1 and p == 1:
            return _("Slower than sequential ({kind} {shown:.2f}x on 1 worker): one worker saves no "
                     "compute, so the cluster can only add its costs (largest: {term}, {cost:.3g} s).").format(
                kind=kind, shown=shown, term=term, cost=cost)
        if shown < 1:
            text = _(
                "Slower than sequential ({kind} {shown:.2f}x on {p} worker(s)): "
                "{term} costs {cost:.3g} s, while spreading the work over {p} worker(s) "
                "saves only {saved:.3g} s of compute."
            ).format(kind=kind, shown=shown, p=p, term=term, cost=cost, saved=saved)
            if key == "overhead" and self.overhead_per_task > 0.1 * self.task_seconds:
                text += _(
                    " Each task does {task_ms:.3g} ms of work but costs "
                    "{overhead_ms:.3g} ms to schedule: make tasks bigger (batch them)."
                ).format(task_ms=self.task_seconds * 1e3, overhead_ms=self.overhead_per_task * 1e3)
            elif key == "transfer":
                text += _(" Scatter the data once and pass futures, or send less data per task.")
            else:
                text += _(" Most of the time is in the part that cannot run in parallel.")
            return text
        if p == 1:
            return _("One worker: {kind} {shown:.2f}x; the cluster only adds {term} ({cost:.3g} s).").format(
                kind=kind, shown=shown, term=term, cost=cost)
        if measured_speedup is None:
            return _("Predicted speedup {shown:.2f}x on {p} workers (ideal {p}x); "
                     "the largest loss is {term} ({cost:.3g} s).").format(shown=shown, p=p, term=term, cost=cost)
        text = _("Measured speedup {shown:.2f}x on {p} workers (ideal {p}x, cost model {predicted:.2f}x); "
                 "the largest loss the model knows of is {term} ({cost:.3g} s).").format(
            shown=shown, p=p, predicted=predicted, term=term, cost=cost)
        if measured_speedup < UNEXPLAINED_BELOW * predicted:
            # The modelled costs explain the prediction, not a measurement this far below it.
            text += _(" They do not explain the rest of the gap to the prediction: most likely other programs used "
                      "the CPUs during the run (check the load), or a straggler held the last wave (the timeline "
                      "shows it).")
        return text



"""The measured speedups next to the prediction: :class:`SpeedupResult` and :func:`measure_speedup`.

Taught in ``notebooks/01_speedup.ipynb``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from plsim.comm.sizes import shipped_nbytes
from plsim.executor import Run, resolve_executor
from plsim.i18n import N_, _
from plsim.progress import Callback, Progress, check_callback, notify
from plsim.validation import check_nonneg_int as _nonneg_int, check_nonneg_real as _nonneg_real, check_positive_int as _positive_int
from plsim.speedup.cost_model import UNEXPLAINED_BELOW, CostModel
from plsim.speedup.judge import SerialFractionReading, SpeedupReading, read_serial_fraction, read_speedup
from plsim.speedup.laws import fit_amdahl, karp_flatt
from plsim.speedup.measure import (
    Calibration,
    Timing,
    _timed_runs,
    calibrate,
    check_ship,
    run_parallel,
    run_sequential,
)

def _workers_list(workers: Any) -> list[int]:
    """Worker counts to measure: an int or a sequence of distinct positive ints, sorted."""
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


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------
@dataclass(repr=False)
class SpeedupResult:
    """Measured times on 1..k workers next to the sequential baseline, and the prediction.

    ``sequential`` is the in-process baseline ``T1``; ``parallel[p]`` the time on
    ``p`` workers. All times are measured wall clock; ``model`` (if any) adds
    predicted speedups, clearly labelled. A run that ended early
    (``stopped_reason`` ``"stopped"`` or ``"interrupted"``, see
    :mod:`plsim.progress`) holds the worker counts measured before it ended,
    possibly none.
    """

    sequential: Timing
    parallel: dict[int, Timing]
    model: CostModel | None = None
    title: str = N_("Speedup")
    notes: list[str] = field(default_factory=list)
    cpus: int | None = None
    """CPUs the workers shared (:func:`plsim.speedup.cluster_cpus`); lets the table judge its own numbers."""
    stopped_reason: str | None = None
    """None for a complete measurement, else why it ended early ("stopped", "interrupted")."""

    def __post_init__(self) -> None:
        if not isinstance(self.sequential, Timing):
            raise TypeError(f"sequential must be a Timing, got {type(self.sequential).__name__}")
        if not self.parallel and self.stopped_reason is None:
            raise ValueError("parallel is empty; give the time on at least one worker count")
        self.parallel = {_positive_int("workers", p): t for p, t in sorted(self.parallel.items())}

    @classmethod
    def from_seconds(cls, sequential: float, parallel: Mapping[int, float], **kwargs: Any) -> SpeedupResult:
        """Build from plain seconds (one run each), e.g. synthetic timings in a lesson."""
        seq = _nonneg_real("sequential", sequential)
        par = {p: Timing((_nonneg_real(f"parallel[{p}]", t),)) for p, t in parallel.items()}
        if seq <= 0 or any(t.seconds <= 0 for t in par.values()):
            raise ValueError("times must be > 0 seconds")
        return cls(Timing((seq,)), par, **kwargs)

    @property
    def workers(self) -> list[int]:
        return list(self.parallel)

    @property
    def partial(self) -> bool:
        """True when the measurement ended early and holds fewer worker counts than asked for."""
        return self.stopped_reason is not None

    def speedup(self, workers: int) -> float:
        """Measured speedup ``T1 / Tp``."""
        if workers not in self.parallel:
            raise ValueError(f"workers={workers!r} was not measured; measured: {self.workers}")
        return self.sequential.seconds / self.parallel[workers].seconds

    def efficiency(self, workers: int) -> float:
        """Measured efficiency ``speedup / p``."""
        return self.speedup(workers) / workers

    def predicted_speedup(self, workers: int) -> float | None:
        return None if self.model is None else self.model.speedup(workers)

    @property
    def serial_fraction(self) -> float | None:
        """Amdahl serial fraction fitted to the measured speedups (None if only p = 1 was measured)."""
        ps = [p for p in self.workers if p > 1]
        if not ps:
            return None
        return fit_amdahl(self.workers, [self.speedup(p) for p in self.workers])

    def karp_flatt(self, workers: int) -> float | None:
        return None if workers < 2 else karp_flatt(self.speedup(workers), workers)

    def speedup_range(self, workers: int) -> tuple[float, float]:
        """Lowest and highest speedup over the repeats (measured): ``T1`` median over each parallel run.

        With one repeat both ends are the speedup itself. Two ranges that
        overlap do not show a difference between two ways of running the work.
        """
        if workers not in self.parallel:
            raise ValueError(f"workers={workers!r} was not measured; measured: {self.workers}")
        runs = [self.sequential.seconds / t for t in self.parallel[workers].runs]
        return min(runs), max(runs)

    def fit_reading(self) -> SerialFractionReading | None:
        """The Amdahl fit and Karp-Flatt values judged against the CPUs and the cost model; None below 2 workers."""
        if not any(p > 1 for p in self.workers):
            return None
        predicted = None if self.model is None else {p: self.model.speedup(p) for p in self.workers}
        return read_serial_fraction({p: self.speedup(p) for p in self.workers}, cpus=self.cpus,
                                    predicted=predicted)

    def reading(self, workers: int | None = None) -> SpeedupReading | None:
        """The measurement on ``workers`` (default: the most) judged against the CPUs; None if ``cpus`` is unknown."""
        if self.cpus is None or not self.parallel:
            return None
        p = self.workers[-1] if workers is None else workers
        return read_speedup(self.speedup(p), p, cpus=self.cpus, predicted=self.predicted_speedup(p),
                            runs=[self.sequential.seconds / t for t in self.parallel[p].runs])

    def explanation(self) -> str | None:
        """Why the measured speedup on the most workers is what it is; names the dominant cost below 1."""
        if not self.parallel:
            return None
        p = self.workers[-1]
        text = None
        if self.model is not None:
            text = self.model.explain(p, measured_speedup=self.speedup(p))
        elif self.speedup(p) < 1:
            text = _("Slower than sequential on {p} worker(s) (measured {speedup:.2f}x): "
                     "overheads (scheduling, data transfer, serial part) exceed the compute saved.").format(
                p=p, speedup=self.speedup(p))
        if p > 1 and 1 in self.parallel and self.speedup(1) < 1 <= self.speedup(p):
            extra = _("On 1 worker the cluster is slower than the plain loop (measured {speedup:.2f}x): "
                      "it only adds overhead.").format(speedup=self.speedup(1))
            text = extra if text is None else f"{text} {extra}"
        return text

    def rows(self) -> list[dict[str, Any]]:
        """One dict per line of the table; keys say what is measured and what is predicted."""
        rows: list[dict[str, Any]] = [{
            "run": "sequential", "workers": 1, "measured_seconds": self.sequential.seconds,
            "measured_speedup": 1.0, "measured_efficiency": 1.0,
            "predicted_speedup": None if self.model is None else 1.0, "karp_flatt": None,
        }]
        for p in self.workers:
            rows.append({
                "run": "parallel", "workers": p, "measured_seconds": self.parallel[p].seconds,
                "measured_speedup": self.speedup(p), "measured_efficiency": self.efficiency(p),
                "predicted_speedup": self.predicted_speedup(p), "karp_flatt": self.karp_flatt(p),
            })
        return rows

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": self.rows(),
            "amdahl_serial_fraction": self.serial_fraction,
            "explanation": self.explanation(),
            "notes": list(self.notes),
            "cpus": self.cpus,
            "stopped_reason": self.stopped_reason,
            "caveats": [] if self.reading() is None else self.reading().notes(),
            "fit_caveats": [] if self.fit_reading() is None else self.fit_reading().notes(),
            "model": None if self.model is None else dict(self.model.__dict__),
        }

    _HEAD = (N_("run"), N_("workers"), N_("time (s) measured"), N_("speedup measured"), N_("efficiency measured"),
             N_("speedup predicted"), "Karp-Flatt")
    N_("sequential"), N_("parallel"), N_("stopped"), N_("interrupted")   # codes translated where shown

    def _head(self) -> list[str]:
        return [_(h) for h in self._HEAD]

    def _cells(self) -> list[list[str]]:
        def fmt(x: Any, spec: str) -> str:
            if x is None:
                return "-"
            if spec == ".2f" and abs(x) < 0.1:
                return format(x, ".2g")
            return format(x, spec)

        return [[_(r["run"]), str(r["workers"]), fmt(r["measured_seconds"], ".3f"), fmt(r["measured_speedup"], ".2f"),
                 fmt(r["measured_efficiency"], ".0%"), fmt(r["predicted_speedup"], ".2f"),
                 fmt(r["karp_flatt"], ".3f")] for r in self.rows()]

    def _busy_named(self) -> bool:
        """Whether :meth:`explanation` already says the modelled costs do not explain the run (a busy machine)."""
        if self.model is None or not self.parallel:
            return False
        p = self.workers[-1]
        predicted = self.model.speedup(p)
        return p > 1 and predicted >= 1 and self.speedup(p) < UNEXPLAINED_BELOW * predicted

    def _footer(self) -> list[str]:
        lines = []
        why = self.explanation()
        busy_named = self._busy_named()
        fit = self.fit_reading()
        if fit is not None:
            f = fit.serial_fraction
            lines.append(_("Amdahl fit (measured): serial fraction {f:.3f} -> at most {bound:.1f}x").format(
                f=f, bound=1 / f) if f > 0 else _("Amdahl fit (measured): serial fraction 0.000"))
            # Why a fitted f or a Karp-Flatt value in the table is no serial part of the work (judge.py); the
            # reading below already covers crowded CPUs, and a busy machine when it calls the speedup suspect.
            reading = self.reading()
            p = self.workers[-1]
            s, predicted = self.speedup(p), self.predicted_speedup(p)
            skip = {"cpus"}
            if busy_named or (reading is not None and not reading.plausible):
                skip.add("unexplained")  # the reading or the explanation below already names a busy machine
            slow_explained = s < 1 and (why is not None or reading is not None)
            if slow_explained:
                skip.add("slower")
            lines += fit.notes(skip=tuple(skip))
            if slow_explained and any(kind == "slower" for kind, _ in fit.caveats):
                # The explanation below says why the run was slow; here only why f and Karp-Flatt mean nothing.
                lines.append(_("Karp-Flatt above 1 (and a fit clipped to 1) is no serial fraction: the parallel "
                               "run was slower than the sequential one, for the reason below."))
        if self.model is not None:
            lines.append(_("Cost model (predicted): serial {serial:.3g} s, {overhead_ms:.3g} ms overhead/task, "
                           "{n_tasks} tasks of {task_ms:.3g} ms").format(
                serial=self.model.serial, overhead_ms=self.model.overhead_per_task * 1e3,
                n_tasks=self.model.n_tasks, task_ms=self.model.task_seconds * 1e3))
        if why:
            lines.append(why)
        reading = self.reading()
        if reading is not None:  # the cost model's explanation already covers a slowdown, or a busy machine
            lines += reading.notes(skip=("slower",) * bool(why) + ("suspect",) * busy_named)
        if self.cpus is not None:
            # The reading judges the most workers; a smaller count above its own ideal is flagged too.
            for q in self.workers[:-1]:
                other = read_speedup(self.speedup(q), q, cpus=self.cpus)
                lines += [_("On {q} worker(s): {text}").format(q=q, text=text)
                          for kind, text in other.caveats if kind == "implausible"]
        spread = max([self.sequential.spread, *(t.spread for t in self.parallel.values())])
        runs = len(self.sequential.runs)
        lines.append(_("Median of {runs} run(s); largest spread between runs {spread:.3f} s.").format(
            runs=runs, spread=spread))
        if self.stopped_reason is not None:
            lines.append(_("Partial: {reason} after {counts} worker count(s).").format(
                reason=_(self.stopped_reason), counts=len(self.parallel)))
        return lines + list(self.notes)

    def __repr__(self) -> str:
        return str(self)

    def __str__(self) -> str:
        cells = self._cells()
        head = self._head()
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
        line = lambda items: "  ".join(s.rjust(w) for s, w in zip(items, widths, strict=True))  # noqa: E731
        out = [_(self.title), line(head), line(["-" * w for w in widths])]
        out += [line(c) for c in cells]
        return "\n".join(out + self._footer())

    def _repr_html_(self) -> str:
        from html import escape

        head = "".join(f"<th>{escape(h)}</th>" for h in self._head())
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in self._cells())
        foot = "".join(f"<p style='margin:2px 0'>{escape(t)}</p>" for t in self._footer())
        return (f"<div><b>{escape(_(self.title))}</b><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>{foot}</div>")


def measure_speedup(
    func: Callable[..., Any],
    tasks: Sequence[Any],
    *,
    executor: Any,
    data: Any = None,
    workers: int | Sequence[int] | None = None,
    ship: str = "scatter",
    repeats: int = 3,
    warmup: int = 1,
    calibration: Calibration | None = None,
    predict: bool = True,
    title: str | None = None,
    callback: Callback | None = None,
) -> SpeedupResult:
    """Time ``tasks`` sequentially in this process and on each worker count of a Dask cluster.

    Parameters
    ----------
    func : callable
        ``func(task)`` or ``func(task, data)``; must be importable by the workers
        (defined in a module, or a function cloudpickle can ship).
    tasks : sequence
        One argument per independent task.
    executor : dask.distributed.Client, "auto" or plsim.executor.Dask
        The running cluster (:func:`plsim.start_cluster`); resolved once with
        :func:`plsim.executor.resolve_executor`. It must be a Dask cluster:
        the point is to compare it with this process.
    data : object, optional
        Shared input; placed once per run (``ship="scatter"``) or embedded in
        every task (``ship="per-task"``).
    workers : int or sequence of int, optional
        Worker counts to measure (default 1..all workers of the cluster).
    repeats, warmup : int
        Timed runs per configuration (median reported) and untimed runs first.
    calibration : Calibration, optional
        Cluster costs for the prediction; measured with :func:`calibrate` if not given.
    predict : bool
        Build the :class:`CostModel` prediction (needs a calibration).
    title : str, optional
        Table title.
    callback : callable, optional
        ``callback(Progress(done, total, "run", message=...))`` after each run
        (warm-up or timed) of each configuration, the sequential one first
        (:mod:`plsim.progress`). A truthy return stops: the result holds the
        configurations measured so far (and the timed runs of the one in
        progress), ``stopped_reason="stopped"``. An interrupt does the same
        with ``"interrupted"`` and a :class:`plsim.progress.PartialResultWarning`.

    Returns
    -------
    SpeedupResult
        Measured times and speedups, the Amdahl fit, and the predicted speedups.
    """
    ex = resolve_executor(executor)
    ex.require_cluster("measure_speedup (compares this process with the cluster's workers)")
    tasks = list(tasks)
    if not tasks:
        raise ValueError("tasks is empty; give at least one task")
    available = ex.n_workers
    counts = list(range(1, available + 1)) if workers is None else _workers_list(workers)
    if counts[-1] > available:
        raise ValueError(
            f"workers={counts} but the cluster has {available} worker(s); "
            f"start it with plsim.start_cluster(n_workers={counts[-1]})"
        )
    check_ship(ship)
    repeats, warmup = _positive_int("repeats", repeats), _nonneg_int("warmup", warmup)
    callback = check_callback(callback)
    total = (1 + len(counts)) * (warmup + repeats)
    progress = {"done": 0, "stop": False}

    def after(label: str) -> Callable[[int, list[float]], bool]:
        def tell(calls: int, runs: list[float]) -> bool:
            progress["done"] += 1
            kind = (_("warm-up {n} of {warmup}").format(n=calls, warmup=warmup) if calls <= warmup
                    else _("run {n} of {repeats}").format(n=calls - warmup, repeats=repeats))
            last = f": {runs[-1]:.3f} s" if calls > warmup else ""
            progress["stop"] = notify(callback, Progress(progress["done"], total, "run",
                                                         message=f"{label}, {kind}{last}"))
            return progress["stop"]
        return tell

    seq_runs: list[float] = []
    parallel: dict[int, Timing] = {}
    with Run("measure_speedup", ex) as run:
        seq_runs, _result = _timed_runs(lambda: run_sequential(func, tasks, data), repeats, warmup, after("sequential"))
        for p in counts if not progress["stop"] else ():
            runs, _result = _timed_runs(lambda p=p: run_parallel(ex, func, tasks, data, workers=p, ship=ship),
                                        repeats, warmup, after(f"{p} worker(s)"))
            if runs:
                parallel[p] = Timing(tuple(runs))
            if progress["stop"]:
                break
    stopped = "stopped" if progress["stop"] else run.reason
    if not seq_runs:
        if stopped == "interrupted":
            raise run.interrupted  # nothing measured: nothing to return
        raise ValueError("measure_speedup was stopped before the sequential baseline was timed; nothing to return")
    if stopped == "interrupted":
        run.warn_partial(f"measure_speedup was interrupted: the result holds {len(parallel)} of {len(counts)} "
                         "worker count(s)", stacklevel=2)
    seq = Timing(tuple(seq_runs))

    model = None
    if predict and (stopped is None or calibration is not None):
        cal = calibration or calibrate(executor=ex)
        size = 0 if data is None else shipped_nbytes(data)
        model = CostModel(
            task_seconds=seq.seconds / len(tasks),
            n_tasks=len(tasks),
            overhead_per_task=cal.overhead_per_task,
            bytes_per_task=size if ship == "per-task" else 0,
            bytes_once=size if ship == "scatter" else 0,
            bandwidth=cal.bandwidth,
        )
    name = getattr(func, "__name__", "task")
    return SpeedupResult(seq, parallel, model=model, title=title or _("{n} x {name} (data: {ship})").format(n=len(tasks), name=name, ship=ship),
                         cpus=ex.cpus, stopped_reason=stopped)

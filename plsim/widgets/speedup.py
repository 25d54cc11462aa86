"""The speedup explorer: workers, task size and data size -> measured and predicted speedup, timeline.

Each Run times ``n_tasks`` pure-Python tasks of ``task_ms`` milliseconds (fixed
work, never a sleep) in this process, then on 1..``workers`` workers of the
running cluster, optionally carrying ``data_mb`` of data (scattered once or
shipped with every task). It draws the measured speedup next to the cost
model's prediction and the task timeline of the largest run.

Taught in ``notebooks/01_speedup.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plsim.i18n import N_, _
from plsim.progress import Callback, Progress, check_callback, notify
from plsim.validation import check_nonneg_real, check_positive_int
from plsim.widgets._panel import RunPanel, widget_executor

if TYPE_CHECKING:
    from plsim.speedup import SpeedupResult, TaskRecord

__all__ = ["speedup_explorer", "explore_speedup", "speedup_outcome", "Phase", "SHIP_CHOICES"]

SHIP_CHOICES = {N_("scatter once"): "scatter", N_("with every task"): "per-task"}  # option label (English) -> ship


@dataclass(frozen=True)
class Phase:
    """Where a progress event of :func:`explore_speedup` is (its ``Progress.record``)."""

    label: str  # "sequential" or "2 worker(s)" (English: a code that programs read, see ``workers``)
    done: int  # tasks of this phase finished
    n_tasks: int

    @property
    def text(self) -> str:
        """The phase as the student reads it, in their language."""
        return _("sequential") if self.workers is None else _("{workers} worker(s)").format(workers=self.workers)

    @property
    def workers(self) -> int | None:
        """The worker count of a parallel phase; None for the sequential one."""
        return None if self.label == "sequential" else int(self.label.split()[0])
MAX_SECONDS = 60.0  # refuse combinations whose sequential run alone would take longer


def explore_speedup(
    executor: Any,
    *,
    workers: int,
    task_ms: float,
    n_tasks: int,
    data_mb: float = 0.0,
    ship: str = "scatter",
    calibration: Any = None,
    callback: Callback | None = None,
    on_partial: Callable[[SpeedupResult, list[TaskRecord]], None] | None = None,
) -> tuple[SpeedupResult | None, list[TaskRecord]]:
    """Measure the tasks sequentially and on 1..``workers`` workers; the logic behind the widget.

    Parameters
    ----------
    executor : dask.distributed.Client, "auto" or plsim.executor.Dask
        The running cluster (resolved once with :func:`plsim.executor.resolve_executor`).
    workers : int
        Largest worker count measured (the cluster must have that many).
    task_ms : float
        Milliseconds of pure-Python work per task (calibrated in this process).
    n_tasks : int
        Independent tasks.
    data_mb : float
        Megabytes of data every task receives (0: none).
    ship : {"scatter", "per-task"}
        Place the data once per run, or embed it in every task.
    calibration : plsim.speedup.Calibration, optional
        Cluster overhead and bandwidth for the prediction (measured if not given).
    callback : callable, optional
        ``callback(Progress(done, total, "task", message=..., record=Phase(...)))``
        as each task finishes, sequential ones first (:mod:`plsim.progress`); a
        truthy return stops: the worker counts whose run finished are returned
        (a run cut short is dropped: its time is not a time for that count).
    on_partial : callable, optional
        ``on_partial(result, timeline)`` after each worker count (live figure).

    Returns
    -------
    (SpeedupResult, list of TaskRecord)
        Measured times with the cost-model prediction, and the timeline of the largest run.
        ``(None, [])`` when stopped before the first parallel run finished.
    """
    import numpy as np

    from plsim import speedup as sp
    from plsim.executor import resolve_executor

    ex = resolve_executor(executor)
    ex.require_cluster("the speedup explorer (measures the cluster's workers)")
    if ship not in SHIP_CHOICES.values():
        raise ValueError(f"ship={ship!r} must be one of {sorted(SHIP_CHOICES.values())}")
    data_mb = check_nonneg_real("data_mb", data_mb)
    workers = check_positive_int("workers", workers)
    n_tasks = check_positive_int("n_tasks", n_tasks)
    callback = check_callback(callback)
    available = ex.n_workers
    if workers > available:
        raise ValueError(f"workers={workers} but the cluster has {available}; "
                         f"start it with plsim.start_cluster(n_workers={workers})")
    iterations = sp.python_work_iterations(task_ms)
    data = np.ones(int(data_mb * 2**20) // 8) if data_mb > 0 else None
    tasks = [iterations] * n_tasks
    total = n_tasks * (1 + workers)
    state = {"done": 0, "stop": False, "phase_done": 0}

    def tick(label: str, done_here: int) -> bool:
        state["done"] += 1
        state["phase_done"] = done_here
        phase = Phase(label, done_here, n_tasks)
        event = Progress(state["done"], total, "task", message=_("{label}: "
                                                                  "{done_here}/{n_tasks} tasks").format(label=phase.text, done_here=done_here, n_tasks=n_tasks),
                         record=phase)
        state["stop"] = state["stop"] or notify(callback, event)
        return state["stop"]

    # warm up: imports and the function on every worker, untimed
    sp.run_parallel(ex, sp.python_work, [1] * available)
    cal = calibration or sp.calibrate(executor=ex, n_tasks=100, megabytes=4, repeats=1)
    cpus = ex.cpus  # the table then says what these CPUs can and cannot show

    def sequential() -> list:
        out = []
        for t in tasks:
            out.append(sp.python_work(t, data))
            if tick("sequential", len(out)):
                break
        return out

    seq_timing, _result = sp.time_call(sequential, repeats=1, warmup=0)
    if state["stop"]:  # a partial sequential time is not a baseline; a whole one alone gives no speedup
        return None, []
    parallel: dict[int, Any] = {}
    timeline: list = []
    model = sp.CostModel(
        task_seconds=seq_timing.seconds / n_tasks, n_tasks=n_tasks, overhead_per_task=cal.overhead_per_task,
        bytes_per_task=data.nbytes if data is not None and ship == "per-task" else 0,
        bytes_once=data.nbytes if data is not None and ship == "scatter" else 0, bandwidth=cal.bandwidth)
    how = _("scattered once") if ship == "scatter" else _("shipped with every task")
    title = _("{n_tasks} tasks x {task_ms:g} ms, {data_mb:g} MB data ({how})").format(n_tasks=n_tasks, task_ms=task_ms, data_mb=data_mb, how=how)
    result = None
    for p in range(1, workers + 1):

        def run(p: int = p) -> Any:
            return sp.run_parallel(ex, sp.python_work, tasks, data, workers=p, ship=ship,
                                   callback=lambda e, p=p: tick(f"{p} worker(s)", e.done))

        if p == workers:
            with sp.record_timeline(executor=ex) as timeline:
                timing, _result = sp.time_call(run, repeats=1, warmup=0)
        else:
            timing, _result = sp.time_call(run, repeats=1, warmup=0)
        if state["stop"] and state["phase_done"] < n_tasks:  # a run cut short is not a time for p workers
            break
        parallel[p] = timing
        result = sp.SpeedupResult(seq_timing, dict(parallel), model=model, title=title, cpus=cpus)
        if on_partial is not None:
            on_partial(result, timeline)
        if state["stop"]:  # Stop came with the last task of this worker count: its time is whole, keep it
            break
    if result is not None and workers not in parallel:
        import dataclasses

        result = dataclasses.replace(result, stopped_reason="stopped")
    return result, timeline if workers in parallel else []


def speedup_outcome(result: SpeedupResult | None, last: Phase | None, *, workers: int) -> tuple[str, bool]:
    """``(text, complete)`` for the panel's status: what was measured, or after Stop what was kept and dropped.

    ``last`` is the phase of the last task that finished (the ``record`` of the last
    progress event), ``workers`` the largest worker count asked for.
    """
    if result is not None and workers in result.parallel:
        return (_("measured sequentially and on 1 to {workers} worker(s): speedup "
                   "{speedup:.2f}x on {workers} (measured)").format(workers=workers, speedup=result.speedup(workers)), True)
    if last is None:
        return _("before the first task finished: nothing was measured."), False
    n = last.n_tasks
    # the phase Stop cut short (a phase whose last task finished is whole and was kept)
    cut = last.done < n
    where = _("the sequential run") if last.workers is None else _("the {workers}-worker run").format(workers=last.workers)
    dropped = (_("{where} was cut after {done} of {n} tasks; its other {value} task(s) were "
                  "dropped (a run cut short is not a time). ").format(where=where, done=last.done, n=n, value=n - last.done) if cut else _("after {where} (all "
                                                                          "{n} tasks). ").format(where=where, n=n))
    if result is None:
        kept = (_("Nothing was kept: a speedup needs the whole sequential run and at least one whole parallel "
                   "run, and none finished."))
    else:
        counts = ", ".join(str(p) for p in result.workers)
        kept = (_("Kept: the sequential time and the time on {counts} worker(s) (measured), "
                   "shown on the right; {workers} worker(s) were not measured.").format(counts=counts, workers=workers))
    return dropped + kept, False


def ran_text(params: dict, *, have: int, cpus: int) -> str:
    """One line saying what a Run measures, for the top of the results."""
    data = (_("no data") if not params["data_mb"] else
            _("{data_mb:g} MB of data ({value})").format(data_mb=params['data_mb'], value=_('scattered once') if SHIP_CHOICES[params['ship']] == 'scatter' else _('shipped with every task')))
    return (_("{n_tasks} tasks x {task_ms} ms of pure-Python work each, {data}: timed "
               "sequentially here, then on 1 to {workers} of this cluster's {have} worker(s) "
               "({cpus} usable CPU(s)).").format(n_tasks=params['n_tasks'], task_ms=params['task_ms'], data=data, workers=params['workers'], have=have, cpus=cpus))


def workers_hint(have: int, cpus: int) -> str:
    """What the workers slider offers on this cluster, and how to get more."""
    return (_("The slider goes up to this cluster's {have} worker(s). For more, restart it "
               "with plsim.start_cluster(n_workers=N)").format(have=have) + (_("; beyond its {cpus} usable CPU(s) "
                                                      "workers share them and the speedup stops "
                                                      "growing.").format(cpus=cpus) if cpus else "."))


def fit_workers_slider(slider: Any, have: int, cpus: int) -> None:
    """Make the workers slider go from 1 to ``have`` (the cluster's workers), keeping its value in range."""
    slider.max = max(int(have), 1)
    slider.value = min(slider.value, slider.max)
    slider.disabled = slider.max == 1
    slider.tooltip = workers_hint(have, cpus)


def _figure(result: SpeedupResult, timeline: list) -> Any:
    from matplotlib.figure import Figure

    from plsim.plots.speedup import plot_speedup, plot_timeline

    fig = Figure(figsize=(11, 4), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.3])
    plot_speedup(result, left)
    if timeline:
        plot_timeline(timeline, right)
    else:
        right.text(0.5, 0.5, _("timeline: shown after the largest worker count runs"), ha="center", va="center")
        right.set_axis_off()
    fig.suptitle(result.title)
    return fig


def speedup_explorer(executor: Any = "auto") -> Any:
    """A panel: choose workers, task size, tasks and data size; Run measures and predicts the speedup.

    The workers slider goes from 1 to the cluster's real number of workers (read again
    before every run, in case the cluster was restarted with more); the panel says how to
    get more.

    Parameters
    ----------
    executor : "auto", dask.distributed.Client or plsim.executor.Dask
        Where to measure. ``"auto"`` (default): the running plsim cluster
        (:func:`plsim.cluster.current_client`), started if there is none.

    Returns
    -------
    ipywidgets.Widget
        The panel's widget (``.panel`` is the :class:`RunPanel`, for tests).
    """
    import ipywidgets as w

    from plsim.resources import detect_resources

    cpus = detect_resources().cpus
    cache: dict[str, Any] = {}

    def get_executor() -> Any:
        ex = widget_executor(executor)
        if cache.get("client") is not getattr(ex, "client", None):
            cache.clear()
            cache["client"] = getattr(ex, "client", None)
        return ex

    def n_available() -> int:
        return get_executor().n_workers

    have = n_available()
    controls = {
        "workers": w.IntSlider(value=min(2, have), min=1, max=have, description=_("workers (at most)"),
                               disabled=have == 1),
        "task_ms": w.IntSlider(value=100, min=1, max=1000, step=1, description=_("task size (ms)")),
        "n_tasks": w.IntSlider(value=8, min=1, max=200, description=_("number of tasks")),
        "data_mb": w.FloatSlider(value=0.0, min=0.0, max=64.0, step=0.5, description=_("data per task (MB)")),
        "ship": w.Dropdown(options=[(_(k), k) for k in SHIP_CHOICES], value="scatter once", description=_("send data")),
    }
    controls["workers"].tooltip = workers_hint(have, cpus)

    def validate(params: dict) -> str | None:
        have = n_available()
        fit_workers_slider(controls["workers"], have, cpus)
        if params["workers"] > have:
            return (_("The cluster has {have} worker(s). To try {workers}, restart it with "
                       "plsim.start_cluster(n_workers={workers}); with more workers than the "
                       "{cpus} usable CPU(s) they share CPUs (oversubscription) and the speedup "
                       "stops growing.").format(have=have, workers=params['workers'], cpus=cpus))
        seconds = params["task_ms"] * params["n_tasks"] / 1e3
        if seconds * (1 + params["workers"]) > MAX_SECONDS * 2 or seconds > MAX_SECONDS:
            return (_("{n_tasks} tasks x {task_ms} ms = {seconds:.0f} s of work per run: too "
                       "long for a demo; keep it under {MAX_SECONDS:.0f} s.").format(n_tasks=params['n_tasks'], task_ms=params['task_ms'], seconds=seconds, MAX_SECONDS=MAX_SECONDS))
        if params["ship"] == "with every task" and params["data_mb"] * params["n_tasks"] > 2048:
            return _("Shipping that much data with every task would move over 2 GB; use fewer tasks or less data.")
        return None

    def work(params: dict, report: Any) -> Any:
        from plsim.speedup import calibrate

        ex = get_executor()
        if "calibration" not in cache:
            report.progress(0, 1, _("measuring the cluster's per-task overhead and bandwidth..."))
            cache["calibration"] = calibrate(executor=ex, n_tasks=100, megabytes=4, repeats=1)

        ran = _("<p><b>Ran</b>: {ran_text}</p>").format(ran_text=ran_text(params, have=ex.n_workers, cpus=cpus))
        last: list[Phase] = []

        def callback(event: Any) -> bool:
            last[:] = [event.record]
            return report.callback(event)

        def partial(result: Any, timeline: list) -> None:
            report.figure(_figure(result, timeline))
            report.html(ran + result._repr_html_())

        result, timeline = explore_speedup(
            ex, workers=params["workers"], task_ms=params["task_ms"], n_tasks=params["n_tasks"],
            data_mb=params["data_mb"], ship=SHIP_CHOICES[params["ship"]], calibration=cache["calibration"],
            callback=callback, on_partial=partial)
        text, complete = speedup_outcome(result, last[0] if last else None, workers=params["workers"])
        if not complete:  # next to the result too, not only in the status line
            report.html(ran + _("<p><b>Stopped</b>: {text}</p>").format(text=text) + (result._repr_html_() if result is not None else ""))
        report.finish(text, complete=complete)
        return result

    panel = RunPanel(
        _("Speedup explorer"), controls, work, validate=validate,
        description=(_("Measured on the real cluster ({cpus} usable CPU(s)); the dashed line "
                        "is the cost model's prediction. {workers_hint}").format(cpus=cpus, workers_hint=workers_hint(have, cpus))),
    )
    return panel.widget

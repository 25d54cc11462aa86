"""Widgets of notebooks 04 and 05: a sync / async / local-SGD race and a pipeline-bubble explorer.

The race trains its methods at the same time (one thread per library call, their tasks
sharing the cluster) and plots loss against steps, bytes sent and simulated time. Both return a :class:`~plsim.widgets._panel.RunPanel` widget; the logic is in
plain functions (:func:`race_work`, :func:`pipeline_work`) that tests call directly.
"""

from __future__ import annotations

from typing import Any

from plsim.i18n import _
from plsim.progress import PartialResultWarning, Progress
from plsim.widgets._panel import Report, RunPanel, html_table, widget_executor

__all__ = ["training_race", "pipeline_explorer", "race_work", "pipeline_work", "validate_race", "race_control_states",
           "race_outcome"]

# ipywidgets shows an empty box for a Dropdown whose value is None, so "no bound"
# is the option value UNBOUNDED and is turned into ``None`` when the run starts.
UNBOUNDED = -1
STALENESS_CHOICES = [("unbounded (async)", UNBOUNDED)] + [(str(s), s) for s in range(0, 9)]


def _cpus(ex: Any) -> int:
    """Usable CPUs of the executor's workers (1 for a sequential run)."""
    return ex.cpus


METHODS = ("sync", "async", "local_sgd")


def validate_race(params: dict) -> str | None:
    """A message when the race cannot run with these values (None when it can)."""
    chosen = [key for key in METHODS if params.get(key, True)]
    if not chosen:
        return _("tick at least one method to race")
    if params["workers"] < 1:
        return _("workers={workers} must be at least 1").format(workers=params['workers'])
    if params["H"] < 1:
        return _("H={H} must be at least 1").format(H=params['H'])
    if "local_sgd" in chosen and params["steps"] < params["H"]:
        return _("steps={steps} must be at least H={H} (one averaging round)").format(steps=params['steps'], H=params['H'])
    if params["lr"] <= 0:
        return _("learning rate {lr} must be positive").format(lr=params['lr'])
    return None


def race_control_states(params: dict) -> dict[str, str | None]:
    """Why a race control does not apply to the chosen methods (``None``: it applies).

    The widget disables those controls and shows the reason as their tooltip.
    """
    states: dict[str, str | None] = {"staleness": None, "H": None}
    if not params.get("async", True):
        states["staleness"] = _("The staleness bound applies only to the async parameter server: tick 'async' to use it.")
    elif params["workers"] == 1:
        states["staleness"] = (_("One worker: every gradient is computed on the newest parameters, so there is "
                                  "nothing to bound. Use 2 or more workers."))
    if not params.get("local_sgd", True):
        states["H"] = _("H (local steps between averages) applies only to local SGD: tick 'local SGD' to use it.")
    return states


def _labels(params: dict) -> dict[str, str]:
    bound = (_("unbounded staleness") if params["staleness"] == UNBOUNDED else _("staleness bound "
                                                                               "{staleness}").format(staleness=params['staleness']))
    return {"sync": "sync DP", "async": _("async PS, {bound}").format(bound=bound), "local_sgd": _("local SGD, H={H}").format(H=params['H'])}


def _units(params: dict) -> dict[str, str]:
    """What one step of each method is, for the status line and the outcome."""
    return {"sync": "steps", "async": _("steps per worker ({workers} workers' updates / "
                                         "{workers})").format(workers=params['workers']),
            "local_sgd": _("local steps ({H} per averaging round)").format(H=params['H'])}


def _steps_done(h: Any) -> float:
    """Steps per worker a run completed (async: its updates / workers); 0 before the first."""
    if not h.steps:
        return 0
    k = int(h.info.get("n_workers", 1)) if h.method.split("(")[0] in ("async", "ssp") else 1
    return h.steps[-1] / k


def _per_worker_steps(h: Any) -> Any:
    """The run with ``steps`` = steps per worker applied when each loss was taken.

    Async updates are counted per worker (``k`` updates = one step of each of ``k`` workers);
    sync records the loss *before* its step ``s``, so it is drawn at ``s - 1``.
    """
    import dataclasses

    if h.method.split("(")[0] in ("async", "ssp"):
        k = int(h.info.get("n_workers", 1))
        return dataclasses.replace(h, steps=[s / k for s in h.steps])
    if "before the step" in str(h.info.get("loss_kind", "")):
        return dataclasses.replace(h, steps=[s - 1 for s in h.steps])
    return h


def _race_figure(histories: dict[str, Any], params: dict, live: dict[str, Any] | None = None,
                 step_seconds: float | None = None) -> Any:
    """Loss against steps (every run, live), bytes sent and simulated time (finished runs), three small axes."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from plsim.plots.training import plot_loss_curves, simulated_history

    fig = Figure(figsize=(12, 4.0), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    names = _labels(params)
    chosen = [key for key in METHODS if params.get(key, True)]
    done = [key for key in chosen if key in histories and histories[key].steps]
    running = [key for key in chosen if key not in done and live and live.get(key) is not None and live[key].steps]
    waiting = [names[key] for key in chosen if key not in done and key not in running]
    per_step = [_per_worker_steps(histories[key]) for key in done] + [live[key] for key in running]
    if per_step:
        plot_loss_curves(per_step, x="steps", labels=[names[k] for k in done + running], ax=axes[0],
                         title=_("Per step"), xlabel=_("steps per worker (async: updates / workers)"))
        # one legend under the three plots: inside the first one it covered the curves' start
        handles, texts = axes[0].get_legend_handles_labels()
        axes[0].get_legend().remove()
        fig.legend(handles, texts, loc="outside lower center", ncols=len(handles), fontsize="small", frameon=False)
    if done:
        link = params.get("link", "datacenter")
        plot_loss_curves([histories[k] for k in done], x="bytes", labels=[names[k] for k in done], ax=axes[1],
                         title=_("Per byte sent (counted)"))
        simulated = [simulated_history(histories[k], step_seconds=step_seconds or 0.0, link=link) for k in done]
        plot_loss_curves(simulated, x="time", labels=[names[k] for k in done], ax=axes[2],
                         title=_("Per simulated second ({link} link)").format(link=link),
                         xlabel=_("time (s, simulated: {value:.2g} ms/step + {link} link)").format(value=(step_seconds or 0) * 1e3, link=link))
        for ax in axes[1:]:
            ax.set_ylabel("")
            ax.get_legend().remove()
            ax.xaxis.set_major_locator(MaxNLocator(4))  # long tick labels ran into each other
    for ax, what in ((axes[0], _("steps")), (axes[1], _("bytes")), (axes[2], _("simulated time"))):
        if not ax.lines:
            ax.text(0.5, 0.5, _("loss vs {what}:\n").format(what=what) + (_("drawn when a run finishes") if ax is not axes[0] else _("waiting")),
                    ha="center", va="center", transform=ax.transAxes, color="#666666")
    if waiting:
        fig.suptitle(_("waiting: {runs}").format(runs=", ".join(waiting)), fontsize=9)
    return fig


def _step_seconds(model: Any, X: Any, y: Any, batch_size: int) -> float:
    """Measured seconds of one gradient on ``batch_size`` rows in this process (best of a few)."""
    import time as _time

    import numpy as np

    w = model.init_params(0)
    rows = np.arange(min(batch_size, len(y)))
    best = float("inf")
    for _attempt in range(5):
        t0 = _time.perf_counter()
        for _attempt in range(10):
            model.gradient(w, X[rows], y[rows])
        best = min(best, (_time.perf_counter() - t0) / 10)
    return best


def race_work(params: dict, report: Report | None = None, *, executor: Any = "auto", redraw_every: float = 0.5
              ) -> dict[str, Any]:
    """Run the chosen methods (sync, async, local SGD) on digits on the cluster AT THE SAME TIME.

    Each method is one call of its library function (``sync_sgd``, ``async_sgd``, ``local_sgd``)
    in its own thread; their tasks share the cluster (``executor``: what
    :func:`plsim.executor.resolve_executor` accepts; ``"auto"`` starts a cluster if there is
    none). Every run's :mod:`plsim.progress` callback returns True once the panel's Stop was
    clicked, so Stop ends all of them after their current step. Returns the histories of the runs
    (``partial`` when stopped, ``stopped_reason="stopped"``; a KeyboardInterrupt while waiting stops
    every run the same way, ``stopped_reason="interrupted"``, with a warning); the figure shows
    loss against steps (live), against the bytes sent (counted) and against simulated time (an
    alpha-beta link from ``params["link"]``).
    """
    import threading
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from plsim.data import load_dataset
    from plsim.models import SoftmaxRegression
    from plsim.training._common import TrainingHistory
    from plsim.training.async_ps import async_sgd
    from plsim.training.local_sgd import local_sgd
    from plsim.training.sync import sync_sgd

    problem = validate_race(params)
    if problem:
        raise ValueError(problem)
    ex = widget_executor(executor)
    ds = load_dataset("digits")
    model = SoftmaxRegression(ds.X_train.shape[1], ds.n_classes)
    k, steps, lr, H = int(params["workers"]), int(params["steps"]), float(params["lr"]), int(params["H"])
    bound = None if params["staleness"] == UNBOUNDED else int(params["staleness"])
    chosen = [key for key in METHODS if params.get(key, True)]
    step_seconds = _step_seconds(model, ds.X_train, ds.y_train, 32)
    lock = threading.Lock()
    failed = threading.Event()  # one run raised: stop the others too
    interrupted = threading.Event()  # KeyboardInterrupt here: every run stops after its current step
    live = {key: TrainingHistory(key, "measured") for key in chosen}
    completed = dict.fromkeys(chosen, 0.0)  # steps per worker completed so far (the progress bar, the status)

    def callback(key: str, per_worker: int = 1, before: int = 0, per_unit: int = 1) -> Any:
        def cb(event: Progress) -> bool:
            with lock:  # steps per worker applied when the loss was taken (as _per_worker_steps draws them)
                live[key].steps.append(event.done * per_unit / per_worker - before)
                live[key].loss.append(event.loss)
                completed[key] = event.done * per_unit / per_worker
            # the panel's progress line shows every run at once (show()), so Stop is read here directly
            return failed.is_set() or interrupted.is_set() or (report is not None and report.stopped)
        return cb

    runs = {
        "sync": lambda: sync_sgd(model, ds.X_train, ds.y_train, executor=ex, n_workers=k, lr=lr, n_steps=steps,
                                 batch_size=32 * k, callback=callback("sync", before=1), random_state=0),
        "async": lambda: async_sgd(model, ds.X_train, ds.y_train, executor=ex, n_workers=k, staleness_bound=bound,
                                   lr=lr / k, n_updates=steps * k, batch_size=32, callback=callback("async", k), random_state=0),
        "local_sgd": lambda: local_sgd(model, ds.X_train, ds.y_train, executor=ex, n_workers=k, H=H,
                                       n_rounds=max(1, steps // H), lr=lr, batch_size=32,
                                       callback=callback("local_sgd", per_unit=H), random_state=0),
    }
    histories: dict[str, Any] = {}
    total = steps * len(chosen)

    def show() -> None:
        if report is None:
            return
        with lock:
            snapshot = {key: TrainingHistory(key, "measured", steps=list(h.steps), loss=list(h.loss))
                        for key, h in live.items()}
            count = dict(completed)
        done = sum(min(n, steps) for n in count.values())
        names = _labels(params)
        report.progress(int(done), total, "; ".join(
            _("{names}: step {count:g} of {steps}, loss {value:.3f}").format(names=names[key], count=count[key], steps=steps, value=h.loss[-1])
            for key, h in snapshot.items() if h.steps) or "starting...")
        report.figure(_race_figure(histories, params, snapshot, step_seconds))

    with ThreadPoolExecutor(max_workers=len(chosen), thread_name_prefix="plsim-race") as pool:
        pending = {pool.submit(runs[key]): key for key in chosen}
        error: BaseException | None = None
        while pending:
            try:
                finished, _pending = wait(pending, timeout=redraw_every, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:  # the runs live in threads: ask them to stop, keep what they finished
                if interrupted.is_set():
                    raise  # pressed twice: do not wait for the current steps
                interrupted.set()
                continue
            for future in finished:
                key = pending.pop(future)
                try:
                    histories[key] = future.result()
                except BaseException as exc:  # noqa: BLE001 - re-raised once the other runs stopped
                    error = error or exc
                    failed.set()
            show()
        if error is not None:
            raise error
    ordered = {key: histories[key] for key in METHODS if key in histories}
    if interrupted.is_set():
        import warnings

        for h in ordered.values():
            if h.stopped_reason == "stopped":
                h.stopped_reason = "interrupted"
        warnings.warn("the race was interrupted: every run stopped after its current step and the histories hold "
                      "the steps that finished (history.partial)", PartialResultWarning, stacklevel=2)
    if report is not None:
        report.figure(_race_figure(ordered, params, step_seconds=step_seconds))
        report.html(_race_table(ordered, params, step_seconds, k, ex, final_losses(ordered, model, ds)))
    return ordered


def final_losses(histories: dict[str, Any], model: Any, ds: Any) -> dict[str, float]:
    """Each run's full training loss at its final parameters: the same measure for every method.

    Sync's recorded losses are those of its mini-batches (noisy), the others' the full loss,
    so their last recorded numbers do not compare.
    """
    import numpy as np

    return {key: (float(model.loss(h.params, ds.X_train, ds.y_train))
                  if h.params is not None and np.all(np.isfinite(h.params)) else float("nan"))
            for key, h in histories.items()}


def race_outcome(histories: dict[str, Any], params: dict, losses: dict[str, float] | None = None
                 ) -> tuple[str, bool]:
    """``(text, complete)`` for the panel's status: what each run did, or after Stop what each kept."""
    names = _labels(params)
    steps = int(params["steps"])
    parts, cut = [], False
    for key, h in histories.items():
        reached = _steps_done(h)
        loss = "" if losses is None else _(", final training loss {losses:.4f}").format(losses=losses[key])
        if h.stopped_reason in ("stopped", "interrupted"):
            cut = True
            k = int(h.info.get("n_workers", 1))
            kept = (_("its first {value:g} of {value2} updates").format(value=h.steps[-1] if h.steps else 0, value2=steps * k) if key == "async"
                    else _("its first {reached:g} of {steps} steps").format(reached=reached, steps=steps))
            parts.append(_("{names}: kept {kept}{loss}").format(names=names[key], kept=kept, loss=loss))
        elif h.diverged_step is not None:
            parts.append(_("{names}: diverged at step {diverged_step} (lower the learning rate)").format(names=names[key], diverged_step=h.diverged_step))
        else:
            parts.append(_("{names}: {reached:g} steps{loss}").format(names=names[key], reached=reached, loss=loss))
    how = _("the other steps did not run") if cut else _("losses measured")
    return "; ".join(parts) + f" ({how}).", not cut


def _race_table(histories: dict[str, Any], params: dict, step_seconds: float, k: int, ex: Any,
                losses: dict[str, float] | None = None) -> str:
    import numpy as np

    from plsim.plots.training import simulated_history

    names = _labels(params)
    link = params.get("link", "datacenter")
    losses = losses or {key: h.loss[-1] for key, h in histories.items()}
    rows = [(f"{names[key]}{_partial_note(h)}", f"{_steps_done(h):g}",
             f"{losses[key]:.4f}", f"{h.total_bytes / 1e6:.3f}",
             f"{simulated_history(h, step_seconds=step_seconds, link=link).time[-1]:.3g}",
             f"{(np.mean(h.staleness) if h.staleness else 0):.2f}") for key, h in histories.items()]
    table = html_table(rows, ("method", "steps per worker", "final training loss", "MB sent (counted)",
                              _("simulated s ({link})").format(link=link), "mean staleness (updates)"))
    bound = ("" if params["staleness"] == UNBOUNDED or "async" not in histories else
             _(" The staleness bound counts gradients a worker may be ahead of the slowest one "
                "(SSP clocks); the staleness column counts updates applied between a gradient's "
                "pull and its push, so even with bound 0 the later gradients of each round are "
                "up to {value} update(s) old.").format(value=k - 1))
    same = (_(" With a staleness bound of 0 the parameter server runs in lock-step: it is synchronous SGD, so it "
               "ends at sync DP's loss.") if params["staleness"] == 0 and k > 1 and {"sync", "async"} <= set(histories)
            and not any(histories[key].partial for key in ("sync", "async")) else "")
    return (_("<p><b>Ran</b>: {ran_text}</p>{table}<small>The runs trained at the same time on "
               "the Dask cluster; losses and bytes are measured, the time axis is simulated: "
               "{value:.2g} ms of compute per step (measured here) plus each exchange on the "
               "'{link}' link (alpha-beta model). Async updates are shown per worker (updates / "
               "{k}). The final training loss is every method's loss on the whole training set "
               "at its final parameters (the curves of sync show its mini-batch loss before "
               "each step, which is noisy).{bound}{same}{sharing_note}</small>").format(ran_text=ran_text(params, k), table=table, value=step_seconds * 1e3, link=link, k=k, bound=bound, same=same, sharing_note=_sharing_note(k, ex)))


def ran_text(params: dict, k: int | None = None) -> str:
    """What a race Run trains, in one sentence."""
    k = int(params["workers"]) if k is None else k
    names = _labels(params)
    chosen = [names[key] for key in METHODS if params.get(key, True)]
    return (_("softmax regression on digits, {join}; {k} worker(s), {steps} steps per worker, "
               "learning rate {lr:.3g} (async: {value:.3g} per update), mini-batches of 32 rows "
               "per worker.").format(join=', '.join(chosen), k=k, steps=params['steps'], lr=params['lr'], value=params['lr'] / k))


def _partial_note(h: Any) -> str:
    """`` (stopped at step s)``-style mark of a run that ended early, for the race table."""
    if h.diverged_step is not None:
        return _(" <b>(diverged at step {diverged_step}: lower the learning rate)</b>").format(diverged_step=h.diverged_step)
    if h.stopped_reason:
        if h.method.split("(")[0] in ("async", "ssp"):
            return _(" ({stopped_reason} at step {steps_done:g} per worker, update {value:g}: "
                      "partial)").format(stopped_reason=h.stopped_reason, steps_done=_steps_done(h), value=h.steps[-1])
        return _(" ({stopped_reason} at step {steps_done:g}: partial)").format(stopped_reason=h.stopped_reason, steps_done=_steps_done(h))
    return ""


def _sharing_note(replicas: int, ex: Any) -> str:
    """Say so when the replicas outnumber the CPUs: the curves stay exact, the wall clock is no speedup."""
    cpus = _cpus(ex)
    if replicas <= cpus:
        return ""
    return (_(" The {replicas} replicas share {cpus} usable CPU(s) and take turns: loss per "
               "step is exact, but how long the race took says nothing about parallel speed.").format(replicas=replicas, cpus=cpus))


def training_race(executor: Any = "auto") -> Any:
    """Sync vs async vs local SGD, trained at the same time on the real cluster -> loss per step, byte, second.

    The workers slider goes up to the cluster's workers; controls that do not apply to the
    ticked methods are disabled, their tooltip says why.

    Parameters
    ----------
    executor : "auto", None, dask.distributed.Client or plsim.executor.Executor
        Where the race runs (:func:`plsim.executor.resolve_executor`). Default
        ``"auto"``: the running plsim cluster, started if there is none.

    Returns
    -------
    ipywidgets.Widget
        The panel's widget (``.panel`` is the :class:`RunPanel`).
    """
    import ipywidgets as w

    from plsim.comm import LINK_PRESETS
    from plsim.widgets.speedup import workers_hint

    ex = widget_executor(executor)
    have = ex.n_workers
    controls = {
        "sync": w.Checkbox(value=True, description=_("sync data-parallel"), indent=False),
        "async": w.Checkbox(value=True, description=_("async parameter server"), indent=False),
        "local_sgd": w.Checkbox(value=True, description=_("local SGD"), indent=False),
        "workers": w.IntSlider(value=min(2, have), min=1, max=have, description=_("workers"), disabled=have == 1,
                               tooltip=workers_hint(have, _cpus(ex))),
        "staleness": w.Dropdown(options=STALENESS_CHOICES, value=UNBOUNDED, description=_("staleness bound")),
        "H": w.IntSlider(value=4, min=1, max=64, description=_("local steps H")),
        "steps": w.IntSlider(value=40, min=4, max=200, step=4, description=_("steps")),
        "lr": w.FloatLogSlider(value=0.3, base=10, min=-2, max=0.5, description=_("learning rate")),
        "link": w.Dropdown(options=list(LINK_PRESETS), value="datacenter", description=_("simulated link")),
    }
    controls["link"].tooltip = _("The network of the simulated time axis (alpha-beta model; plsim.comm.LINK_PRESETS).")
    tips = {"staleness": _("Gradients older than this many updates wait (async parameter server only)."),
            "H": _("Local steps between two averages (local SGD only).")}

    for name, tip in tips.items():
        controls[name].tooltip = tip

    def work(params: dict, report: Report) -> dict[str, Any]:
        from plsim.data import load_dataset
        from plsim.models import SoftmaxRegression

        histories = race_work(params, report, executor=ex)
        ds = load_dataset("digits")
        model = SoftmaxRegression(ds.X_train.shape[1], ds.n_classes)
        text, complete = race_outcome(histories, params, final_losses(histories, model, ds))
        report.finish(text, complete=complete)
        return histories

    panel = RunPanel(_("Sync vs async vs local SGD"), controls, work, validate=validate_race,
                     description=(_("Softmax regression on digits, trained three ways at the "
                                     "same time on the Dask cluster. {workers_hint}").format(workers_hint=workers_hint(have, _cpus(ex)))))

    def update_states(_: Any = None) -> None:
        params = {name: control.value for name, control in controls.items()}
        panel.set_inapplicable({name: reason for name, reason in race_control_states(params).items() if reason})

    for name in ("sync", "async", "local_sgd", "workers"):
        controls[name].observe(update_states, names="value")
    update_states()
    return panel.widget


def pipeline_work(params: dict, report: Report | None = None) -> dict[str, Any]:
    """GPipe schedule on the virtual clock for the panel's stages / micro-batches; draw the timeline."""
    from plsim.plots.training import plot_pipeline_timeline
    from plsim.training.pipeline import bubble_fraction, gpipe_schedule

    p, m = int(params["stages"]), int(params["micro"])
    timeline = gpipe_schedule(p, m, forward_time=1.0, backward_time=float(params["backward_ratio"]))
    formula = bubble_fraction(p, m)
    if report is not None:
        report.progress(1, 1, _("bubble {bubble_fraction:.1%}").format(bubble_fraction=timeline.bubble_fraction))
        if isinstance(report, Report):  # a test's stand-in may only show progress, figure and text
            report.finish(_("GPipe with {p} stage(s) and {m} micro-batch(es), backward = "
                             "{float:g} x forward: bubble {bubble_fraction:.1%} of the stage "
                             "time (simulated).").format(p=p, m=m, float=float(params['backward_ratio']), bubble_fraction=timeline.bubble_fraction))
        report.figure(plot_pipeline_timeline(timeline).figure)
        report.html(_("<p>Simulated bubble fraction <b>{bubble_fraction:.3f}</b>; formula "
                       "(p-1)/(m+p-1) = {formula:.3f}. Doubling the micro-batches to {value} "
                       "would give {bubble_fraction2:.3f}.</p>").format(bubble_fraction=timeline.bubble_fraction, formula=formula, value=2 * m, bubble_fraction2=bubble_fraction(p, 2 * m)))
    return {"timeline": timeline, "bubble": timeline.bubble_fraction, "formula": formula}


def pipeline_explorer() -> Any:
    """Stages and micro-batches -> GPipe timeline and bubble fraction (virtual clock, cheap)."""
    import ipywidgets as w

    controls = {
        "stages": w.IntSlider(value=4, min=1, max=8, description=_("stages p")),
        "micro": w.IntSlider(value=4, min=1, max=32, description=_("micro-batches m")),
        "backward_ratio": w.FloatSlider(value=2.0, min=0.5, max=4.0, step=0.5,
                                        description=_("backward / forward time")),
    }
    panel = RunPanel(_("Pipeline bubble explorer"), controls, pipeline_work,
                     description=_("GPipe schedule on a virtual clock (simulated)."))
    return panel.widget

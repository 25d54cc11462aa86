"""Widgets of ``notebooks/04_distributed_training.ipynb``: a sync / async / local-SGD race and a pipeline-bubble explorer.

Both return a :class:`~plsim.widgets._panel.RunPanel` widget; the logic is in
plain functions (:func:`race_work`, :func:`pipeline_work`) that tests call directly.
"""

from __future__ import annotations

import time
from typing import Any

from plsim.widgets._panel import Report, RunPanel

__all__ = ["training_race", "pipeline_explorer", "race_work", "pipeline_work", "validate_race"]

# ipywidgets shows an empty box for a Dropdown whose value is None, so "no bound"
# is the option value UNBOUNDED and is turned into ``None`` when the run starts.
UNBOUNDED = -1
STALENESS_CHOICES = [("unbounded (async)", UNBOUNDED)] + [(str(s), s) for s in range(0, 9)]


def _resolve_client(client: Any) -> Any:
    if client is not None:
        return client
    from plsim.cluster import current_client, start_cluster

    return current_client() or start_cluster(quiet=True)


def validate_race(params: dict) -> str | None:
    """A message when the race cannot run with these values (None when it can)."""
    if params["workers"] < 1:
        return f"workers={params['workers']} must be at least 1"
    if params["H"] < 1:
        return f"H={params['H']} must be at least 1"
    if params["steps"] < params["H"]:
        return f"steps={params['steps']} must be at least H={params['H']} (one averaging round)"
    if params["lr"] <= 0:
        return f"learning rate {params['lr']} must be positive"
    return None


def _race_figure(histories: dict[str, Any], params: dict) -> Any:
    from matplotlib.figure import Figure

    from plsim.plots.training import plot_loss_curves

    fig = Figure(figsize=(11, 3.4), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    titles = {"sync": f"sync DP, {params['workers']} workers",
              "async": ("async PS, unbounded staleness" if params["staleness"] == UNBOUNDED
                        else f"async PS, staleness <= {params['staleness']}"),
              "local_sgd": f"local SGD, H={params['H']}"}
    for ax, key in zip(axes, ("sync", "async", "local_sgd")):
        h = histories.get(key)
        if h is not None and h.steps:
            plot_loss_curves(h, ax=ax, title=titles[key])
            ax.set_xlabel("updates / local steps" if key == "local_sgd" else "updates applied")
        else:
            ax.set_title(titles[key] + " (waiting)")
    return fig


def race_work(params: dict, report: Report | None = None, *, client: Any = None, redraw_every: float = 0.5
              ) -> dict[str, Any]:
    """Run sync, async and local SGD on digits on the cluster with the panel's settings; redraw as steps finish."""
    import numpy as np

    from plsim.data import load_dataset
    from plsim.models import SoftmaxRegression
    from plsim.training.async_ps import async_sgd
    from plsim.training.local_sgd import local_sgd
    from plsim.training.sync import sync_sgd

    problem = validate_race(params)
    if problem:
        raise ValueError(problem)
    client = _resolve_client(client)
    ds = load_dataset("digits")
    model = SoftmaxRegression(ds.X_train.shape[1], ds.n_classes)
    k, steps, lr, H = int(params["workers"]), int(params["steps"]), float(params["lr"]), int(params["H"])
    histories: dict[str, Any] = {}
    total = 3 * steps
    state = {"done": 0, "last": 0.0}

    def make_callback(offset: int, key: str, live: dict) -> Any:
        def callback(step: int, loss: float) -> bool:
            if report is not None:
                report.progress(offset + step, total, f"{key}: step {step}, loss {loss:.3f}")
                now = time.perf_counter()
                if now - state["last"] > redraw_every and key in live:
                    state["last"] = now
                    report.figure(_race_figure({**histories, key: live[key]}, params))
                return report.stopped
            return False
        return callback

    # live curves: wrap each run so the partially filled history can be drawn
    from plsim.training._common import TrainingHistory

    runs = [
        ("sync", lambda cb: sync_sgd(model, ds.X_train, ds.y_train, client=client, n_workers=k, lr=lr,
                                     n_steps=steps, batch_size=32 * k, callback=cb)),
        ("async", lambda cb: async_sgd(model, ds.X_train, ds.y_train, client=client, n_workers=k,
                                       staleness_bound=None if params["staleness"] == UNBOUNDED else params["staleness"],
                                       lr=lr / k, n_updates=steps * k,
                                       batch_size=32, callback=lambda s, l: cb(max(1, s // k), l))),
        ("local_sgd", lambda cb: local_sgd(model, ds.X_train, ds.y_train, client=client, n_workers=k, H=H,
                                           n_rounds=max(1, steps // H), lr=lr, batch_size=32, callback=cb)),
    ]
    for index, (key, run) in enumerate(runs):
        if report is not None and report.stopped:
            break
        live = {key: TrainingHistory(key, "measured")}

        def cb(step: int, loss: float, _key: str = key, _live: dict = live, _off: int = index * steps) -> bool:
            _live[_key].steps.append(step)
            _live[_key].loss.append(loss)
            _live[_key].time.append(0.0)
            return make_callback(_off, _key, _live)(step, loss)

        histories[key] = run(cb)
    if report is not None:
        report.figure(_race_figure(histories, params))
        rows = "".join(
            f"<tr><td>{key}</td><td>{h.loss[-1]:.3f}</td><td>{h.total_bytes / 1e6:.2f}</td>"
            f"<td>{(np.mean(h.staleness) if h.staleness else 0):.2f}</td></tr>" for key, h in histories.items())
        report.html("<table><tr><th>method</th><th>final loss</th><th>MB sent (counted)</th>"
                    f"<th>mean staleness</th></tr>{rows}</table>"
                    "<small>All curves measured on the Dask cluster; async updates shown per worker-round."
                    f"{_sharing_note(k, client)}</small>")
    return histories


def _sharing_note(replicas: int, client: Any) -> str:
    """Say so when the replicas outnumber the CPUs: the curves stay exact, the wall clock is no speedup."""
    from plsim.speedup import cluster_cpus

    cpus = cluster_cpus(client)
    if replicas <= cpus:
        return ""
    return (f" The {replicas} replicas share {cpus} usable CPU(s) and take turns: loss per step is exact, "
            "but how long the race took says nothing about parallel speed.")


def training_race(client: Any = None) -> Any:
    """Sync vs async vs local SGD on the real cluster: workers, staleness bound, H -> live loss curves.

    Parameters
    ----------
    client : dask.distributed.Client, optional
        Default: the running plsim cluster (``plsim.cluster.current_client()``), started if needed.

    Returns
    -------
    ipywidgets.Widget
        The panel's widget (``.panel`` is the :class:`RunPanel`).
    """
    import ipywidgets as w

    controls = {
        "workers": w.IntSlider(value=2, min=1, max=8, description="workers"),
        "staleness": w.Dropdown(options=STALENESS_CHOICES, value=UNBOUNDED, description="staleness bound"),
        "H": w.IntSlider(value=4, min=1, max=32, description="local steps H"),
        "steps": w.IntSlider(value=40, min=4, max=200, step=4, description="steps"),
        "lr": w.FloatLogSlider(value=0.3, base=10, min=-2, max=0.5, description="learning rate"),
    }
    panel = RunPanel("Sync vs async vs local SGD", controls,
                     lambda params, report: race_work(params, report, client=client), validate=validate_race,
                     description="Softmax regression on digits, trained three ways on the Dask cluster.")
    return panel.widget


def pipeline_work(params: dict, report: Report | None = None) -> dict[str, Any]:
    """GPipe schedule on the virtual clock for the panel's stages / micro-batches; draw the timeline."""
    from plsim.plots.training import plot_pipeline_timeline
    from plsim.training.pipeline import bubble_fraction, gpipe_schedule

    p, m = int(params["stages"]), int(params["micro"])
    timeline = gpipe_schedule(p, m, forward_time=1.0, backward_time=float(params["backward_ratio"]))
    formula = bubble_fraction(p, m)
    if report is not None:
        report.progress(1, 1, f"bubble {timeline.bubble_fraction:.1%}")
        report.figure(plot_pipeline_timeline(timeline).figure)
        report.html(f"<p>Simulated bubble fraction <b>{timeline.bubble_fraction:.3f}</b>; "
                    f"formula (p-1)/(m+p-1) = {formula:.3f}. Doubling the micro-batches to {2 * m} "
                    f"would give {bubble_fraction(p, 2 * m):.3f}.</p>")
    return {"timeline": timeline, "bubble": timeline.bubble_fraction, "formula": formula}


def pipeline_explorer() -> Any:
    """Stages and micro-batches -> GPipe timeline and bubble fraction (virtual clock, cheap)."""
    import ipywidgets as w

    controls = {
        "stages": w.IntSlider(value=4, min=1, max=8, description="stages p"),
        "micro": w.IntSlider(value=4, min=1, max=32, description="micro-batches m"),
        "backward_ratio": w.FloatSlider(value=2.0, min=0.5, max=4.0, step=0.5,
                                        description="backward / forward time"),
    }
    panel = RunPanel("Pipeline bubble explorer", controls, pipeline_work,
                     description="GPipe schedule on a virtual clock (simulated).")
    return panel.widget

"""Figures of distributed training: loss curves (sync / async / SSP / local SGD), staleness,
the pipeline timeline, strong versus weak scaling.

Measured wall-clock curves are solid; virtual-clock (simulated) and cost-model
(predicted) curves are dashed, and the legends say which. Taught in
``notebooks/04_distributed_training.ipynb`` (loss curves, staleness) and
``notebooks/05_collectives_compression_pipelines.ipynb`` (pipeline, scaling).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from plsim.i18n import N_, _
from plsim.plots.style import (COLORS, MEASURED, PREDICTED, integer_ticks, measured_style, model_style, new_axes,
                               plain_log_ticks, variant_styles)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from plsim.training._common import TrainingHistory
    from plsim.training.pipeline import Timeline
    from plsim.training.scaling import SizeSpeedup

__all__ = ["plot_loss_curves", "plot_loss_costs", "simulated_history", "plot_staleness", "plot_pipeline_timeline",
           "plot_scaling", "plot_size_speedup"]

_EXTRA = ["#000000", "#E69F00", "#F0E442"]


def _color(method: str, i: int) -> str:
    """The course colour of a training method (sync blue, async vermillion, SSP purple, local SGD sky blue)."""
    key = "local_sgd" if method.startswith("local") else method.split("(")[0]
    if key in ("sync", "large_batch"):
        return COLORS["sync"]
    if key in ("async", "ssp", "local_sgd"):
        return COLORS[key]
    return _EXTRA[i % len(_EXTRA)]


def _updates_applied(h: TrainingHistory) -> np.ndarray:
    """How many updates (averaging rounds for local SGD) the model had seen when each loss was taken.

    Local SGD records one entry per round (``steps`` = local steps, ``H`` per round); synchronous
    SGD records the mini-batch loss *before* step ``s`` (``info["loss_kind"]``), so ``s - 1``.
    """
    applied = np.asarray(h.steps, dtype=float)
    if h.method == "local_sgd":
        applied = applied / int(h.info.get("H", 1))
    elif "before the step" in str(h.info.get("loss_kind", "")):
        applied = applied - 1
    return applied


def _bytes_so_far(h: TrainingHistory) -> np.ndarray:
    """Bytes sent before each recorded loss: the exchanges of the updates applied so far.

    ``bytes_sent`` holds one entry per update (sync step, async update) or, for local SGD,
    one per averaging round after a leading 0.
    """
    per_update = np.asarray(h.bytes_sent[1:] if h.method == "local_sgd" else h.bytes_sent, dtype=float)
    so_far = np.concatenate([[0.0], np.cumsum(per_update)])
    index = np.rint(_updates_applied(h)).astype(int)
    if len(index) and (index.min() < 0 or index.max() >= len(so_far)):
        raise ValueError(f"{h.method}: steps and bytes_sent do not match ({len(h.steps)} losses, "
                         f"{len(h.bytes_sent)} byte counts)")
    return so_far[index]


def _check_histories(histories: Any) -> list[TrainingHistory]:
    from plsim.training._common import TrainingHistory

    if isinstance(histories, TrainingHistory):
        histories = [histories]
    histories = list(histories)
    if not histories or not all(isinstance(h, TrainingHistory) for h in histories):
        raise TypeError("histories must be TrainingHistory objects (from plsim.training)")
    return histories


def plot_loss_curves(histories: Sequence[TrainingHistory] | TrainingHistory, *, x: str = "steps",
                     labels: Sequence[str] | None = None, ax: Any = None, title: str | None = None,
                     xlabel: str | None = None) -> Figure:
    """Training loss versus updates (``x="steps"``), time (``x="time"``, measured or simulated) or bytes sent
    so far (``x="bytes"``, counted from the payloads; log scale)."""
    if x not in ("steps", "time", "bytes"):
        raise ValueError(f"x={x!r} must be 'steps', 'time' or 'bytes'")
    histories = _check_histories(histories)
    if labels is not None and len(labels) != len(histories):
        raise ValueError(f"labels has {len(labels)} entries for {len(histories)} histories")
    fig, ax = new_axes(ax)
    kinds = set()
    styles = variant_styles([_color(h.method, i) for i, h in enumerate(histories)],
                            [MEASURED if h.time_kind == MEASURED else h.time_kind for h in histories])
    for i, (h, style) in enumerate(zip(histories, styles)):
        xs = {"steps": h.steps, "time": h.time, "bytes": _bytes_so_far(h) if x == "bytes" else None}[x]
        name = labels[i] if labels is not None else h.method
        # a few markers per curve (staggered so identical curves still show every run)
        every = max(1, len(xs) // 8)
        ax.plot(xs, h.loss, label=f"{name} ({_(h.time_kind)})", markevery=(i * every // max(len(histories), 1), every),
                **style)
        kinds.add(_(h.time_kind))
    if x == "bytes":
        from matplotlib.ticker import EngFormatter

        ax.xaxis.set_major_formatter(EngFormatter(unit="B", sep=" "))
    default = {"steps": _("updates applied"), "time": _("time (s, {join})").format(join=' / '.join(sorted(kinds))),
               "bytes": _("bytes sent so far (counted)")}[x]
    ax.set_xlabel(xlabel or default)
    ax.set_ylabel(_("training loss (cross-entropy)"))
    ax.set_yscale("log")
    plain_log_ticks(ax, "y")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    if title is None:
        names = labels if labels is not None else [h.method for h in histories]
        finals = {name: h.loss[-1] for name, h in zip(names, histories)}
        best = min(finals, key=finals.get)
        title = _("Lowest final loss: {best}").format(best=best)
    ax.set_title(title)
    return fig


def simulated_history(history: TrainingHistory, *, step_seconds: float, link: Any = None) -> TrainingHistory:
    """A copy of ``history`` whose ``time`` is a virtual clock: compute per step plus the exchanges it made.

    The alpha-beta model (:func:`plsim.comm.comm_time`) of the exchange pattern whose bytes the run
    counted, with ``n`` = the parameter vector's bytes and ``p`` = the run's replicas:

    * ``local_sgd``: every local step costs ``step_seconds``; every ``H`` steps the replicas push
      their parameters to one averaging node and get the average back (parameter server, ``p``).
    * ``sync``: every step costs ``step_seconds`` plus an all-to-all exchange of the gradients.
    * ``async`` / ``ssp``: the ``p`` workers run side by side; each update is one worker's step
      plus a push and a pull on its own link, ``2 (alpha + n beta)`` (server contention ignored).

    Each loss is placed at the time of the updates applied before it was taken.

    ``time_kind`` becomes ``"simulated"``; the loss, steps and bytes are those of the run.
    Taught in ``notebooks/04_distributed_training.ipynb`` (section 3 and the race).
    """
    import dataclasses
    import numbers

    from plsim.comm import LinkModel, comm_time, link_preset

    (history,) = _check_histories(history)
    if isinstance(link, str):
        link = link_preset(link)
    link = link or LinkModel()
    if not isinstance(link, LinkModel):
        raise TypeError(f"link must be a plsim.comm.LinkModel or a preset name, got {type(link).__name__}")
    if isinstance(step_seconds, bool) or not isinstance(step_seconds, numbers.Real) or not step_seconds >= 0:
        raise ValueError(f"step_seconds={step_seconds!r} must be a non-negative number of seconds")
    if history.params is None:
        raise ValueError("the history has no final parameters (params), so the exchanged vector size is unknown")
    n = history.params.size * history.params.itemsize
    p = int(history.info.get("n_workers", 1))
    applied = _updates_applied(history)
    method = history.method.split("(")[0]  # "ssp(s=3)" -> "ssp"
    if method == "local_sgd":
        H = int(history.info["H"])
        times = applied * (H * step_seconds + comm_time("parameter_server", p, n, link))
    elif method == "sync":
        times = applied * (step_seconds + comm_time("naive", p, n, link))
    elif method in ("async", "ssp"):
        times = np.ceil(applied / p) * (step_seconds + 2 * (link.alpha + n * link.beta))
    else:
        raise ValueError(f"no exchange model for method {method!r}; use local_sgd, sync, async or ssp runs")
    return dataclasses.replace(history, time=[float(t) for t in times], time_kind="simulated",
                               info={**history.info, "link": link.describe(), "step_seconds": float(step_seconds)})


def plot_loss_costs(histories: Sequence[TrainingHistory] | TrainingHistory, *, step_seconds: float,
                    link: Any = "datacenter", labels: Sequence[str] | None = None, target: float | None = None,
                    steps_label: str = N_("local steps per replica"), axes: Sequence[Any] | None = None,
                    titles: Sequence[str] | None = None) -> Figure:
    """Three views of the same runs: loss versus steps, versus bytes sent (counted), versus simulated time.

    The time axis is a virtual clock (:func:`simulated_history`: ``step_seconds`` of compute per
    step plus the alpha-beta cost of each exchange on ``link``, a :class:`plsim.comm.LinkModel` or
    a :data:`plsim.comm.LINK_PRESETS` name). ``target`` draws a dotted loss level on all three.
    ``axes``: three matplotlib axes to draw on (default: a new 1 x 3 figure).
    """
    from matplotlib.figure import Figure as _Figure

    from plsim.comm import link_preset

    histories = _check_histories(histories)
    name = link if isinstance(link, str) else _("given")
    link_model = link_preset(link) if isinstance(link, str) else link
    if axes is None:
        fig = _Figure(figsize=(13, 4.0), layout="constrained")
        axes = fig.subplots(1, 3, sharey=True)
    if len(axes) != 3:
        raise ValueError(f"axes must be three matplotlib axes, got {len(axes)}")
    titles = list(titles) if titles is not None else [_("Per step"), _("Per byte sent"), _("Per simulated second")]
    simulated = [simulated_history(h, step_seconds=step_seconds, link=link_model) for h in histories]
    plot_loss_curves(histories, x="steps", labels=labels, ax=axes[0], title=titles[0], xlabel=_(steps_label))
    plot_loss_curves(histories, x="bytes", labels=labels, ax=axes[1], title=titles[1])
    plot_loss_curves(simulated, x="time", labels=labels, ax=axes[2], title=titles[2],
                     xlabel=_("time (s, simulated: {value:.2g} ms/step + {name} link)").format(value=step_seconds * 1e3, name=name))
    if target is not None:
        for ax in axes:
            ax.axhline(target, color=COLORS["ideal"], linestyle=":", linewidth=1)
        axes[0].text(0.98, target, _("target {target:g}").format(target=target), transform=axes[0].get_yaxis_transform(), ha="right",
                     va="bottom", fontsize=8, color=COLORS["ideal"])
    for ax in axes[1:]:
        ax.set_ylabel("")
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    return axes[0].figure


def plot_staleness(histories: Sequence[TrainingHistory] | TrainingHistory, *, ax: Any = None,
                   title: str | None = None) -> Figure:
    """Histogram of the staleness of every applied gradient, one bar group per run.

    Measured runs are filled bars, simulated ones dashed outlines; the legend gives each run's mean.
    ``title`` defaults to the runs with the largest and smallest mean staleness.
    """
    histories = [h for h in _check_histories(histories) if h.staleness]
    if not histories:
        raise ValueError("none of the histories recorded staleness (use async runs)")
    fig, ax = new_axes(ax)
    top = max(max(h.staleness) for h in histories)
    values = np.arange(top + 1)
    width = 0.8 / len(histories)
    colors = [_color(h.method, i) for i, h in enumerate(histories)]
    styles = variant_styles(colors, [h.time_kind for h in histories])
    names = [f"{h.method} ({_(h.time_kind)})" for h in histories]
    for i, (h, style, name) in enumerate(zip(histories, styles, names)):
        counts = np.bincount(np.asarray(h.staleness, dtype=int), minlength=top + 1)
        seen = counts > 0  # no zero-height bars (they would draw as stray lines on the axis)
        measured = h.time_kind == MEASURED
        # measured: filled bars; simulated: outlined with a dashed edge
        ax.bar(values[seen] - 0.4 + (i + 0.5) * width, counts[seen], width=width,
               color=style["color"] if measured else "none", edgecolor=style["color"],
               linestyle="-" if measured else "--", linewidth=1.5,
               label=_("{name}, mean {mean:.1f}").format(name=name, mean=np.mean(h.staleness)))
    ax.set_xlabel(_("staleness (updates applied between pull and push)"))
    ax.set_ylabel(_("applied gradients (count)"))
    integer_ticks(ax)
    ax.legend(fontsize="small")
    means = {name: float(np.mean(h.staleness)) for name, h in zip(names, histories)}
    if title is not None:
        ax.set_title(title)
    elif len(means) > 1:
        lo, hi = min(means, key=means.get), max(means, key=means.get)
        ax.set_title(_("Gradients are {means:.1f} updates stale on average with "
                        "{hi},\n{means2:.1f} with {lo}").format(means=means[hi], hi=hi, means2=means[lo], lo=lo), fontsize=10)
    else:
        (only, mean), = means.items()
        ax.set_title(_("{only}: gradients are {mean:.1f} updates stale on average (max {top})").format(only=only, mean=mean, top=top), fontsize=10)
    return fig


def plot_pipeline_timeline(timeline: Timeline, *, ax: Any = None) -> Figure:
    """Gantt chart of each stage's forward / backward work; gaps are the bubble."""
    from plsim.training.pipeline import Timeline, bubble_fraction

    if not isinstance(timeline, Timeline):
        raise TypeError(f"timeline must be a plsim.training.pipeline.Timeline, got {type(timeline).__name__}")
    fig, ax = new_axes(ax, figsize=(7.5, 0.6 * timeline.n_stages + 1.8))
    origin = min(e[3] for e in timeline.events)
    ax.barh(range(timeline.n_stages), timeline.makespan, left=0, color=COLORS["idle"], height=0.8,
            label=_("idle (bubble)"))
    for kind, color, label in (("F", COLORS["compute"], "forward"), ("B", COLORS["async"], "backward")):
        ev = [e for e in timeline.events if e[1] == kind]
        widths = [e[4] - e[3] for e in ev]
        # white separators between wide bars; a bar too thin to see keeps its own colour as outline
        edges = ["white" if w > timeline.makespan / 100 else color for w in widths]
        ax.barh([e[0] for e in ev], widths, left=[e[3] - origin for e in ev], color=color,
                edgecolor=edges, linewidth=0.8, height=0.8, label=label)
    if timeline.n_micro <= 16:
        for s, kind, j, start, end in timeline.events:
            if end - start > timeline.makespan / 60:  # only where the bar is wide enough to hold the number
                ax.text((start + end) / 2 - origin, s, str(j), ha="center", va="center", fontsize=7, color="white")
    ax.set_yticks(range(timeline.n_stages), [_("stage {s}").format(s=s) for s in range(timeline.n_stages)])
    ax.invert_yaxis()
    ax.set_xlabel(_("time (simulated units)") if timeline.kind != MEASURED else _("time (s, measured)"))
    formula = bubble_fraction(timeline.n_stages, timeline.n_micro)
    note = _("; task overhead dwarfs the tiny stages") if timeline.bubble_fraction > formula + 0.2 else ""
    ax.set_title(_("{kind}: stages idle {bubble_fraction:.0%} of the time, formula "
                    "(p-1)/(m+p-1) = {formula:.0%} (p={n_stages}, m={n_micro}){note}").format(kind=_(timeline.kind), bubble_fraction=timeline.bubble_fraction, formula=formula, n_stages=timeline.n_stages, n_micro=timeline.n_micro, note=note),
                 fontsize=10)
    # legend outside the chart, right of it, so it never hides a bar
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return fig


def plot_scaling(measured: Sequence[dict], predicted: Sequence[dict], *, ax: Any = None) -> Figure:
    """Speedup versus workers: measured rows solid, cost-model rows dashed, ideal dotted; log-log."""
    fig, ax = new_axes(ax)
    allrows = list(measured) + list(predicted)
    if not allrows:
        raise ValueError("give at least one measured or predicted row")
    workers = sorted({r["workers"] for r in allrows})
    ax.plot(workers, workers, color=COLORS["ideal"], linestyle=":", label=_("ideal (linear)"))
    for mode, marker_color in (("strong", COLORS["strong_scaling"]), ("weak", COLORS["weak_scaling"])):
        pr = [r for r in predicted if r["mode"] == mode]
        if pr:
            ax.plot([r["workers"] for r in pr], [r["speedup"] for r in pr], **model_style(marker_color),
                    label=_("{mode} scaling ({PREDICTED})").format(mode=mode, PREDICTED=_(PREDICTED)))
        me = [r for r in measured if r["mode"] == mode]
        if me:
            ax.plot([r["workers"] for r in me], [r["speedup"] for r in me], **measured_style(marker_color),
                    label=_("{mode} scaling ({MEASURED})").format(mode=mode, MEASURED=_(MEASURED)))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    plain_log_ticks(ax, base=2)
    ax.set_xlabel(_("workers (log scale)"))
    ax.set_ylabel(_("speedup T1 / Tp (x; weak: scaled)"))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    strong = [r for r in predicted if r["mode"] == "strong"]
    weak = [r for r in predicted if r["mode"] == "weak"]
    if strong:
        top = max(strong, key=lambda r: r["speedup"])
        title = _("Strong scaling peaks at {speedup:.0f}x on {workers} workers ({PREDICTED})").format(speedup=top['speedup'], workers=top['workers'], PREDICTED=_(PREDICTED))
        if weak:
            last = max(weak, key=lambda r: r["workers"])
            title += _(",\nweak scaling reaches {speedup:.0f}x on {workers}").format(speedup=last['speedup'], workers=last['workers'])
        ax.set_title(title, fontsize=10)
    else:
        ax.set_title(_("Speedup versus workers"))
    return fig


def plot_size_speedup(sweep: SizeSpeedup, *, ax: Any = None) -> Figure:
    """Speedup of one synchronous data-parallel step against model size: measured points, alpha-beta curve.

    Measured speedups (``sweep.speedup``) are solid markers, labelled with what they ran on
    (replicas taking turns on fewer CPUs than replicas are not speedups); the dashed curve
    is the alpha-beta model with every replica on its own CPU (predicted). Dotted lines:
    break-even (1x) and ideal (one per replica); the predicted crossover is marked.
    """
    from plsim.training.scaling import SizeSpeedup

    if not isinstance(sweep, SizeSpeedup):
        raise TypeError(f"sweep must be a plsim.training.scaling.SizeSpeedup, got {type(sweep).__name__}")
    fig, ax = new_axes(ax)
    params = np.asarray(sweep.params, dtype=float)
    grid = np.geomspace(params.min() / 2, params.max() * 2, 200)
    curve = [sweep.predicted_speedup(n) for n in grid]
    ax.axhline(sweep.replicas, color=COLORS["ideal"], linestyle=":", label=_("ideal "
                                                                              "({replicas}x)").format(replicas=sweep.replicas))
    ax.axhline(1.0, color=COLORS["sequential"], linestyle=":", linewidth=1, label=_("break-even (1x)"))
    ax.plot(grid, curve, **{**model_style(COLORS["predicted"]), "marker": None},
            label=_("α–β model, {replicas} replicas on {replicas} CPUs ({PREDICTED})").format(replicas=sweep.replicas, PREDICTED=_(PREDICTED)))
    ax.plot(params, sweep.speedup, **{**measured_style(COLORS["parallel"]), "linestyle": "none"},
            label=_("{replicas} replicas, one step ({kind})").format(replicas=sweep.replicas, kind=sweep.kind))
    crossover = sweep.crossover_params()
    if crossover is not None and grid[0] <= crossover <= grid[-1]:
        ax.axvline(crossover, color=COLORS["predicted"], linestyle=":", linewidth=1)
        # the label on the side of the line with more room (log scale)
        right = np.log(crossover / grid[0]) < np.log(grid[-1] / crossover)
        ax.annotate(_("pays above ~{crossover:,.0f} parameters\n({PREDICTED})").format(crossover=crossover, PREDICTED=_(PREDICTED)), (crossover, 1.0),
                    xytext=(6 if right else -6, 10), textcoords="offset points", fontsize=8,
                    color=COLORS["predicted"], ha="left" if right else "right")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_ticks(ax)
    ax.set_xlabel(_("model size (parameters, log scale)"))
    ax.set_ylabel(_("speedup of one step (one process / data-parallel)"))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="upper left")  # the curve rises left to right: that corner stays empty
    big = sweep.predicted_speedup(sweep.params[-1], one_process_s=sweep.one_process_s[-1])
    if sweep.parallel < sweep.replicas:
        title = (_("{parallel} CPU for {replicas} replicas: they take turns, so these are no "
                    "speedups ({MEASURED});\non {replicas} CPUs the model predicts {big:.2f}x "
                    "for the largest ({PREDICTED})").format(parallel=sweep.parallel, replicas=sweep.replicas, MEASURED=_(MEASURED), big=big, PREDICTED=_(PREDICTED)))
    elif sweep.speedup[-1] >= 1:
        title = (_("Data parallelism pays for the largest model: {value:.2f}x "
                    "({MEASURED}),\nnot for the smallest: {value2:.2g}x").format(value=sweep.speedup[-1], MEASURED=_(MEASURED), value2=sweep.speedup[0]))
    else:
        title = (_("No step paid on this run ({MEASURED}: {value:.2f}x for the largest "
                    "model,\n{big:.2f}x {PREDICTED}): were the CPUs busy?").format(MEASURED=_(MEASURED), value=sweep.speedup[-1], big=big, PREDICTED=_(PREDICTED)))
    ax.set_title(title, fontsize=10)
    return fig

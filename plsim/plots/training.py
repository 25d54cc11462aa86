"""Figures of distributed training: loss curves (sync / async / SSP / local SGD), staleness,
the pipeline timeline, strong versus weak scaling.

Measured wall-clock curves are solid; virtual-clock (simulated) and cost-model
(predicted) curves are dashed, and the legends say which. Taught in
``notebooks/04_distributed_training.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from plsim.plots.style import (COLORS, MEASURED, PREDICTED, integer_ticks, measured_style, model_style, new_axes,
                               plain_log_ticks, variant_styles)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from plsim.training._common import TrainingHistory
    from plsim.training.pipeline import Timeline

__all__ = ["plot_loss_curves", "plot_staleness", "plot_pipeline_timeline", "plot_scaling"]

_EXTRA = ["#000000", "#E69F00", "#F0E442"]


def _color(method: str, i: int) -> str:
    """The course colour of a training method (sync blue, async vermillion, SSP purple, local SGD sky blue)."""
    key = "local_sgd" if method.startswith("local") else method.split("(")[0]
    if key in ("sync", "large_batch"):
        return COLORS["sync"]
    if key in ("async", "ssp", "local_sgd"):
        return COLORS[key]
    return _EXTRA[i % len(_EXTRA)]


def _check_histories(histories: Any) -> list[TrainingHistory]:
    from plsim.training._common import TrainingHistory

    if isinstance(histories, TrainingHistory):
        histories = [histories]
    histories = list(histories)
    if not histories or not all(isinstance(h, TrainingHistory) for h in histories):
        raise TypeError("histories must be TrainingHistory objects (from plsim.training)")
    return histories


def plot_loss_curves(histories: Sequence[TrainingHistory] | TrainingHistory, *, x: str = "steps",
                     labels: Sequence[str] | None = None, ax: Any = None, title: str | None = None) -> Figure:
    """Training loss versus updates (``x="steps"``) or versus time (``x="time"``, measured or simulated)."""
    if x not in ("steps", "time"):
        raise ValueError(f"x={x!r} must be 'steps' or 'time'")
    histories = _check_histories(histories)
    if labels is not None and len(labels) != len(histories):
        raise ValueError(f"labels has {len(labels)} entries for {len(histories)} histories")
    fig, ax = new_axes(ax)
    kinds = set()
    styles = variant_styles([_color(h.method, i) for i, h in enumerate(histories)],
                            [MEASURED if h.time_kind == MEASURED else h.time_kind for h in histories])
    for i, (h, style) in enumerate(zip(histories, styles)):
        xs = h.steps if x == "steps" else h.time
        name = labels[i] if labels is not None else h.method
        # a few markers per curve (staggered so identical curves still show every run)
        every = max(1, len(xs) // 8)
        ax.plot(xs, h.loss, label=f"{name} ({h.time_kind})", markevery=(i * every // max(len(histories), 1), every),
                **style)
        kinds.add(h.time_kind)
    ax.set_xlabel("updates applied" if x == "steps" else f"time (s, {' / '.join(sorted(kinds))})")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_yscale("log")
    plain_log_ticks(ax, "y")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    if title is None:
        names = labels if labels is not None else [h.method for h in histories]
        finals = {name: h.loss[-1] for name, h in zip(names, histories)}
        best = min(finals, key=finals.get)
        title = f"Lowest final loss: {best}"
    ax.set_title(title)
    return fig


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
    names = [f"{h.method} ({h.time_kind})" for h in histories]
    for i, (h, style, name) in enumerate(zip(histories, styles, names)):
        counts = np.bincount(np.asarray(h.staleness, dtype=int), minlength=top + 1)
        seen = counts > 0  # no zero-height bars (they would draw as stray lines on the axis)
        measured = h.time_kind == MEASURED
        # measured: filled bars; simulated: outlined with a dashed edge
        ax.bar(values[seen] - 0.4 + (i + 0.5) * width, counts[seen], width=width,
               color=style["color"] if measured else "none", edgecolor=style["color"],
               linestyle="-" if measured else "--", linewidth=1.5,
               label=f"{name}, mean {np.mean(h.staleness):.1f}")
    ax.set_xlabel("staleness (updates applied between pull and push)")
    ax.set_ylabel("applied gradients (count)")
    integer_ticks(ax)
    ax.legend(fontsize="small")
    means = {name: float(np.mean(h.staleness)) for name, h in zip(names, histories)}
    if title is not None:
        ax.set_title(title)
    elif len(means) > 1:
        lo, hi = min(means, key=means.get), max(means, key=means.get)
        ax.set_title(f"Gradients are {means[hi]:.1f} updates stale on average with {hi},\n"
                     f"{means[lo]:.1f} with {lo}", fontsize=10)
    else:
        (only, mean), = means.items()
        ax.set_title(f"{only}: gradients are {mean:.1f} updates stale on average (max {top})", fontsize=10)
    return fig


def plot_pipeline_timeline(timeline: Timeline, *, ax: Any = None) -> Figure:
    """Gantt chart of each stage's forward / backward work; gaps are the bubble."""
    from plsim.training.pipeline import Timeline, bubble_fraction

    if not isinstance(timeline, Timeline):
        raise TypeError(f"timeline must be a plsim.training.pipeline.Timeline, got {type(timeline).__name__}")
    fig, ax = new_axes(ax, figsize=(7.5, 0.6 * timeline.n_stages + 1.8))
    origin = min(e[3] for e in timeline.events)
    ax.barh(range(timeline.n_stages), timeline.makespan, left=0, color=COLORS["idle"], height=0.8,
            label="idle (bubble)")
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
    ax.set_yticks(range(timeline.n_stages), [f"stage {s}" for s in range(timeline.n_stages)])
    ax.invert_yaxis()
    ax.set_xlabel(f"time ({'simulated units' if timeline.kind != MEASURED else 's, measured'})")
    formula = bubble_fraction(timeline.n_stages, timeline.n_micro)
    note = "; task overhead dwarfs the tiny stages" if timeline.bubble_fraction > formula + 0.2 else ""
    ax.set_title(f"{timeline.kind}: stages idle {timeline.bubble_fraction:.0%} of the time, formula "
                 f"(p-1)/(m+p-1) = {formula:.0%} (p={timeline.n_stages}, m={timeline.n_micro}){note}",
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
    ax.plot(workers, workers, color=COLORS["ideal"], linestyle=":", label="ideal (linear)")
    for mode, marker_color in (("strong", COLORS["strong_scaling"]), ("weak", COLORS["weak_scaling"])):
        pr = [r for r in predicted if r["mode"] == mode]
        if pr:
            ax.plot([r["workers"] for r in pr], [r["speedup"] for r in pr], **model_style(marker_color),
                    label=f"{mode} scaling ({PREDICTED})")
        me = [r for r in measured if r["mode"] == mode]
        if me:
            ax.plot([r["workers"] for r in me], [r["speedup"] for r in me], **measured_style(marker_color),
                    label=f"{mode} scaling ({MEASURED})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    plain_log_ticks(ax, base=2)
    ax.set_xlabel("workers (log scale)")
    ax.set_ylabel("speedup T1 / Tp (x; weak: scaled)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    strong = [r for r in predicted if r["mode"] == "strong"]
    weak = [r for r in predicted if r["mode"] == "weak"]
    if strong:
        top = max(strong, key=lambda r: r["speedup"])
        title = f"Strong scaling peaks at {top['speedup']:.0f}x on {top['workers']} workers ({PREDICTED})"
        if weak:
            last = max(weak, key=lambda r: r["workers"])
            title += f",\nweak scaling reaches {last['speedup']:.0f}x on {last['workers']}"
        ax.set_title(title, fontsize=10)
    else:
        ax.set_title("Speedup versus workers")
    return fig

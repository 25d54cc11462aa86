"""Scaling-out figures: predicted speedup far beyond this machine, next to what was measured here.

Taught in ``notebooks/06_scaling_out.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from plsim.i18n import _
from plsim.plots.style import COLORS, MEASURED, PREDICTED, measured_style, model_style, new_axes, plain_log_ticks

__all__ = ["plot_scaling_out"]

# green is left out: in this course it means "the cost model's prediction" in notebook 01
_FALLBACK = ["#0072B2", "#D55E00", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]


def _series(name: str, value: Any) -> tuple[list[float], list[float]]:
    try:
        xs, ys = value
        xs, ys = [float(x) for x in xs], [float(y) for y in ys]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must map a label to (workers, values) sequences of numbers") from None
    if len(xs) != len(ys) or not xs:
        raise ValueError(f"{name}: workers and values must be non-empty and of equal length")
    return xs, ys


def plot_scaling_out(
    predicted: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    measured: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    *,
    colors: Mapping[str, str] | None = None,
    ideal: bool = True,
    ylabel: str | None = None,
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """Speedup (or any per-worker quantity) versus workers on log-log axes.

    Parameters
    ----------
    predicted : mapping label -> (workers, values)
        Cost-model curves, drawn dashed and labelled "predicted".
    measured : mapping label -> (workers, values), optional
        Points measured on a real cluster, drawn solid and labelled "measured".
        A measured series with the same label as a predicted one gets its colour.
    colors : mapping label -> colour, optional
    ideal : bool
        Draw the linear-speedup line.
    title : str, optional
        Should state the finding (e.g. "Ring all-reduce keeps scaling; a single parameter server stops at 8").
    """
    if not predicted:
        raise ValueError("predicted must contain at least one curve")
    fig, ax = new_axes(ax, figsize=(6.8, 4.2))
    colors = dict(colors or {})
    labels = list(predicted) + [k for k in (measured or {}) if k not in predicted]
    for i, label in enumerate(labels):
        # a label that names a course concept ("ring", "parameter server", "fedavg") gets its course colour
        colors.setdefault(label, COLORS.get(label.lower().replace(" ", "_"), _FALLBACK[i % len(_FALLBACK)]))
    all_x: list[float] = []
    for label, value in predicted.items():
        xs, ys = _series("predicted", value)
        all_x += xs
        ax.plot(xs, ys, label=f"{label} ({_(PREDICTED)})", **model_style(colors[label]))
    for label, value in (measured or {}).items():
        xs, ys = _series("measured", value)
        all_x += xs
        ax.plot(xs, ys, label=f"{label} ({_(MEASURED)})", **measured_style(colors[label]), markersize=8)
    if ideal:
        lo, hi = min(all_x), max(all_x)
        ax.plot([lo, hi], [lo, hi], color=COLORS["ideal"], linestyle=":", label=_("ideal (linear)"))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    plain_log_ticks(ax, base=2)  # 1, 2, 4 ... 1024 rather than 2^k
    ax.set_xlabel(_("workers (log scale)"))
    ax.set_ylabel(_("speedup T1 / Tp (x)") if ylabel is None else ylabel)
    if title:
        ax.set_title(title, fontsize=11 if len(title) > 60 else None)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="upper left")
    return fig

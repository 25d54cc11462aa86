"""Ensemble figures: accuracy versus number of members, member disagreement, fit times per worker.

Every number drawn here is measured (test accuracy of real fitted members,
wall-clock fit times on the real cluster); legends say so. Taught in
``notebooks/02_ensembles.ipynb`` and drawn by :func:`plsim.widgets.ensemble_builder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from plsim.plots.style import COLORS, MEASURED, measured_style, new_axes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from plsim.ensembles.diversity import AccuracyCurve

__all__ = ["plot_accuracy_vs_members", "plot_disagreement", "plot_diversity_vs_accuracy", "plot_member_times"]


def plot_accuracy_vs_members(curve: AccuracyCurve, ax: Any = None, *, label: str = "ensemble") -> Figure:
    """Test accuracy of the first 1..M members as an ensemble, next to single members.

    Parameters
    ----------
    curve : AccuracyCurve
        From :func:`plsim.ensembles.accuracy_curve`.
    ax : matplotlib Axes, optional
        Draw here instead of a new figure.
    label : str
        Name of the ensemble in the legend.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from plsim.ensembles.diversity import AccuracyCurve

    if not isinstance(curve, AccuracyCurve):
        raise TypeError(f"curve must be a plsim.ensembles.AccuracyCurve, got {type(curve).__name__}")
    fig, ax = new_axes(ax)
    m = curve.n_members
    ax.fill_between([m[0], m[-1]], curve.members.min(), curve.members.max(), color=COLORS["idle"], alpha=0.6,
                    label=f"range of single members ({MEASURED})")
    ax.axhline(curve.member_mean, color=COLORS["sequential"], linewidth=1.2,
               label=f"single member, mean ({MEASURED})")
    ax.axhline(curve.member_best, color=COLORS["joblib"], linewidth=1.2,
               label=f"single member, best ({MEASURED})")
    ax.plot(m, curve.ensemble, **{**measured_style(COLORS["parallel"]), "markersize": 3},
            label=f"{label} of the first m members ({MEASURED})")
    ax.set_xlabel("members in the ensemble, m")
    ax.set_ylabel("test accuracy (fraction correct)")
    final = curve.ensemble[-1]
    verb = "beat" if curve.gain > 0 else "did not beat"
    ax.set_title(f"{len(m)} members: {final:.1%} test accuracy; they {verb} one member ({curve.member_mean:.1%})",
                 fontsize=10)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    return fig


def _check_square(matrix: Any) -> np.ndarray:
    d = np.asarray(matrix, dtype=float)
    if d.ndim != 2 or d.shape[0] != d.shape[1] or d.shape[0] < 1:
        raise ValueError(f"disagreement must be a square (n_members, n_members) matrix, got shape {d.shape}")
    return d


def plot_disagreement(disagreement: Any, ax: Any = None, *, names: Sequence[str] | None = None) -> Figure:
    """Heatmap of pairwise disagreement (fraction of test samples two members label differently).

    ``disagreement`` comes from :func:`plsim.ensembles.pairwise_disagreement`.
    """
    d = _check_square(disagreement)
    n = d.shape[0]
    if names is not None and len(names) != n:
        raise ValueError(f"names has {len(names)} entries but there are {n} members")
    fig, ax = new_axes(ax, figsize=(5.2, 4.4))
    image = ax.imshow(d, cmap="viridis", vmin=0.0, vmax=max(float(d.max()), 1e-9))
    fig.colorbar(image, ax=ax, label=f"disagreement ({MEASURED}, fraction of test samples)")
    ticks = np.arange(n)
    ax.set_xticks(ticks, labels=list(names) if names is not None else [str(t) for t in ticks],
                  rotation=90 if n > 8 else 0, fontsize=7 if n > 12 else 9)
    ax.set_yticks(ticks, labels=list(names) if names is not None else [str(t) for t in ticks],
                  fontsize=7 if n > 12 else 9)
    ax.set_xlabel("member")
    ax.set_ylabel("member")
    off = d[~np.eye(n, dtype=bool)]
    mean = float(off.mean()) if off.size else 0.0
    ax.set_title(f"Two members disagree on {mean:.0%} of test samples on average", fontsize=10)
    return fig


def plot_diversity_vs_accuracy(member_accuracy: Any, disagreement: Any, ax: Any = None, *,
                               ensemble_accuracy: float | None = None) -> Figure:
    """Each member's accuracy against its mean disagreement with the others (one dot per member)."""
    acc = np.asarray(member_accuracy, dtype=float)
    d = _check_square(disagreement)
    if acc.shape != (d.shape[0],):
        raise ValueError(f"member_accuracy has shape {acc.shape}; expected ({d.shape[0]},), one per member")
    spread = d.sum(axis=1) / max(d.shape[0] - 1, 1)
    fig, ax = new_axes(ax)
    ax.scatter(spread, acc, color=COLORS["parallel"], s=30, label=f"single member ({MEASURED})", zorder=3)
    if ensemble_accuracy is not None:
        ax.axhline(ensemble_accuracy, color=COLORS["predicted"], linewidth=1.5,
                   label=f"whole ensemble ({MEASURED})")
    ax.set_xlabel("mean disagreement with the other members (fraction of test samples)")
    ax.set_ylabel("test accuracy (fraction correct)")
    if ensemble_accuracy is not None:
        title = (f"Members disagree on {spread.mean():.0%} of samples; together {ensemble_accuracy:.1%} "
                 f"vs {acc.mean():.1%} alone")
    else:
        title = f"Members disagree on {spread.mean():.0%} of test samples on average"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def plot_member_times(fit_times: Any, workers: Sequence[str], ax: Any = None, *,
                      wall_seconds: float | None = None) -> Figure:
    """Measured fit time of every member, coloured by the worker that trained it.

    With ``wall_seconds`` (the measured duration of the whole fit) the title
    compares it with the sum of member times, i.e. the time one worker would need.
    """
    times = np.asarray(fit_times, dtype=float)
    if times.ndim != 1 or len(times) != len(workers) or len(times) == 0:
        raise ValueError(f"fit_times ({times.shape}) and workers ({len(workers)}) must be equal, non-empty lists")
    fig, ax = new_axes(ax)
    palette = [COLORS["parallel"], COLORS["joblib"], COLORS["predicted"], COLORS["amdahl"], COLORS["async"],
               COLORS["sequential"]]
    names = sorted(set(workers), key=list(workers).index)
    for k, name in enumerate(names):
        idx = [i for i, w in enumerate(workers) if w == name]
        ax.bar(idx, times[idx], color=palette[k % len(palette)], label=f"{name} ({MEASURED})")
    ax.set_xlabel("member")
    ax.set_ylabel("fit time (s)")
    total = times.sum()
    if wall_seconds is not None:
        ax.set_title(f"Members took {total:.2f} s in total; the fit took {wall_seconds:.2f} s wall-clock "
                     f"on {len(names)} worker(s)", fontsize=10)
    else:
        ax.set_title(f"Members took {total:.2f} s in total on {len(names)} worker(s)", fontsize=10)
    ax.legend(fontsize=8, title="worker")
    return fig

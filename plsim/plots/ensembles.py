"""Ensemble figures: accuracy versus number of members, member disagreement, fit times per worker.

Every number drawn here is measured (test accuracy of real fitted members,
wall-clock fit times on the real cluster); legends say so. Taught in
``notebooks/02_ensembles.ipynb`` and drawn by :func:`plsim.widgets.ensemble_builder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from plsim.i18n import _
from plsim.plots.style import COLORS, MEASURED, integer_ticks, measured_style, new_axes, shade

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
    ax.fill_between([m[0], m[-1]], curve.members.min(), curve.members.max(), color=COLORS["idle"], alpha=0.7,
                    linewidth=0, label=_("range of single members ({MEASURED})").format(MEASURED=_(MEASURED)))
    ax.axhline(curve.member_best, color=shade(COLORS["member"], 0.5), linewidth=1.2,
               label=_("single member, best ({MEASURED})").format(MEASURED=_(MEASURED)))
    ax.axhline(curve.member_mean, color=COLORS["member"], linewidth=1.5,
               label=_("single member, mean ({MEASURED})").format(MEASURED=_(MEASURED)))
    ax.plot(m, curve.ensemble, **{**measured_style(COLORS["ensemble"]), "markersize": 3 if len(m) > 30 else 4},
            label=_("{label} of the first m members ({MEASURED})").format(label=label, MEASURED=_(MEASURED)))
    ax.set_xlabel(_("members in the ensemble, m"))
    ax.set_ylabel(_("test accuracy (fraction correct)"))
    integer_ticks(ax)
    final = curve.ensemble[-1]
    ax.set_title((_("{n_m} members: {final:.1%} test accuracy; they beat one member ({member_mean:.1%})")
                  if curve.gain > 0 else
                  _("{n_m} members: {final:.1%} test accuracy; they did not beat one member ({member_mean:.1%})")
                  ).format(n_m=len(m), final=final, member_mean=curve.member_mean),
                 fontsize=10)
    # legend under the axes: the band and the curves use the whole plot area
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2, frameon=False)
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
    fig, ax = new_axes(ax, figsize=(5.6, 4.6))
    off = d[~np.eye(n, dtype=bool)]
    # the diagonal (a member against itself, always 0) is left blank so the colours spread over the pairs
    shown = np.ma.masked_array(d, mask=np.eye(n, dtype=bool)) if n > 1 else d
    lo = float(off.min()) if off.size else 0.0
    hi = max(float(off.max()) if off.size else float(d.max()), lo + 1e-9)
    image = ax.imshow(shown, cmap="viridis", vmin=lo, vmax=hi)
    fig.colorbar(image, ax=ax, label=_("disagreement, fraction of test samples ({MEASURED})").format(MEASURED=_(MEASURED)))
    step = int(np.ceil(n / 12))  # at most ~12 tick labels so they stay readable
    ticks = np.arange(0, n, step)
    labels = [list(names)[t] for t in ticks] if names is not None else [str(t) for t in ticks]
    ax.set_xticks(ticks, labels=labels, rotation=90 if names is not None and n > 4 else 0, fontsize=9)
    ax.set_yticks(ticks, labels=labels, fontsize=9)
    ax.set_xlabel(_("member"))
    ax.set_ylabel(_("member"))
    mean = float(off.mean()) if off.size else 0.0
    ax.set_title(_("Two members disagree on {mean:.0%} of test samples on average").format(mean=mean), fontsize=10)
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
    ax.scatter(spread, acc, color=COLORS["member"], s=30, label=_("single member ({MEASURED})").format(MEASURED=_(MEASURED)), zorder=3)
    ys = list(acc)
    if ensemble_accuracy is not None:
        ax.axhline(ensemble_accuracy, color=COLORS["ensemble"], linewidth=2,
                   label=_("whole ensemble ({MEASURED})").format(MEASURED=_(MEASURED)))
        ys.append(float(ensemble_accuracy))
    lo, hi = min(ys), max(ys)
    pad = max(0.08 * (hi - lo), 0.01)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel(_("mean disagreement with the other members (fraction of test samples)"))
    ax.set_ylabel(_("test accuracy (fraction correct)"))
    if ensemble_accuracy is not None:
        title = (_("Members disagree on {mean:.0%} of samples; together "
                    "{ensemble_accuracy:.1%} vs {mean2:.1%} alone").format(mean=spread.mean(), ensemble_accuracy=ensemble_accuracy, mean2=acc.mean()))
    else:
        title = _("Members disagree on {mean:.0%} of test samples on average").format(mean=spread.mean())
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="center right")
    ax.grid(alpha=0.3)
    return fig


def _worker_name(address: str, k: int) -> str:
    """``"tcp://127.0.0.1:44331"`` -> ``"worker 0 (:44331)"``; other names unchanged."""
    if "://" in address and ":" in address.rsplit("/", 1)[-1]:
        return _("worker {k} (:{value})").format(k=k, value=address.rsplit(':', 1)[-1])
    return address


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
    # one colour per worker; green is left out (it means "predicted" in this course)
    palette = [COLORS["parallel"], COLORS["joblib"], COLORS["amdahl"], COLORS["local_sgd"], COLORS["async"],
               COLORS["sequential"]]
    names = sorted(set(workers), key=list(workers).index)
    for k, name in enumerate(names):
        idx = [i for i, w in enumerate(workers) if w == name]
        ax.bar(idx, times[idx], color=palette[k % len(palette)], label=f"{_worker_name(name, k)} ({_(MEASURED)})")
    ax.set_xlabel(_("member"))
    integer_ticks(ax)
    ax.set_ylabel(_("fit time (s)"))
    total = times.sum()
    if wall_seconds is not None:
        ax.set_title(_("Members took {total:.2f} s in total; the fit took {wall_seconds:.2f} s "
                        "wall-clock on {n_names} worker(s)").format(total=total, wall_seconds=wall_seconds, n_names=len(names)), fontsize=10)
    else:
        ax.set_title(_("Members took {total:.2f} s in total on {n_names} worker(s)").format(total=total, n_names=len(names)), fontsize=10)
    ax.set_ylim(0, times.max() * 1.25)  # headroom for the legend above the bars
    ax.legend(fontsize=8, title=_("trained on"), title_fontsize=8, loc="upper right", ncols=min(len(names), 3))
    return fig

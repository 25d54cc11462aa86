"""Figures of federated runs: accuracy versus rounds and versus bytes, client drift, simulated time.

Colours follow :data:`plsim.plots.style.COLORS` (fedavg / fedsgd / fedprox /
server_opt / dp). Accuracy and bytes are **measured**; time on the virtual
clock is **simulated** and drawn dashed, and the legends say so.

Taught in ``notebooks/03_federated_learning.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from plsim.i18n import _
from plsim.plots.style import (COLORS, MEASURED, SIMULATED, integer_ticks, measured_style, model_style, new_axes,
                               variant_styles)

__all__ = ["run_color", "plot_accuracy", "plot_runs", "plot_drift", "plot_simulated_time", "plot_lr_tuning"]


def run_color(history: Any) -> str:
    """The course colour of a run: DP, server optimizer, or the algorithm."""
    s = history.settings
    if s.get("dp") is not None:
        return COLORS["dp"]
    if s.get("server_optimizer") not in (None, "server_sgd"):
        return COLORS["server_opt"]
    return COLORS.get(s.get("algorithm", "fedavg"), COLORS["fedavg"])


def _runs(runs: Any) -> dict[str, Any]:
    if isinstance(runs, Mapping):
        out = dict(runs)
    else:
        out = {h.settings.get("algorithm", f"run {i}"): h for i, h in enumerate(runs)}
    if not out:
        raise ValueError("runs is empty: give {label: FederatedHistory}")
    return out


def plot_accuracy(runs: Any, *, x: str = "rounds", ax: Any = None, target: float | None = None,
                  title: str | None = None) -> Any:
    """Test accuracy of several runs against rounds, megabytes moved, or simulated seconds.

    Parameters
    ----------
    runs : dict of label -> FederatedHistory (or a list)
    x : {"rounds", "bytes", "simulated"}
    target : float, optional
        Draw a horizontal target-accuracy line.
    """
    runs = _runs(runs)
    if x not in ("rounds", "bytes", "simulated"):
        raise ValueError(f"x={x!r} must be 'rounds', 'bytes' or 'simulated'")
    fig, ax = new_axes(ax)
    colors = [run_color(h) for h in runs.values()]
    # accuracy and bytes are measured (solid); time on the virtual clock is simulated (dashed)
    styles = variant_styles(colors, SIMULATED if x == "simulated" else MEASURED)
    for (label, h), style in zip(runs.items(), styles):
        acc = np.concatenate([[h.initial_accuracy], h.accuracy])
        if x == "rounds":
            xs = np.arange(len(acc))
        elif x == "bytes":
            xs = np.concatenate([[0.0], h.cumulative_bytes]) / 1e6
        else:
            xs = np.concatenate([[0.0], h.simulated_time])
        suffix = _("simulated time") if x == "simulated" else _(MEASURED)
        ax.plot(xs, acc, label=f"{label} ({suffix})", **style)
    if target is not None:
        ax.axhline(target, color=COLORS["ideal"], linewidth=1, linestyle=":", label=_("target "
                                                                                       "{target:.0%}").format(target=target))
    ax.set_xlabel({"rounds": "communication round", "bytes": _("megabytes moved, up + down (measured)"),
                   "simulated": _("simulated seconds (virtual clock)")}[x])
    ax.set_ylabel(_("global test accuracy (fraction correct)"))
    ax.set_ylim(0, 1.02)
    if x == "rounds":
        integer_ticks(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if title is None:
        best = max(runs, key=lambda k: runs[k].final_accuracy)
        title = _("{best} ends highest ({final_accuracy:.0%})").format(best=best, final_accuracy=runs[best].final_accuracy)
    ax.set_title(title)
    return fig


def plot_runs(runs: Any, *, target: float | None = None, title: str | None = None) -> Any:
    """Side by side: accuracy versus rounds and versus megabytes moved."""
    from matplotlib.figure import Figure

    runs = _runs(runs)
    fig = Figure(figsize=(11, 4), layout="constrained")
    a1, a2 = fig.subplots(1, 2)
    plot_accuracy(runs, x="rounds", ax=a1, target=target, title=_("per round"))
    plot_accuracy(runs, x="bytes", ax=a2, target=target, title=_("per megabyte moved"))
    if title is None:
        best = max(runs, key=lambda k: runs[k].final_accuracy)
        title = _("{best} reaches {final_accuracy:.0%} test accuracy").format(best=best, final_accuracy=runs[best].final_accuracy)
    fig.suptitle(title)
    return fig


def plot_drift(runs: Any, *, ax: Any = None, title: str | None = None) -> Any:
    """Client drift per round: mean distance of the clients' local models from their average."""
    runs = _runs(runs)
    fig, ax = new_axes(ax)
    colors = [run_color(h) for h in runs.values()]
    for (label, h), style in zip(runs.items(), variant_styles(colors, MEASURED)):
        ax.plot(h.rounds, h.drift, label=f"{label} ({_(MEASURED)})", **style)
    ax.set_xlabel(_("communication round"))
    ax.set_ylabel(_("client drift ||w_k - mean w|| (L2 norm)"))
    integer_ticks(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title is None:
        worst = max(runs, key=lambda k: np.nanmean(runs[k].drift))
        title = _("Clients drift apart most in {worst}").format(worst=worst)
    ax.set_title(title)
    return fig


def plot_simulated_time(history: Any, *, ax: Any = None, title: str | None = None) -> Any:
    """Simulated seconds per round (virtual clock) next to measured wall seconds, with stragglers marked."""
    fig, ax = new_axes(ax)
    r = history.rounds
    sim = np.array([rec.simulated_seconds for rec in history.records])
    wall = np.array([rec.wall_seconds_measured for rec in history.records])
    ax.plot(r, sim, label=_("round time ({SIMULATED}, virtual clock)").format(SIMULATED=_(SIMULATED)), **model_style(COLORS["communication"]))
    ax.plot(r, wall, label=_("round time ({MEASURED} on this machine)").format(MEASURED=_(MEASURED)), **measured_style(COLORS["compute"]))
    late = [rec.round for rec in history.records if rec.stragglers or rec.dropped]
    if late:
        ax.scatter(late, sim[np.isin(r, late)], s=90, facecolors="none", edgecolors=COLORS["straggler"],
                   linewidths=1.5, label=_("round with stragglers / drop-outs ({SIMULATED})").format(SIMULATED=_(SIMULATED)), zorder=5)
    ax.set_xlabel(_("communication round"))
    ax.set_ylabel(_("seconds per round"))
    ax.set_ylim(0, max(float(sim.max()), float(wall.max())) * 1.1)
    integer_ticks(ax)
    ax.grid(alpha=0.3)
    # legend under the axes so it never hides a round
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2, frameon=False)
    if title is None:
        title = (_("{n_late} of {n_r} rounds hit stragglers or drop-outs; {value:.3g} s "
                    "{SIMULATED} vs {value2:.2g} s {MEASURED}").format(n_late=len(late), n_r=len(r), value=history.simulated_time[-1], SIMULATED=_(SIMULATED), value2=history.wall_time[-1], MEASURED=_(MEASURED)))
    ax.set_title(title, fontsize=10)
    return fig


def plot_lr_tuning(tunings: Any, *, ax: Any = None, title: str | None = None) -> Any:
    """Rounds to the target accuracy against the client learning rate, one line per algorithm.

    Parameters
    ----------
    tunings : dict of label -> LrTuning
        From :func:`plsim.federated.comparison.tune_lr` / ``compare_algorithms`` (measured runs).
        Filled markers reached the target; an open triangle at the top of a line means
        "not reached in that many rounds" (the run was stopped there), a cross a diverged run.
    """
    if not isinstance(tunings, Mapping) or not tunings:
        raise ValueError("tunings is empty: give {label: LrTuning}")
    fig, ax = new_axes(ax)
    colors = [COLORS.get(t.algorithm, COLORS["fedavg"]) for t in tunings.values()]
    for (label, t), style in zip(tunings.items(), variant_styles(colors, MEASURED)):
        lrs = np.asarray(t.lrs, dtype=float)
        ys = np.array([r if r is not None else s for r, s in zip(t.rounds, t.stopped_at)], dtype=float)
        ok = np.array([r is not None for r in t.rounds])
        div = np.asarray(t.diverged, dtype=bool)
        best = "" if t.best_lr is None else _(": best lr {best_lr:g}, {best_rounds} rounds").format(best_lr=t.best_lr, best_rounds=t.best_rounds)
        line = {k: v for k, v in style.items() if k not in ("marker",)}
        ax.plot(lrs, ys, label=f"{label}{best} ({_(MEASURED)})", **{**line, "marker": None})
        ax.scatter(lrs[ok], ys[ok], color=style["color"], s=40, zorder=4)
        late = ~ok & ~div
        ax.scatter(lrs[late], ys[late], marker="^", facecolors="none", edgecolors=style["color"], s=70, zorder=4)
        ax.scatter(lrs[div], ys[div], marker="x", color=style["color"], s=70, zorder=4)
        if t.best_lr is not None:
            ax.scatter([t.best_lr], [t.best_rounds], s=160, facecolors="none", edgecolors=style["color"],
                       linewidths=2, zorder=5)
    ax.scatter([], [], marker="^", facecolors="none", edgecolors="k", label=_("not reached by then (stopped)"))
    from matplotlib.ticker import ScalarFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # plain numbers (0.3, 45), not 3 x 10^-1
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(ScalarFormatter() if axis is ax.yaxis else axis.get_minor_formatter())
    ax.set_xlabel(_("client learning rate (log scale)"))
    ax.set_ylabel(_("rounds to {target:.0%} test accuracy (log)").format(target=next(iter(tunings.values())).target))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if title is None:
        best = {k: t.best_rounds for k, t in tunings.items() if t.best_rounds is not None}
        title = (_("Tuned, {min} needs the fewest rounds ({min2})").format(min=min(best, key=best.get), min2=min(best.values())) if best
                 else _("No learning rate reached the target"))
    ax.set_title(title, fontsize=10)
    return fig

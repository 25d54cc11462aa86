"""Speedup and efficiency versus workers, and the task timeline (Gantt chart per worker).

Measured numbers are solid lines with dots; the Amdahl fit and the cost-model
prediction are dashed and say so in the legend. Taught in
``notebooks/01_speedup.ipynb`` (and drawn by ``plsim bench --plot``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from plsim.i18n import _
from plsim.speedup.laws import amdahl_speedup
from plsim.plots.style import COLORS, MEASURED, PREDICTED, measured_style, model_style, new_axes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from plsim.speedup import SpeedupResult, TaskRecord

__all__ = ["plot_speedup", "plot_efficiency", "plot_speedup_efficiency", "plot_timeline"]


def _check_result(result: Any) -> SpeedupResult:
    from plsim.speedup import SpeedupResult

    if not isinstance(result, SpeedupResult):
        raise TypeError(f"result must be a plsim.speedup.SpeedupResult, got {type(result).__name__}")
    return result


def _curve_workers(result: SpeedupResult, extend_to: int | None) -> list[int]:
    top = max(result.workers, default=1)  # a measurement stopped early may hold no worker count
    if extend_to is not None:
        if isinstance(extend_to, bool) or not isinstance(extend_to, int) or extend_to < 1:
            raise ValueError(f"extend_to={extend_to!r} must be a positive integer (workers)")
        top = max(top, extend_to)
    return list(range(1, top + 1))


def plot_speedup(
    result: SpeedupResult,
    ax: Any = None,
    *,
    extend_to: int | None = None,
    joblib_speedup: Mapping[int, float] | None = None,
    quantity: str = "speedup",
) -> Figure:
    """Speedup (or efficiency) versus workers: ideal, measured, Amdahl fit, cost-model prediction.

    Parameters
    ----------
    result : SpeedupResult
        From :func:`plsim.speedup.measure_speedup` or ``plsim bench``.
    ax : matplotlib Axes, optional
        Draw here; default a new figure.
    extend_to : int, optional
        Draw the Amdahl and predicted curves up to this many workers (what-if).
    joblib_speedup : mapping, optional
        ``{workers: speedup}`` measured with joblib on the same work, drawn as points.
    quantity : {"speedup", "efficiency"}

    Returns
    -------
    matplotlib.figure.Figure
    """
    result = _check_result(result)
    if quantity not in ("speedup", "efficiency"):
        raise ValueError(f"quantity={quantity!r} must be 'speedup' or 'efficiency'")
    eff = quantity == "efficiency"
    fig, ax = new_axes(ax)
    ps = [1, *result.workers] if 1 not in result.workers else result.workers
    curve = _curve_workers(result, extend_to)

    def scale(values: list[float], workers: list[int]) -> list[float]:
        return [v / p for v, p in zip(values, workers, strict=True)] if eff else values

    ideal = [1.0] * len(curve) if eff else [float(p) for p in curve]
    ax.plot(curve, ideal, color=COLORS["ideal"], linestyle=":", linewidth=1.5, label=_("ideal (linear)"))
    measured = [result.speedup(p) if p in result.parallel else 1.0 for p in ps]
    ax.plot(ps, scale(measured, ps), label=_("plsim on Dask ({MEASURED})").format(MEASURED=_(MEASURED)), **measured_style(COLORS["parallel"]))
    f = result.serial_fraction
    if f is not None:
        amdahl = [amdahl_speedup(f, p) for p in curve]
        ax.plot(curve, scale(amdahl, curve), color=COLORS["amdahl"], linestyle="-.", linewidth=1.5,
                label=_("Amdahl law fitted to {MEASURED} (serial fraction {f:.2f})").format(MEASURED=_(MEASURED), f=f))
    if result.model is not None:
        predicted = [result.model.speedup(p) for p in curve]
        ax.plot(curve, scale(predicted, curve), label=_("cost model ({PREDICTED})").format(PREDICTED=_(PREDICTED)), **model_style(COLORS["predicted"]))
    if joblib_speedup:
        jp = sorted(joblib_speedup)
        ax.plot(jp, scale([float(joblib_speedup[p]) for p in jp], jp), label=_("joblib "
                                                                                "processes "
                                                                                "({MEASURED})").format(MEASURED=_(MEASURED)),
                **{**measured_style(COLORS["joblib"]), "linestyle": "none", "marker": "D", "markersize": 8})
    top = max(result.workers, default=1)  # a measurement stopped early may hold no worker count
    s = result.speedup(top) if result.parallel else 1.0
    if eff:
        ax.set_ylabel(_("efficiency (speedup / workers)"))
        ax.set_ylim(0, max(1.15, max(scale(measured, ps)) * 1.1))
        ax.set_title(_("Efficiency {value:.0%} on {top} worker(s) ({MEASURED})").format(value=s / top, top=top, MEASURED=_(MEASURED)) if result.parallel
                     else _("Stopped before any worker count was measured ({MEASURED}: "
                             "sequential only)").format(MEASURED=_(MEASURED)))
    else:
        ax.set_ylabel(_("speedup T1 / Tp (x)"))
        ax.set_ylim(0, max(curve[-1], max(measured)) * 1.15)
        pred = f", {_(PREDICTED)} {result.model.speedup(top):.2f}x" if result.model is not None else ""
        verdict = _("{s:.2f}x faster").format(s=s) if s >= 1 else _("{value:.2f}x slower").format(value=1 / s)
        ax.set_title(_("{verdict} on {top} worker(s) ({MEASURED}{pred})").format(verdict=verdict, top=top, MEASURED=_(MEASURED), pred=pred) if result.parallel
                     else _("Stopped before any worker count was measured ({MEASURED}: "
                             "sequential only)").format(MEASURED=_(MEASURED)))
    ax.set_xlabel(_("workers (processes)"))
    if len(curve) <= 12:
        ax.set_xticks(curve)
    else:  # a label on every worker count would overlap
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower left" if eff else "upper left")
    return fig


def plot_efficiency(result: SpeedupResult, ax: Any = None, **kwargs: Any) -> Figure:
    """Efficiency (speedup / workers) versus workers; same lines as :func:`plot_speedup`."""
    return plot_speedup(result, ax, quantity="efficiency", **kwargs)


def plot_speedup_efficiency(result: SpeedupResult, *, extend_to: int | None = None,
                            joblib_speedup: Mapping[int, float] | None = None) -> Figure:
    """Speedup and efficiency side by side in one figure."""
    from matplotlib.figure import Figure

    result = _check_result(result)
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    plot_speedup(result, left, extend_to=extend_to, joblib_speedup=joblib_speedup)
    plot_efficiency(result, right, extend_to=extend_to, joblib_speedup=joblib_speedup)
    fig.suptitle(result.title)
    return fig


def plot_timeline(records: Sequence[TaskRecord], ax: Any = None, *, title: str | None = None) -> Figure:
    """Gantt chart: one row per worker, a bar per task span, grey where the worker sat idle.

    Parameters
    ----------
    records : sequence of TaskRecord
        From :func:`plsim.speedup.record_timeline` (or ``timeline_from_task_stream``).
    ax : matplotlib Axes, optional
    title : str, optional
        Default: the measured busy fraction of the workers.

    Returns
    -------
    matplotlib.figure.Figure
    """
    records = list(records)
    if not records:
        raise ValueError("records is empty: nothing ran while the timeline was recorded")
    for r in records:
        if not (hasattr(r, "worker") and hasattr(r, "start") and hasattr(r, "stop")):
            raise TypeError(f"records must be TaskRecord tuples (worker, start, stop, key), got {r!r}")
    fig, ax = new_axes(ax, figsize=(7.5, 1.2 + 0.7 * len({r.worker for r in records})))
    t0 = min(r.start for r in records)
    t1 = max(r.stop for r in records)
    span = max(t1 - t0, 1e-9)
    workers = sorted({r.worker for r in records})
    busy_total = 0.0
    for row, worker in enumerate(workers):
        ax.broken_barh([(0, span)], (row - 0.4, 0.8), facecolors=COLORS["idle"])
        mine = [r for r in records if r.worker == worker]
        for action, colour in (("compute", COLORS["compute"]), ("transfer", COLORS["communication"])):
            bars = [(r.start - t0, r.stop - r.start) for r in mine if getattr(r, "action", "compute") == action]
            if bars:
                ax.broken_barh(bars, (row - 0.4, 0.8), facecolors=colour, edgecolors="white", linewidth=0.5)
        compute = sorted((r.start, r.stop) for r in mine if getattr(r, "action", "compute") == "compute")
        merged_end = -1e300
        for start, stop in compute:  # union of spans (threads of one worker may overlap)
            busy_total += max(0.0, stop - max(start, merged_end))
            merged_end = max(merged_end, stop)
    from matplotlib.patches import Patch

    handles = [Patch(color=COLORS["compute"], label=_("task running ({MEASURED})").format(MEASURED=_(MEASURED))),
               Patch(color=COLORS["idle"], label=_("idle / overhead"))]
    if any(getattr(r, "action", "compute") == "transfer" for r in records):
        handles.insert(1, Patch(color=COLORS["communication"], label=_("data transfer")))
    # the band above worker 0 (y < -0.5) is kept free for the legend
    ax.legend(handles=handles, fontsize="small", loc="upper right", ncols=len(handles), frameon=False)
    ax.set_yticks(range(len(workers)))
    ax.set_yticklabels([_("worker {i}\n(:{value})").format(i=i, value=w.rsplit(':', 1)[-1]) if ":" in w else _("worker {i}").format(i=i) for i, w in enumerate(workers)],
                       fontsize="small")
    ax.set_xlim(0, span)
    ax.set_ylim(-0.6 - 0.25 * max(2, len(workers)), len(workers) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel(_("time since the first task started (s)"))
    busy = busy_total / (span * len(workers))
    ax.set_title(title or _("Workers busy {busy:.0%} of {span:.2f} s, idle {value:.0%} "
                             "({MEASURED})").format(busy=busy, span=span, value=1 - busy, MEASURED=_(MEASURED)))
    return fig

"""Figures of communication cost: alpha-beta predictions per all-reduce algorithm, exchanges
measured on the cluster next to them, the fitted model's predictions of held-out sizes,
compression trade-off.

Cost-model curves are dashed and labelled "predicted"; times measured on the cluster are
solid and labelled "measured". Taught in ``notebooks/05_collectives_compression_pipelines.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from plsim.i18n import _
from plsim.plots.style import COLORS, MEASURED, PREDICTED, measured_style, model_style, new_axes, plain_log_ticks

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from plsim.comm import LinkModel
    from plsim.comm.measure import AlphaBetaFit, ExchangeTimes

__all__ = ["plot_cost_vs_workers", "plot_cost_vs_model_size", "plot_exchange_times", "plot_heldout_predictions",
           "plot_compression"]

ALG_COLORS = {alg: COLORS[alg] for alg in ("parameter_server", "naive", "tree", "ring")}
ALG_NAMES = {"parameter_server": "parameter server", "naive": "naive all-to-all", "tree": "tree all-reduce",
             "ring": "ring all-reduce", "send": "one message"}


def plot_cost_vs_workers(n_bytes: float, workers: Sequence[int] = (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), *,
                         link: LinkModel | None = None, ax: Any = None) -> Figure:
    """Predicted seconds per gradient exchange versus workers, one dashed line per algorithm."""
    from plsim.comm import ALGORITHMS, comm_time

    fig, ax = new_axes(ax)
    for alg in ALGORITHMS:
        ax.plot(list(workers), [comm_time(alg, p, n_bytes, link) for p in workers], **model_style(ALG_COLORS[alg]),
                label=f"{ALG_NAMES[alg]} ({_(PREDICTED)})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    plain_log_ticks(ax, "x", base=2)
    plain_log_ticks(ax, "y")
    ax.set_xlabel(_("workers (log scale)"))
    ax.set_ylabel(_("time per exchange (s, log scale)"))
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize="small")
    ax.set_title(_("{value:g} MB gradient: ring stays flat,\na single server grows linearly").format(value=n_bytes / 1e6), fontsize=10)
    return fig


def plot_cost_vs_model_size(n_workers: int, sizes: Sequence[float] = (1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9), *,
                            link: LinkModel | None = None, ax: Any = None) -> Figure:
    """Predicted seconds per exchange versus gradient bytes for ``n_workers`` workers."""
    from plsim.comm import ALGORITHMS, comm_time

    fig, ax = new_axes(ax)
    for alg in ALGORITHMS:
        ax.plot(list(sizes), [comm_time(alg, n_workers, n, link) for n in sizes], **model_style(ALG_COLORS[alg]),
                label=f"{ALG_NAMES[alg]} ({_(PREDICTED)})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(_("gradient size (bytes, log scale)"))
    ax.set_ylabel(_("time per exchange (s, log scale)"))
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize="small")
    ax.set_title(_("{n_workers} workers: latency rules small gradients,\nbandwidth large ones").format(n_workers=n_workers), fontsize=10)
    return fig


def plot_exchange_times(times: ExchangeTimes, link: LinkModel | None = None, *, heldout: Sequence[float] = (),
                        ax: Any = None) -> Figure:
    """Exchange times measured on the cluster (solid) next to the alpha-beta prediction (dashed).

    Parameters
    ----------
    times : ExchangeTimes
        From :func:`plsim.comm.measure_exchange`.
    link : LinkModel or None
        The link the predictions use; default ``times.fit()`` (alpha and beta fitted to these times).
    heldout : sequence of float
        Sizes left out of the fit: their measured points are drawn hollow ("held out").
    """
    import numpy as np

    from plsim.comm.measure import predict_exchange

    if not times.rows:
        raise ValueError("times has no rows; measure some exchanges with plsim.comm.measure_exchange")
    link = link or times.fit()
    fig, ax = new_axes(ax)
    for alg in times.algorithms:
        sizes, seconds = times.of(alg)
        color = ALG_COLORS.get(alg, COLORS["communication"])
        name = ALG_NAMES.get(alg, alg)
        ax.plot(sizes, seconds, **measured_style(color), label=f"{name} ({_(MEASURED)})")
        # a size asked for is measured rounded down to whole float64s: within 8 bytes is the same size
        held = [(n, t) for n, t in zip(sizes, seconds) if np.any(np.abs(np.asarray(heldout, float) - n) < 8)]
        if held:
            ax.plot(*zip(*held), linestyle="none", marker="o", markersize=10, markerfacecolor="white",
                    markeredgecolor=color, markeredgewidth=2)
        grid = np.geomspace(min(sizes), max(sizes), 40)
        ax.plot(grid, [predict_exchange(alg, times.n_ranks, n, link) for n in grid],
                **{**model_style(color), "marker": None}, label=_("{name} ({PREDICTED}, α–β "
                                                                   "fit)").format(name=name, PREDICTED=_(PREDICTED)))
    if len(heldout):
        ax.plot([], [], linestyle="none", marker="o", markersize=10, markerfacecolor="white",
                markeredgecolor="black", markeredgewidth=2, label=_("held out of the fit (measured)"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_ticks(ax, "y")
    ax.set_xlabel(_("bytes per rank's vector (log scale)"))
    ax.set_ylabel(_("seconds per exchange (log scale)"))
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize="small")
    where = _("{n_ranks} ranks on {n_workers} worker{value}").format(n_ranks=times.n_ranks, n_workers=times.n_workers, value='s' if times.n_workers != 1 else '')
    ax.set_title(_("{where}: fitted {describe}").format(where=where, describe=link.describe()), fontsize=10)
    return fig


def plot_heldout_predictions(fit: AlphaBetaFit, *, band: tuple[float, float] = (0.8, 1.25), ax: Any = None
                             ) -> Figure:
    """Measured against predicted seconds of every exchange: fitted sizes filled, held-out sizes hollow.

    Points on the diagonal are predicted exactly; the shaded band is ``band`` (measured /
    predicted). A model that only fits its own points but misses the held-out ones
    shows them off the band.

    Parameters
    ----------
    fit : AlphaBetaFit
        From :func:`plsim.comm.fit_with_heldout`.
    band : (float, float)
        Measured / predicted ratios shaded as "close".
    """
    import numpy as np

    if not fit.rows:
        raise ValueError("fit has no rows; make one with plsim.comm.fit_with_heldout")
    lo_band, hi_band = band
    if not 0 < lo_band <= 1 <= hi_band:
        raise ValueError(f"band={band!r} must be (low, high) with 0 < low <= 1 <= high")
    fig, ax = new_axes(ax)
    values = [r[k] for r in fit.rows for k in ("measured", "predicted") if r[k] > 0]
    lo, hi = min(values) / 1.5, max(values) * 1.5
    grid = np.geomspace(lo, hi, 50)
    ax.fill_between(grid, grid * lo_band, grid * hi_band, color=COLORS["ideal"], alpha=0.2,
                    label=_("measured / predicted {lo_band:g} to {hi_band:g}").format(lo_band=lo_band, hi_band=hi_band))
    ax.plot(grid, grid, color=COLORS["ideal"], linestyle=":", label=_("measured = predicted"))
    for alg in dict.fromkeys(r["algorithm"] for r in fit.rows):
        color = ALG_COLORS.get(alg, COLORS["communication"])
        name = ALG_NAMES.get(alg, alg)
        for role, face, size in (("fitted", color, 6), ("held out", "white", 10)):
            rows = [r for r in fit.rows if r["algorithm"] == alg and r["role"] == role]
            if rows:
                ax.plot([r["predicted"] for r in rows], [r["measured"] for r in rows], linestyle="none", marker="o",
                        markersize=size, markerfacecolor=face, markeredgecolor=color, markeredgewidth=2,
                        label=f"{name}, {role}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(_("seconds per exchange, {PREDICTED} by the α–β fit (log scale)").format(PREDICTED=_(PREDICTED)))
    ax.set_ylabel(_("seconds per exchange, {MEASURED} (log scale)").format(MEASURED=_(MEASURED)))
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize="small", loc="upper left")
    ax.set_title(_("Held-out sizes: measured / predicted, median {heldout_median_ratio:.2f} "
                    "(fit: {points} points, R² {r2:.2f} on log time)").format(heldout_median_ratio=fit.heldout_median_ratio, points=fit.points, r2=fit.r2), fontsize=10)
    return fig


def plot_compression(results: Sequence[dict], *, ax: Any = None) -> Figure:
    """Bytes sent versus accuracy reached, one point per compression setting.

    ``results``: dicts with ``"label"``, ``"bytes"`` (counted from payloads) and ``"accuracy"``.
    """
    if not results:
        raise ValueError("results is empty; give one dict per compression setting")
    for r in results:
        missing = {"label", "bytes", "accuracy"} - set(r)
        if missing:
            raise ValueError(f"result {r!r} lacks {sorted(missing)}")
    fig, ax = new_axes(ax)
    xs = [r["bytes"] / 1e6 for r in results]
    ys = [r["accuracy"] for r in results]
    ax.plot(xs, ys, **{**measured_style(COLORS["communication"]), "linestyle": "none", "markersize": 7},
            label=_("one training run (bytes counted, accuracy {MEASURED})").format(MEASURED=_(MEASURED)))
    # label each point; points close together get their labels on alternating sides
    order = sorted(range(len(results)), key=lambda i: xs[i])
    for rank, i in enumerate(order):
        above = rank % 2 == 0
        ax.annotate(results[i]["label"], (xs[i], ys[i]), textcoords="offset points",
                    xytext=(0, 9 if above else -14), ha="center", fontsize=9)
    lo, hi = min(ys), max(ys)
    pad = max(0.15 * (hi - lo), 0.01)
    ax.set_ylim(lo - pad, hi + pad)
    ax.margins(x=0.15)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    ax.set_xscale("log")
    plain_log_ticks(ax, "x")
    ax.set_xlabel(_("bytes sent in training (MB, counted from payloads)"))
    ax.set_ylabel(_("test accuracy (fraction correct)"))
    best = max(results, key=lambda r: r["accuracy"])
    cheapest = min(results, key=lambda r: r["bytes"])
    ax.set_title(_("{label} sends {value:.0f}x fewer bytes; accuracy {accuracy:.2f} vs "
                    "{accuracy2:.2f}").format(label=cheapest['label'], value=max(r['bytes'] for r in results) / max(cheapest['bytes'], 1), accuracy=cheapest['accuracy'], accuracy2=best['accuracy']))
    return fig

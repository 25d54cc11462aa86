"""Figures of communication cost: alpha-beta predictions per all-reduce algorithm, exchanges
measured on the cluster next to them, compression trade-off.

Cost-model curves are dashed and labelled "predicted"; times measured on the cluster are
solid and labelled "measured". Taught in ``notebooks/05_collectives_compression_pipelines.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from plsim.plots.style import COLORS, MEASURED, PREDICTED, measured_style, model_style, new_axes, plain_log_ticks

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from plsim.comm import LinkModel
    from plsim.comm.measure import ExchangeTimes

__all__ = ["plot_cost_vs_workers", "plot_cost_vs_model_size", "plot_exchange_times", "plot_compression"]

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
                label=f"{ALG_NAMES[alg]} ({PREDICTED})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    plain_log_ticks(ax, "x", base=2)
    plain_log_ticks(ax, "y")
    ax.set_xlabel("workers (log scale)")
    ax.set_ylabel("time per exchange (s, log scale)")
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize="small")
    ax.set_title(f"{n_bytes / 1e6:g} MB gradient: ring stays flat,\na single server grows linearly", fontsize=10)
    return fig


def plot_cost_vs_model_size(n_workers: int, sizes: Sequence[float] = (1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9), *,
                            link: LinkModel | None = None, ax: Any = None) -> Figure:
    """Predicted seconds per exchange versus gradient bytes for ``n_workers`` workers."""
    from plsim.comm import ALGORITHMS, comm_time

    fig, ax = new_axes(ax)
    for alg in ALGORITHMS:
        ax.plot(list(sizes), [comm_time(alg, n_workers, n, link) for n in sizes], **model_style(ALG_COLORS[alg]),
                label=f"{ALG_NAMES[alg]} ({PREDICTED})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("gradient size (bytes, log scale)")
    ax.set_ylabel("time per exchange (s, log scale)")
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize="small")
    ax.set_title(f"{n_workers} workers: latency rules small gradients,\nbandwidth large ones", fontsize=10)
    return fig


def plot_exchange_times(times: ExchangeTimes, link: LinkModel | None = None, *, ax: Any = None) -> Figure:
    """Exchange times measured on the cluster (solid) next to the alpha-beta prediction (dashed).

    Parameters
    ----------
    times : ExchangeTimes
        From :func:`plsim.comm.measure_exchange`.
    link : LinkModel or None
        The link the predictions use; default ``times.fit()`` (alpha and beta fitted to these times).
    """
    import numpy as np

    from plsim.comm import comm_time

    if not times.rows:
        raise ValueError("times has no rows; measure some exchanges with plsim.comm.measure_exchange")
    link = link or times.fit()
    fig, ax = new_axes(ax)
    for alg in times.algorithms:
        sizes, seconds = times.of(alg)
        color = ALG_COLORS.get(alg, COLORS["communication"])
        name = ALG_NAMES.get(alg, alg)
        ax.plot(sizes, seconds, **measured_style(color), label=f"{name} ({MEASURED})")
        grid = np.geomspace(min(sizes), max(sizes), 40)
        if alg == "send":
            model = [link.alpha + n * link.beta for n in grid]
        else:
            model = [comm_time(alg, times.n_ranks, n, link) for n in grid]
        ax.plot(grid, model, **{**model_style(color), "marker": None}, label=f"{name} ({PREDICTED}, α–β fit)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_ticks(ax, "y")
    ax.set_xlabel("bytes per rank's vector (log scale)")
    ax.set_ylabel("seconds per exchange (log scale)")
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize="small")
    where = f"{times.n_ranks} ranks on {times.n_workers} worker{'s' if times.n_workers != 1 else ''}"
    ax.set_title(f"{where}: fitted {link.describe()}", fontsize=10)
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
            label=f"one training run (bytes counted, accuracy {MEASURED})")
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
    ax.set_xlabel("bytes sent in training (MB, counted from payloads)")
    ax.set_ylabel("test accuracy (fraction correct)")
    best = max(results, key=lambda r: r["accuracy"])
    cheapest = min(results, key=lambda r: r["bytes"])
    ax.set_title(f"{cheapest['label']} sends {max(r['bytes'] for r in results) / max(cheapest['bytes'], 1):.0f}x "
                 f"fewer bytes; accuracy {cheapest['accuracy']:.2f} vs {best['accuracy']:.2f}")
    return fig

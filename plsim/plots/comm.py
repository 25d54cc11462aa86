"""Figures of communication cost: alpha-beta predictions per all-reduce algorithm, compression trade-off.

Cost-model curves are dashed and labelled "predicted". Taught in
``notebooks/04_distributed_training.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from plsim.plots.style import COLORS, PREDICTED, measured_style, model_style, new_axes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from plsim.comm import LinkModel

__all__ = ["plot_cost_vs_workers", "plot_cost_vs_model_size", "plot_compression"]

ALG_COLORS = {"parameter_server": COLORS["async"], "naive": COLORS["joblib"], "tree": COLORS["amdahl"],
              "ring": COLORS["sync"]}
ALG_NAMES = {"parameter_server": "parameter server", "naive": "naive all-to-all", "tree": "tree all-reduce",
             "ring": "ring all-reduce"}


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
    ax.set_xlabel("workers")
    ax.set_ylabel("time per exchange (s)")
    ax.legend(fontsize="small")
    ax.set_title(f"{n_bytes / 1e6:.1f} MB gradient: the ring stays flat, a single server grows linearly")
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
    ax.set_xlabel("gradient size (bytes)")
    ax.set_ylabel("time per exchange (s)")
    ax.legend(fontsize="small")
    ax.set_title(f"{n_workers} workers: latency dominates small models, bandwidth large ones")
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
    ax.plot(xs, ys, **{**measured_style(COLORS["communication"]), "linestyle": "none"}, label="run (bytes counted)")
    for r, x, y in zip(results, xs, ys):
        ax.annotate(r["label"], (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("bytes sent in training (MB, counted from payloads)")
    ax.set_ylabel("test accuracy")
    best = max(results, key=lambda r: r["accuracy"])
    cheapest = min(results, key=lambda r: r["bytes"])
    ax.set_title(f"{cheapest['label']} sends {max(r['bytes'] for r in results) / max(cheapest['bytes'], 1):.0f}x "
                 f"fewer bytes; accuracy {cheapest['accuracy']:.2f} vs {best['accuracy']:.2f}")
    return fig

"""One visual language for every figure in the course.

* The same concept keeps the same colour in every notebook (``COLORS``).
* **Measured** numbers are drawn solid with round markers; **simulated** or
  **predicted** ones dashed with no fill, and the legend says which
  (``MEASURED`` / ``SIMULATED`` / ``PREDICTED`` label suffixes).
"""

from __future__ import annotations

from typing import Any

__all__ = ["COLORS", "MEASURED", "SIMULATED", "PREDICTED", "measured_style", "model_style",
           "new_axes"]

# Colour-blind-safe (Okabe-Ito) palette, one colour per recurring concept.
COLORS = {
    "sequential": "#000000",
    "parallel": "#0072B2",      # plsim on the Dask cluster
    "joblib": "#E69F00",
    "ideal": "#999999",
    "amdahl": "#CC79A7",
    "predicted": "#009E73",
    "sync": "#0072B2",
    "async": "#D55E00",
    "local_sgd": "#009E73",
    "fedavg": "#0072B2",
    "fedsgd": "#000000",
    "fedprox": "#D55E00",
    "server_opt": "#CC79A7",
    "dp": "#E69F00",
    "compute": "#0072B2",
    "communication": "#E69F00",
    "idle": "#DDDDDD",
}

MEASURED = "measured"
SIMULATED = "simulated"
PREDICTED = "predicted"


def measured_style(color: str) -> dict[str, Any]:
    """Line style for wall-clock numbers measured on the real cluster."""
    return {"color": color, "linestyle": "-", "marker": "o", "linewidth": 2}


def model_style(color: str) -> dict[str, Any]:
    """Line style for numbers from a cost model or a virtual clock (predicted / simulated)."""
    return {"color": color, "linestyle": "--", "marker": "s", "markerfacecolor": "none", "linewidth": 1.5}


def new_axes(ax: Any = None, figsize: tuple[float, float] = (6.4, 4.0)) -> tuple[Any, Any]:
    """``(fig, ax)``: the given axes and its figure, or a new figure (no pyplot state kept)."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()

"""One visual language for every figure in the course.

* The same concept keeps the same colour in every notebook (``COLORS``).
* **Measured** numbers are drawn solid with round markers; **simulated** or
  **predicted** ones dashed with no fill, and the legend says which
  (``MEASURED`` / ``SIMULATED`` / ``PREDICTED`` label suffixes).
* Several runs of one concept (FedAvg with E=1 and E=5, local SGD with H=1, 4,
  16) share its colour in darker / lighter shades and different markers
  (:func:`variant_styles`); the line style stays the measured / model one.

Every notebook draws with these; ``docs/make_gallery.py`` renders one example
of each figure so the whole set can be reviewed at once.
"""

from __future__ import annotations

from typing import Any

from plsim.i18n import N_

__all__ = ["COLORS", "MEASURED", "SIMULATED", "PREDICTED", "MARKERS", "measured_style", "model_style",
           "shade", "variant_styles", "plain_log_ticks", "integer_ticks", "new_axes", "legend_below"]

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
    "ssp": "#CC79A7",           # stale-synchronous parallel (bounded async)
    "local_sgd": "#56B4E9",
    "strong_scaling": "#CC79A7",  # fixed problem: Amdahl's law
    "weak_scaling": "#E69F00",    # growing problem: Gustafson's law
    "ensemble": "#0072B2",      # a whole ensemble
    "member": "#000000",        # one ensemble member alone
    "fedavg": "#0072B2",
    "fedsgd": "#000000",
    "fedprox": "#D55E00",
    "server_opt": "#CC79A7",
    "dp": "#E69F00",
    "compute": "#0072B2",
    "communication": "#E69F00",
    "idle": "#DDDDDD",
    "straggler": "#D55E00",
    # all-reduce / gradient-exchange algorithms (notebooks 04 and 05)
    "ring": "#0072B2",
    "tree": "#CC79A7",
    "parameter_server": "#D55E00",
    "naive": "#E69F00",
}

# markers that tell apart runs drawn in one colour
MARKERS = ["o", "^", "s", "D", "v", "P"]

MEASURED = N_("measured")
SIMULATED = N_("simulated")
PREDICTED = N_("predicted")


def measured_style(color: str) -> dict[str, Any]:
    """Line style for wall-clock numbers measured on the real cluster."""
    return {"color": color, "linestyle": "-", "marker": "o", "linewidth": 2}


def model_style(color: str) -> dict[str, Any]:
    """Line style for numbers from a cost model or a virtual clock (predicted / simulated)."""
    return {"color": color, "linestyle": "--", "marker": "s", "markerfacecolor": "none", "linewidth": 1.5}


def shade(color: str, amount: float) -> str:
    """``color`` darkened (``amount < 0``, towards black) or lightened (``> 0``, towards white)."""
    from matplotlib.colors import to_hex, to_rgb

    if not -1.0 <= amount <= 1.0:
        raise ValueError(f"amount={amount!r} must lie in [-1, 1]")
    rgb = to_rgb(color)
    target = 1.0 if amount > 0 else 0.0
    return to_hex(tuple(c + (target - c) * abs(amount) for c in rgb))


def variant_styles(colors: list[str], kinds: list[str] | str = MEASURED) -> list[dict[str, Any]]:
    """Line styles for runs whose colours may repeat: shades and markers differ, line style does not.

    Parameters
    ----------
    colors : list of str
        The concept colour of each run (e.g. ``COLORS["fedavg"]`` twice).
    kinds : str or list of str
        ``"measured"`` (solid) or ``"simulated"`` / ``"predicted"`` (dashed), per run or for all.

    Returns
    -------
    list of dict
        Keyword arguments for ``ax.plot``, one per run. The first run of a colour
        keeps the colour; later ones get darker / lighter shades and other markers,
        so they stay apart without breaking the solid = measured, dashed = model rule.
    """
    if isinstance(kinds, str):
        kinds = [kinds] * len(colors)
    if len(kinds) != len(colors):
        raise ValueError(f"kinds has {len(kinds)} entries for {len(colors)} colours")
    totals = {c: colors.count(c) for c in colors}
    seen: dict[str, int] = {}
    out = []
    for color, kind in zip(colors, kinds):
        if kind not in (MEASURED, SIMULATED, PREDICTED):
            raise ValueError(f"kind={kind!r} must be {MEASURED!r}, {SIMULATED!r} or {PREDICTED!r}")
        i = seen.get(color, 0)
        seen[color] = i + 1
        n = totals[color]
        # spread the shades from darker (-0.4) to lighter (+0.35); one run keeps the colour itself
        amount = 0.0 if n == 1 else -0.4 + 0.75 * i / (n - 1)
        c = shade(color, amount)
        style = measured_style(c) if kind == MEASURED else model_style(c)
        style.update(marker=MARKERS[i % len(MARKERS)], markersize=5)
        out.append(style)
    return out


def plain_log_ticks(ax: Any, axis: str = "both", *, base: float = 10) -> None:
    """Write log-axis ticks as plain numbers (1, 2, 4 ... 1024; 0.01, 0.1, 1) instead of ``2^k`` / ``10^k``.

    Call after plotting. A base-10 axis spanning less than ~1.5 decades also gets
    ticks at 2x and 5x, so it never shows a single lonely label.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if axis not in ("x", "y", "both"):
        raise ValueError(f"axis={axis!r} must be 'x', 'y' or 'both'")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for name in ("x", "y") if axis == "both" else (axis,):
        a = ax.xaxis if name == "x" else ax.yaxis
        lo, hi = sorted(ax.get_xlim() if name == "x" else ax.get_ylim())
        if base == 10 and lo > 0 and hi / lo < 30:
            a.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        a.set_major_formatter(plain)
        a.set_minor_formatter(NullFormatter())


def integer_ticks(ax: Any, axis: str = "x") -> None:
    """Only whole numbers on ``axis`` (rounds, steps, members)."""
    from matplotlib.ticker import MaxNLocator

    (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))


def new_axes(ax: Any = None, figsize: tuple[float, float] = (6.4, 4.0)) -> tuple[Any, Any]:
    """``(fig, ax)``: the given axes and its figure, or a new figure (no pyplot state kept)."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def legend_below(ax: Any, *, ncols: int | None = None, fontsize: Any = 8, gap: float = 0.2) -> Any:
    """Move ``ax``'s legend under the axes (same entries and title), so it never covers a curve or a bar.

    Call after plotting, e.g. on a small panel figure whose curves fill the plot area.
    ``gap`` is how far below the axes it starts, in axes heights (room for the x label).
    Returns the new legend, or None when ``ax`` has no labelled artist.
    """
    old = ax.get_legend()
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    title = old.get_title().get_text() if old is not None else ""
    if old is not None:
        old.remove()
    return ax.legend(handles, labels, title=title or None, fontsize=fontsize, title_fontsize=fontsize,
                     loc="upper center", bbox_to_anchor=(0.5, -gap), frameon=False,
                     ncols=ncols or min(len(handles), 2))

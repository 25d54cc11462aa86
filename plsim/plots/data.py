"""Figures about data: how the labels are spread over federated clients.

Taught in ``notebooks/03_federated_learning.ipynb`` (section "IID versus non-IID").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plsim.i18n import _
from plsim.plots.style import integer_ticks, new_axes

__all__ = ["plot_label_distribution"]


def plot_label_distribution(
    counts: np.ndarray,
    *,
    ax: Any = None,
    title: str | None = None,
    normalize: bool = False,
    max_clients: int = 60,
) -> Any:
    """Heatmap of the labels each client holds (rows: clients, columns: classes).

    Parameters
    ----------
    counts : ndarray, shape (n_clients, n_classes)
        From :func:`plsim.data.label_distribution`.
    ax : matplotlib Axes, optional
    title : str, optional
        Default: states the average number of labels per client.
    normalize : bool
        Show each client's share of each label instead of counts.
    max_clients : int
        Draw at most this many clients (the first ones) so the figure stays readable.

    Returns
    -------
    matplotlib.figure.Figure
    """
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.size == 0:
        raise ValueError(f"counts must be a 2-D (n_clients, n_classes) array, got shape {counts.shape}")
    shown = counts[:max_clients]
    fig, ax = new_axes(ax, figsize=(6.4, max(2.5, min(7.0, 0.14 * len(shown) + 1.5))))
    values = shown / np.maximum(shown.sum(axis=1, keepdims=True), 1) if normalize else shown
    im = ax.imshow(values, aspect="auto", cmap="Blues", interpolation="nearest")
    fig.colorbar(im, ax=ax, label=_("share of the client's samples") if normalize else _("samples (count)"))
    ax.set_xlabel(_("class label"))
    ax.set_ylabel(_("client"))
    ax.set_xticks(range(counts.shape[1]))
    integer_ticks(ax, "y")
    per_client = (counts > 0).sum(axis=1).mean()
    if title is None:
        title = _("Each client holds {per_client:.1f} of {value} labels on average").format(per_client=per_client, value=counts.shape[1])
    ax.set_title(title)
    return fig

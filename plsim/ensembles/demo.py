"""Demo sizes for the ensembles notebook and widget, in one place (shrunk by ``PLSIM_SMALL``).

Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from plsim.config import small_mode

__all__ = ["EnsembleDemo", "demo_settings", "demo_data"]


@dataclass(frozen=True)
class EnsembleDemo:
    """Sizes and hyperparameters used by ``02_ensembles`` and :func:`plsim.widgets.ensemble_builder`."""

    n_samples: int = 3000          # generated classification rows (train + test)
    n_features: int = 20
    n_informative: int = 8
    n_classes: int = 3
    test_fraction: float = 0.3
    n_members: int = 24            # members in the notebook's bagging demos
    max_members: int = 48          # upper end of the widget's members slider
    random_state: int = 0
    sweep_grid: dict = field(default_factory=lambda: {"max_depth": [2, 4, 6, 8, None],
                                                      "min_samples_leaf": [1, 5, 20]})


_SMALL = {"n_samples": 900, "n_features": 12, "n_informative": 6, "n_members": 10, "max_members": 20,
          "sweep_grid": {"max_depth": [2, 4, None], "min_samples_leaf": [1, 10]}}


def demo_settings(small: bool | None = None) -> EnsembleDemo:
    """The demo sizes: the full ones, or smaller ones when ``small`` (default: ``PLSIM_SMALL`` is set)."""
    if small is None:
        small = small_mode()
    return EnsembleDemo(**_SMALL) if small else EnsembleDemo()


def demo_data(settings: EnsembleDemo | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``X_train, X_test, y_train, y_test``: a generated, noisy multi-class problem (offline).

    Noisy on purpose (``flip_y``), so single deep trees overfit and averaging helps.
    """
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    s = settings or demo_settings()
    X, y = make_classification(
        n_samples=s.n_samples, n_features=s.n_features, n_informative=s.n_informative,
        n_redundant=2, n_classes=s.n_classes, n_clusters_per_class=2, flip_y=0.05,
        class_sep=0.8, random_state=s.random_state,
    )
    return train_test_split(X, y, test_size=s.test_fraction, random_state=s.random_state, stratify=y)

"""The task functions the ensembles send to workers (module level, so they pickle by name).

Each receives the shared training data (``X``, ``y``, scattered once per fit)
plus a small per-task payload. Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fit_full", "fit_score_fold", "fit_predict_fold"]


def fit_full(X: np.ndarray, y: np.ndarray, *, estimator: Any) -> Any:
    """Fit ``estimator`` on all the training data."""
    return estimator.fit(X, y)


def fit_score_fold(X: np.ndarray, y: np.ndarray, *, estimator: Any, train: np.ndarray, test: np.ndarray) -> float:
    """Fit on the ``train`` rows, return ``estimator.score`` on the ``test`` rows."""
    estimator.fit(X[train], y[train])
    return float(estimator.score(X[test], y[test]))


def fit_predict_fold(
    X: np.ndarray, y: np.ndarray, *, estimator: Any, train: np.ndarray, test: np.ndarray, method: str,
    n_classes: int,
) -> np.ndarray:
    """Fit on ``train`` rows and return ``method``'s output on the ``test`` rows (out-of-fold).

    ``predict_proba`` output always has ``n_classes`` columns (zeros for a class
    missing from this fold's training rows), so folds line up.
    """
    estimator.fit(X[train], y[train])
    out = getattr(estimator, method)(X[test])
    if method == "predict_proba":
        full = np.zeros((len(test), n_classes))
        full[:, np.asarray(estimator.classes_, dtype=int)] = out
        return full
    return np.asarray(out, dtype=float)

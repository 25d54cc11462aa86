"""The task functions the ensembles send to workers (module level, so they pickle by name).

Each receives the shared training data (``X``, ``y`` and, when the fit has
them, ``sample_weight``, scattered once per fit) plus a small per-task
payload. Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fit_full", "fit_score_fold", "fit_predict_fold"]


def _fit(estimator: Any, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None) -> Any:
    if sample_weight is None:
        return estimator.fit(X, y)
    return estimator.fit(X, y, sample_weight=sample_weight)


def fit_full(X: np.ndarray, y: np.ndarray, *, estimator: Any, sample_weight: np.ndarray | None = None) -> Any:
    """Fit ``estimator`` on all the training data (with the sample weights, if any)."""
    return _fit(estimator, X, y, sample_weight)


def fit_score_fold(X: np.ndarray, y: np.ndarray, *, estimator: Any, train: np.ndarray, test: np.ndarray,
                   sample_weight: np.ndarray | None = None) -> float:
    """Fit on the ``train`` rows, return ``estimator.score`` on the ``test`` rows (each with their weights).

    Weighted as ``GridSearchCV.fit(X, y, sample_weight=...)`` does (scikit-learn 1.9):
    the weights go to the fit and to the default scorer.
    """
    if sample_weight is None:
        estimator.fit(X[train], y[train])
        return float(estimator.score(X[test], y[test]))
    estimator.fit(X[train], y[train], sample_weight=sample_weight[train])
    return float(estimator.score(X[test], y[test], sample_weight=sample_weight[test]))


def fit_predict_fold(
    X: np.ndarray, y: np.ndarray, *, estimator: Any, train: np.ndarray, test: np.ndarray, method: str,
    n_classes: int, sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Fit on ``train`` rows and return ``method``'s output on the ``test`` rows (out-of-fold).

    ``predict_proba`` output always has ``n_classes`` columns (zeros for a class
    missing from this fold's training rows), so folds line up. The fit gets
    the ``train`` rows' weights when there are sample weights.
    """
    _fit(estimator, X[train], y[train], None if sample_weight is None else sample_weight[train])
    out = getattr(estimator, method)(X[test])
    if method == "predict_proba":
        full = np.zeros((len(test), n_classes))
        full[:, np.asarray(estimator.classes_, dtype=int)] = out
        return full
    return np.asarray(out, dtype=float)

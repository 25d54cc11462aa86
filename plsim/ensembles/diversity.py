"""How an ensemble improves with members, and how much its members disagree.

An ensemble only beats its members if they make *different* mistakes. Two
measurements show it:

* :func:`accuracy_curve`: test accuracy of the ensemble of the first 1, 2, ...,
  M members, next to each member's own accuracy;
* :func:`pairwise_disagreement`: the fraction of samples on which two members
  predict differently (0 = identical members, nothing to gain by voting).

Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["AccuracyCurve", "accuracy_curve", "pairwise_disagreement", "mean_disagreement"]


@dataclass(frozen=True)
class AccuracyCurve:
    """Measured test accuracy versus number of members.

    Attributes
    ----------
    n_members : ndarray
        1, 2, ..., M.
    ensemble : ndarray
        Accuracy of the ensemble of the first m members.
    members : ndarray
        Each member's own accuracy (length M).
    """

    n_members: np.ndarray
    ensemble: np.ndarray
    members: np.ndarray

    @property
    def member_mean(self) -> float:
        return float(self.members.mean())

    @property
    def member_best(self) -> float:
        return float(self.members.max())

    @property
    def gain(self) -> float:
        """Final ensemble accuracy minus the mean single-member accuracy."""
        return float(self.ensemble[-1] - self.member_mean)

    def __repr__(self) -> str:
        return (f"AccuracyCurve(measured on test data: {len(self.members)} members -> {self.ensemble[-1]:.3f}; "
                f"one member: mean {self.member_mean:.3f}, best {self.member_best:.3f})")


def accuracy_curve(ensemble: Any, X: Any, y: Any) -> AccuracyCurve:
    """Accuracy of the first 1..M members of a fitted ensemble on (X, y), and of each member.

    ``ensemble`` needs ``staged_predict`` (bagging, random subspaces) and
    ``predict_members``.
    """
    for method in ("staged_predict", "predict_members"):
        if not callable(getattr(ensemble, method, None)):
            raise TypeError(f"ensemble={type(ensemble).__name__} has no {method}(); use a plsim bagging ensemble")
    y = np.asarray(y)
    staged = np.array([np.mean(pred == y) for pred in ensemble.staged_predict(X)])
    members = np.mean(ensemble.predict_members(X) == y[None, :], axis=1)
    return AccuracyCurve(np.arange(1, len(staged) + 1), staged, members)


def pairwise_disagreement(predictions: Any) -> np.ndarray:
    """Fraction of samples on which members i and j predict differently.

    Parameters
    ----------
    predictions : array of shape (n_members, n_samples)
        Each member's predicted labels (``ensemble.predict_members(X)``).

    Returns
    -------
    ndarray of shape (n_members, n_members)
        Symmetric, zero diagonal, values in [0, 1].
    """
    p = np.asarray(predictions)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError(f"predictions must have shape (n_members, n_samples), got {p.shape}")
    return (p[:, None, :] != p[None, :, :]).mean(axis=2)


def mean_disagreement(predictions: Any) -> np.ndarray:
    """Each member's mean disagreement with the other members (0 for a single member)."""
    d = pairwise_disagreement(predictions)
    m = d.shape[0]
    return d.sum(axis=1) / max(m - 1, 1)

"""How an ensemble improves with members, and how much its members disagree.

An ensemble only beats its members if they make *different* mistakes. Two
measurements show it:

* :func:`accuracy_curve`: test accuracy of the ensemble of the first 1, 2, ...,
  M members, next to each member's own accuracy;
* :func:`pairwise_disagreement`: the fraction of samples on which two members
  predict differently (0 = identical members, nothing to gain by voting).

:func:`compare_with_members` sets an ensemble against its best member on the
same test rows, with the paired difference's interval
(:func:`plsim.accuracy.compare_accuracy`, an exact McNemar test): "beats" only
when the interval excludes 0.

Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from plsim.i18n import _
from plsim.accuracy import AccuracyComparison, compare_accuracy

__all__ = ["AccuracyCurve", "accuracy_curve", "pairwise_disagreement", "mean_disagreement", "error_correlation",
           "MemberComparison", "compare_with_members"]

CORRELATED = 0.5
"""Mean pairwise error correlation from which members are said to make the same mistakes."""
OUTCLASSED = 0.08
"""Accuracy gap (8 points) between the best member and the runner-up from which the others outvote it."""


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
        return (_("AccuracyCurve(measured on test data: {n_members} members -> {value:.3f}; "
                   "one member: mean {member_mean:.3f}, best {member_best:.3f})").format(n_members=len(self.members), value=self.ensemble[-1], member_mean=self.member_mean, member_best=self.member_best))


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


def error_correlation(predictions: Any, y: Any) -> float:
    """Mean pairwise Pearson correlation of the members' error indicators (1 = wrong on the same samples).

    Members that are never or always wrong (no variance) are left out of the
    pairs; ``nan`` when fewer than two members remain.
    """
    p = np.asarray(predictions)
    y = np.asarray(y)
    if p.ndim != 2 or p.shape[1] != y.shape[0]:
        raise ValueError(f"predictions must have shape (n_members, {y.shape[0]}) for {y.shape[0]} labels, got {p.shape}")
    errors = (p != y[None, :]).astype(float)
    errors = errors[errors.std(axis=1) > 0]
    if len(errors) < 2:
        return float("nan")
    r = np.corrcoef(errors)
    return float(r[~np.eye(len(r), dtype=bool)].mean())


@dataclass(frozen=True)
class MemberComparison:
    """A fitted ensemble's test accuracy next to each of its members' (all measured on the same data).

    ``versus_best`` pairs the ensemble with its best member on the same test
    rows (:class:`plsim.accuracy.AccuracyComparison`): the difference's
    interval decides whether the ensemble *beats* it, is *about as good as*
    it, or is *beaten by* it. Without it (a comparison built by hand from
    accuracies alone) the sign of the gain decides.
    """

    name: str
    ensemble_accuracy: float
    member_accuracy: dict[str, float]
    error_correlation: float
    versus_best: AccuracyComparison | None = None

    @property
    def best_member(self) -> str:
        return max(self.member_accuracy, key=self.member_accuracy.get)

    @property
    def best_accuracy(self) -> float:
        return self.member_accuracy[self.best_member]

    @property
    def gain(self) -> float:
        """Ensemble accuracy minus the best member's: > 0 when the ensemble earns its place."""
        return self.ensemble_accuracy - self.best_accuracy

    @property
    def relation(self) -> str:
        """``"beats"``, ``"is about as good as"`` or ``"is beaten by"`` its best member.

        From the paired interval when there is one (``versus_best``); from the
        sign of :attr:`gain` alone otherwise. A code that programs compare (the
        notebooks key their sentences by it): English in every language.
        """
        if self.versus_best is not None:
            return self.versus_best.relation
        return "beats" if self.gain > 0 else "is beaten by" if self.gain < 0 else "is about as good as"

    @property
    def beats_best(self) -> bool:
        """True only when the ensemble is measurably better than its best member (see :attr:`relation`)."""
        return self.relation == "beats"

    def _reasons_no_gain(self) -> str:
        ranked = sorted(self.member_accuracy.values(), reverse=True)
        r = self.error_correlation
        reasons = []
        if r >= CORRELATED:
            reasons.append(_("the members make largely the same mistakes (error correlation r "
                              "= {r:.2f})").format(r=r))
        if len(ranked) > 1 and ranked[0] - ranked[1] >= OUTCLASSED:
            reasons.append(_("the others are {value:.0f}+ points weaker than {best_member} and "
                              "outvote it where it is right").format(value=(ranked[0] - ranked[1]) * 100, best_member=self.best_member))
        if not reasons:
            reasons.append(_("its members' errors (r = {r:.2f}) do not cancel on this data").format(r=r))
        return _(" and ").join(reasons)

    def explain(self) -> str:
        """Whether the ensemble beats its best member (with the paired interval), and the likely reason."""
        head = (_("{name}: {ensemble_accuracy:.3f} against its best member ({best_member}, "
                   "{best_accuracy:.3f})").format(name=self.name, ensemble_accuracy=self.ensemble_accuracy, best_member=self.best_member, best_accuracy=self.best_accuracy))
        r = self.error_correlation
        evidence = "" if self.versus_best is None else f" ({self.versus_best.evidence()})"
        relation = self.relation
        if relation == "beats":
            better = _(" by {points:.1f} points").format(points=self.gain * 100) if self.versus_best is None else ""
            return (_("{head}: better{better}{evidence}. Its members are wrong on partly "
                       "different samples (error correlation r = {r:.2f}), so combining them "
                       "cancels some mistakes.").format(head=head, better=better, evidence=evidence, r=r))
        if relation == "is about as good as":
            if self.gain > 0:
                return (_("{head}: about as good as it{evidence}: the {value:.1f} points it "
                           "gains are within the noise of this test set, so this run does not "
                           "show that it earns its extra fits.").format(head=head, evidence=evidence, value=self.gain * 100))
            return (_("{head}: about as good as it{evidence}, so it does not earn its extra "
                       "fits here, because {reasons_no_gain}.").format(head=head, evidence=evidence, reasons_no_gain=self._reasons_no_gain()))
        if self.versus_best is None:
            evidence = _(" ({points:+.1f} points)").format(points=self.gain * 100)
        return _("{head}: worse{evidence}, because {reasons_no_gain}.").format(
            head=head, evidence=evidence, reasons_no_gain=self._reasons_no_gain())

    def __str__(self) -> str:
        return self.explain()


def compare_with_members(ensemble: Any, X: Any, y: Any, *, name: str | None = None) -> MemberComparison:
    """Test accuracy of a fitted voting or stacking ensemble next to each of its members'.

    ``ensemble`` needs ``predict``, ``predict_members`` and ``named_estimators_``
    (:class:`ParallelVotingClassifier`, :class:`ParallelStackingClassifier`).
    Taught in ``notebooks/02_ensembles.ipynb`` (when does an ensemble help?).
    """
    for attr in ("predict", "predict_members"):
        if not callable(getattr(ensemble, attr, None)):
            raise TypeError(f"ensemble={type(ensemble).__name__} has no {attr}(); use a fitted plsim voting "
                            "or stacking ensemble")
    names = list(getattr(ensemble, "named_estimators_", {}) or [])
    if not names:
        raise ValueError(f"ensemble={type(ensemble).__name__} is not fitted (no named_estimators_); call fit first")
    y = np.asarray(y)
    members = ensemble.predict_members(X)
    accuracy = {n: float(np.mean(pred == y)) for n, pred in zip(names, members, strict=True)}
    label = name or type(ensemble).__name__
    predicted = ensemble.predict(X)
    best = max(accuracy, key=accuracy.get)
    # Paired on the same test rows: only the rows where exactly one of the two is right tell them apart.
    versus_best = compare_accuracy(y, predicted, members[names.index(best)], name_a=label, name_b=best)
    return MemberComparison(label, float(np.mean(predicted == y)), accuracy, error_correlation(members, y),
                            versus_best)

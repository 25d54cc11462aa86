"""Voting over different algorithms, members trained in parallel on Dask.

Bagging makes members differ by giving them different data; voting makes them
differ by using different algorithms (a tree, a linear model, nearest
neighbours...). Each member is fitted on all the training data, as its own
task. ``voting="hard"`` takes the majority class; ``voting="soft"`` averages the
predicted probabilities. Regression averages the predictions.

Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.utils import Bunch
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from plsim.ensembles._base import (
    ParallelEnsembleMixin,
    allow_nan,
    check_estimator_like,
    hard_vote,
    member_proba,
    set_member_seed,
    soft_vote,
)
from plsim.ensembles._engine import run_tasks, shared_data, spawn_seeds
from plsim.ensembles._tasks import fit_full

__all__ = ["ParallelVotingClassifier", "ParallelVotingRegressor", "check_named_estimators"]


def check_named_estimators(estimators: Any, name: str = "estimators") -> list[tuple[str, Any]]:
    """Validate a non-empty list of ``(name, estimator)`` pairs with unique string names."""
    if isinstance(estimators, (str, bytes)) or not isinstance(estimators, Sequence) or len(estimators) == 0:
        raise ValueError(
            f"{name} must be a non-empty list of (name, estimator) pairs, got {estimators!r}"
        )
    pairs = []
    for item in estimators:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise TypeError(f"each entry of {name} must be a (name, estimator) pair, got {item!r}")
        check_estimator_like(item[1], f"{name}[{item[0]!r}]")
        pairs.append(item)
    names = [n for n, _ in pairs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{name} names must be unique; repeated: {duplicates}")
    bad = [n for n in names if "__" in n]
    if bad:
        raise ValueError(f"{name} names must not contain '__' (it separates nested parameters): {bad}")
    return pairs


def _check_weights(weights: Any, n: int) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(
            f"weights={weights!r} must be {n} non-negative numbers (one per estimator), not all zero"
        )
    return w


def fit_members(owner: Any, pairs: list[tuple[str, Any]], X: np.ndarray, y: np.ndarray,
                progress: Callable[[int, int], Any] | None) -> list[Any]:
    """Fit a clone of each named estimator on all of (X, y) as one task each; record times/workers.

    Members whose ``random_state`` is unset get a seed derived from
    ``owner.random_state`` and their position, when ``owner.random_state`` is set.
    """
    client = owner._resolved_client()
    members = [clone(est) for _, est in pairs]
    if owner.random_state is not None:
        for est, seq in zip(members, spawn_seeds(owner.random_state, len(members))):
            set_member_seed(est, seq, only_unset=True)
    with shared_data(client, X=X, y=y) as data:
        results = run_tasks(client, fit_full, data, [{"estimator": m} for m in members],
                            name=f"plsim-{type(owner).__name__.lower()}-member", progress=progress,
                            describe=lambda i: f"member {pairs[i][0]!r} of {type(owner).__name__}")
    owner._record_tasks(results)
    return [r.value for r in results]


class _BaseVoting(ParallelEnsembleMixin):
    def __sklearn_tags__(self):  # noqa: ANN204
        tags = super().__sklearn_tags__()
        try:
            tags.input_tags.allow_nan = allow_nan([e for _, e in self.estimators])
        except (TypeError, ValueError):
            tags.input_tags.allow_nan = False
        return tags

    def _validate(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, list, np.ndarray | None]:
        pairs = check_named_estimators(self.estimators)
        weights = _check_weights(self.weights, len(pairs))
        nan_ok = allow_nan([e for _, e in pairs])
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan" if nan_ok else True,
                             y_numeric=isinstance(self, RegressorMixin))
        return X, y, pairs, weights

    def _check_X(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        nan_ok = allow_nan(self.estimators_)
        return validate_data(self, X, reset=False, ensure_all_finite="allow-nan" if nan_ok else True)

    def _store(self, pairs: list, members: list, weights: np.ndarray | None) -> None:
        self.estimators_ = members
        self.named_estimators_ = Bunch(**{n: m for (n, _), m in zip(pairs, members)})
        self.weights_ = weights


class ParallelVotingClassifier(ClassifierMixin, _BaseVoting, BaseEstimator):
    """Different classifiers vote; each is trained as its own task on a Dask cluster.

    Parameters
    ----------
    estimators : list of (str, estimator)
        The members, e.g. ``[("tree", DecisionTreeClassifier()), ("lr", LogisticRegression())]``.
    voting : {"hard", "soft"}
        Majority of predicted classes, or highest mean probability (every member
        needs ``predict_proba``).
    weights : sequence of float, optional
        One non-negative weight per member (default: equal).
    client : dask.distributed.Client, "auto", joblib.Parallel or None
        Where to train the members; ``None`` trains them one after the other here.
    random_state : int, RandomState, Generator or None
        When set, members whose own ``random_state`` is ``None`` get a seed
        derived from it and their position (explicit member seeds are kept).

    Attributes
    ----------
    estimators_ : list
        Fitted members (trained on labels encoded as 0..n_classes-1).
    named_estimators_ : Bunch
        The fitted members by name.
    member_fit_times_ : ndarray
        Seconds each member's task took, measured where it ran.
    member_workers_ : list of str
        Worker that trained each member (``"local"`` when sequential).
    classes_ : ndarray
    """

    def __init__(self, estimators: list[tuple[str, Any]], *, voting: str = "hard", weights: Any = None,
                 client: Any = None, random_state: Any = None) -> None:
        self.estimators = estimators
        self.voting = voting
        self.weights = weights
        self.client = client
        self.random_state = random_state

    def fit(self, X: Any, y: Any, *, progress: Callable[[int, int], Any] | None = None) -> ParallelVotingClassifier:
        """Train every member (in parallel when a client is set)."""
        if self.voting not in ("hard", "soft"):
            raise ValueError(f"voting={self.voting!r} is not allowed; use 'hard' or 'soft'")
        X, y, pairs, weights = self._validate(X, y)
        if self.voting == "soft":
            for n, est in pairs:
                check_estimator_like(est, f"estimators[{n!r}]", need_proba=True)
        check_classification_targets(y)
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        self._store(pairs, fit_members(self, pairs, X, y_encoded, progress), weights)
        return self

    def _encoded_members(self, X: np.ndarray) -> np.ndarray:
        return np.stack([np.asarray(m.predict(X), dtype=int) for m in self.estimators_])

    def predict_members(self, X: Any) -> np.ndarray:
        """Each member's own predictions, shape (n_members, n_samples), as class labels."""
        X = self._check_X(X)
        return self.classes_[self._encoded_members(X)]

    def predict(self, X: Any) -> np.ndarray:
        """Majority class (hard) or class with the highest mean probability (soft)."""
        X = self._check_X(X)
        if self.voting == "soft":
            return self.classes_[np.argmax(self._proba(X), axis=1)]
        return self.classes_[hard_vote(self._encoded_members(X), len(self.classes_), self.weights_)]

    def _proba(self, X: np.ndarray) -> np.ndarray:
        return soft_vote([member_proba(m, X, len(self.classes_)) for m in self.estimators_], self.weights_)

    def _is_soft(self) -> bool:
        return self.voting == "soft"

    @available_if(_is_soft)
    def predict_proba(self, X: Any) -> np.ndarray:
        """Weighted mean of the members' probabilities (``voting='soft'`` only)."""
        return self._proba(self._check_X(X))


class ParallelVotingRegressor(RegressorMixin, _BaseVoting, BaseEstimator):
    """Different regressors average their predictions; each trained as its own task on Dask.

    Parameters
    ----------
    estimators : list of (str, estimator)
        The members.
    weights : sequence of float, optional
        One non-negative weight per member (default: equal).
    client : dask.distributed.Client, "auto", joblib.Parallel or None
        Where to train the members; ``None`` trains them one after the other here.
    random_state : int, RandomState, Generator or None
        Seeds members whose own ``random_state`` is ``None`` (see the classifier).
    """

    def __init__(self, estimators: list[tuple[str, Any]], *, weights: Any = None, client: Any = None,
                 random_state: Any = None) -> None:
        self.estimators = estimators
        self.weights = weights
        self.client = client
        self.random_state = random_state

    def fit(self, X: Any, y: Any, *, progress: Callable[[int, int], Any] | None = None) -> ParallelVotingRegressor:
        """Train every member (in parallel when a client is set)."""
        X, y, pairs, weights = self._validate(X, y)
        self._store(pairs, fit_members(self, pairs, X, y, progress), weights)
        return self

    def predict_members(self, X: Any) -> np.ndarray:
        """Each member's own predictions, shape (n_members, n_samples)."""
        X = self._check_X(X)
        return np.stack([m.predict(X) for m in self.estimators_])

    def predict(self, X: Any) -> np.ndarray:
        """Weighted mean of the members' predictions."""
        return np.average(self.predict_members(X), axis=0, weights=self.weights_)

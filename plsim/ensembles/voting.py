"""Voting over different algorithms, members trained in parallel on Dask.

Bagging makes members differ by giving them different data; voting makes them
differ by using different algorithms (a tree, a linear model, nearest
neighbours...). Each member is fitted on all the training data, as its own
task. ``voting="hard"`` takes the majority class; ``voting="soft"`` averages the
predicted probabilities. Regression averages the predictions.

Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    check_accepts_sample_weight,
    check_estimator_like,
    check_sample_weight,
    hard_vote,
    member_proba,
    member_seed,
    run_members,
    set_member_seed,
    soft_vote,
)
from plsim.ensembles._tasks import fit_full
from plsim.progress import check_callback
from plsim.validation import check_random_state

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
                callback: Any, sample_weight: np.ndarray | None = None,
                ) -> tuple[list[Any], np.ndarray, BaseException | None]:
    """Fit a clone of each named estimator on all of (X, y) as one task each; record times/workers.

    Members whose ``random_state`` is unset get the seed of branch
    ``("member", position)`` of ``owner.random_state``'s seed tree, when
    ``owner.random_state`` is set.
    ``sample_weight`` goes to every member's fit (as in scikit-learn's voting).
    Returns the fitted members, their positions and what stopped the fit early
    (see :func:`plsim.ensembles._base.run_members`).
    """
    ex = owner._executor()
    members = [clone(est) for _, est in pairs]
    if owner.random_state is not None:
        root = check_random_state(owner.random_state)
        for i, est in enumerate(members):
            set_member_seed(est, member_seed(root, i), only_unset=True)
    arrays = {"X": X, "y": y} if sample_weight is None else {"X": X, "y": y, "sample_weight": sample_weight}
    results, indices, stopped = run_members(
        ex, fit_full, arrays, [{"estimator": m} for m in members],
        name=f"plsim-{type(owner).__name__.lower()}-member", callback=callback,
        describe=lambda i: f"member {pairs[i][0]!r} of {type(owner).__name__}", what=f"{type(owner).__name__}.fit")
    owner._record_tasks(results)
    return [r.value for r in results], indices, stopped


class _BaseVoting(ParallelEnsembleMixin):
    def __sklearn_tags__(self):  # noqa: ANN204
        tags = super().__sklearn_tags__()
        try:
            tags.input_tags.allow_nan = allow_nan([e for _, e in self.estimators])
        except (TypeError, ValueError):
            tags.input_tags.allow_nan = False
        return tags

    def _validate(self, X: Any, y: Any, sample_weight: Any
                  ) -> tuple[np.ndarray, np.ndarray, list, np.ndarray | None, np.ndarray | None]:
        pairs = check_named_estimators(self.estimators)
        weights = _check_weights(self.weights, len(pairs))
        nan_ok = allow_nan([e for _, e in pairs])
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan" if nan_ok else True,
                             y_numeric=isinstance(self, RegressorMixin))
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        if sample_weight is not None:
            for name, est in pairs:
                check_accepts_sample_weight(est, f"estimators[{name!r}]")
        return X, y, pairs, weights, sample_weight

    def _check_X(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        nan_ok = allow_nan(self.estimators_)
        return validate_data(self, X, reset=False, ensure_all_finite="allow-nan" if nan_ok else True)

    def _store(self, pairs: list, fitted: tuple[list, np.ndarray, BaseException | None],
               weights: np.ndarray | None) -> None:
        """Keep the fitted members (all, or those that finished before a Stop or an interrupt)."""
        members, indices, stopped = fitted
        self.estimators_ = members
        self.named_estimators_ = Bunch(**{pairs[i][0]: m for i, m in zip(indices, members)})
        self.weights_ = None if weights is None else weights[indices]
        if self.weights_ is not None and self.weights_.sum() <= 0:
            self.weights_ = None  # only zero-weight members finished: they vote equally
        self._flag_partial(stopped, indices, len(pairs))


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
    executor : None, "auto", "sequential", dask.distributed.Client, joblib.Parallel or plsim.executor.Executor
        Where to train the members (:func:`plsim.executor.resolve_executor`);
        ``None`` trains them one after the other here.
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
    member_indices_ : ndarray
        Positions (in ``estimators``) of the fitted members: all unless ``partial_``.
    partial_ : bool
        True when the fit was stopped or interrupted and kept only the members that finished.
    stopped_reason_ : str or None
        ``None`` (complete), ``"stopped"`` (the callback asked) or ``"interrupted"``.
    weights_ : ndarray or None
        The weights of the fitted members.
    classes_ : ndarray
    """

    def __init__(self, estimators: list[tuple[str, Any]], *, voting: str = "hard", weights: Any = None,
                 executor: Any = None, random_state: Any = None) -> None:
        self.estimators = estimators
        self.voting = voting
        self.weights = weights
        self.executor = executor
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *,
            callback: Any = None) -> ParallelVotingClassifier:
        """Train every member (in parallel on a Dask or joblib executor).

        ``sample_weight`` (optional, one non-negative number per row) goes to
        every member's fit, as in scikit-learn's ``VotingClassifier``: every
        member must accept it. ``callback`` gets a :class:`plsim.progress.Progress`
        as each member finishes. Stopped (the callback returned True) or
        interrupted, the fit keeps the members that finished (``partial_``,
        ``member_indices_``, ``stopped_reason_``; their ``weights`` only), as
        :meth:`plsim.ensembles.ParallelBaggingClassifier.fit` does.
        """
        check_callback(callback)
        if self.voting not in ("hard", "soft"):
            raise ValueError(f"voting={self.voting!r} is not allowed; use 'hard' or 'soft'")
        X, y, pairs, weights, sample_weight = self._validate(X, y, sample_weight)
        if self.voting == "soft":
            for n, est in pairs:
                check_estimator_like(est, f"estimators[{n!r}]", need_proba=True)
        check_classification_targets(y)
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        self._store(pairs, fit_members(self, pairs, X, y_encoded, callback, sample_weight), weights)
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
    executor : None, "auto", "sequential", dask.distributed.Client, joblib.Parallel or plsim.executor.Executor
        Where to train the members; ``None`` trains them one after the other here.
    random_state : int, RandomState, Generator or None
        Seeds members whose own ``random_state`` is ``None`` (see the classifier).

    Attributes
    ----------
    estimators_, named_estimators_, member_fit_times_, member_workers_, member_indices_, partial_, stopped_reason_,
    weights_
        As for :class:`ParallelVotingClassifier`.
    """

    def __init__(self, estimators: list[tuple[str, Any]], *, weights: Any = None, executor: Any = None,
                 random_state: Any = None) -> None:
        self.estimators = estimators
        self.weights = weights
        self.executor = executor
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *,
            callback: Any = None) -> ParallelVotingRegressor:
        """Train every member (in parallel on a Dask or joblib executor); as :meth:`ParallelVotingClassifier.fit`."""
        check_callback(callback)
        X, y, pairs, weights, sample_weight = self._validate(X, y, sample_weight)
        self._store(pairs, fit_members(self, pairs, X, y, callback, sample_weight), weights)
        return self

    def predict_members(self, X: Any) -> np.ndarray:
        """Each member's own predictions, shape (n_members, n_samples)."""
        X = self._check_X(X)
        return np.stack([m.predict(X) for m in self.estimators_])

    def predict(self, X: Any) -> np.ndarray:
        """Weighted mean of the members' predictions."""
        return np.average(self.predict_members(X), axis=0, weights=self.weights_)

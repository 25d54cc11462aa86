"""Bagging, random subspaces and random patches, members trained in parallel on Dask.

Each member is the base estimator fitted on its own random draw of the rows
(``max_samples``, ``bootstrap``) and/or the columns (``max_features``,
``bootstrap_features``) of the training data:

==========================  ===========================================================
bagging                     ``ParallelBaggingClassifier(bootstrap=True)`` (rows, with replacement)
random subspaces            ``RandomSubspaceClassifier(max_features=0.5)`` (columns only)
random patches              ``ParallelBaggingClassifier(max_samples=0.5, max_features=0.5)``
==========================  ===========================================================

The members never look at each other, so they are trained as independent tasks:
one after the other in this process (``executor=None``) or at the same time on
the workers of a ``dask.distributed.Client``. Member ``i`` draws its rows and
columns from branch ``("member", i)`` of the seed tree rooted at
``random_state`` (:mod:`plsim._random`), so the fitted members and the
predictions are identical either way -- even when a worker dies mid-fit and
its members are re-run elsewhere.

Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from plsim.ensembles._base import (
    ParallelEnsembleMixin,
    allow_nan,
    check_accepts_sample_weight,
    check_estimator_like,
    check_sample_weight,
    member_proba,
    member_seed,
    run_members,
    set_member_seed,
)
from plsim.validation import check_positive_int
from plsim._random import check_random_state, seed_int
from plsim.progress import check_callback

__all__ = [
    "ParallelBaggingClassifier",
    "ParallelBaggingRegressor",
    "RandomSubspaceClassifier",
    "RandomSubspaceRegressor",
    "draw_indices",
]


def _draw_count(value: Any, total: int, name: str, bootstrap: bool, of: float | None = None) -> int:
    """How many rows/columns ``max_samples``/``max_features`` asks for out of ``total``.

    A fraction is taken of ``of`` when given (the sum of the sample weights,
    scikit-learn's rule for weighted bootstrap samples), else of ``total``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be an int (a count) or a float in (0, 1] (a fraction), got {value!r}")
    if isinstance(value, numbers.Integral):
        if not 1 <= value <= total and not (bootstrap and value >= 1):
            raise ValueError(f"{name}={value!r} must be between 1 and {total} (the number available)")
        return int(value)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name}={value!r} must be a fraction in (0, 1] or an integer count")
    return max(1, int(value * (total if of is None else of)))


def draw_indices(
    seed: int, n_samples: int, n_features: int, n_rows: int, bootstrap: bool, n_cols: int,
    bootstrap_features: bool, p: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The rows and columns one member trains on, from its seed (and the row probabilities) alone.

    Rows are drawn with replacement when ``bootstrap`` (a bootstrap sample),
    otherwise without. Columns likewise with ``bootstrap_features``; without it
    they are a sorted random subset (a random subspace). ``p`` (bootstrap
    only) gives each row's probability of being drawn: the normalised sample
    weights, as in scikit-learn's ``BaggingClassifier`` since 1.8.
    """
    rng = np.random.default_rng(seed)
    if n_cols == n_features and not bootstrap_features:
        features = np.arange(n_features)
    elif bootstrap_features:
        features = rng.integers(0, n_features, n_cols)
    else:
        features = np.sort(rng.choice(n_features, n_cols, replace=False))
    if n_rows == n_samples and not bootstrap:
        samples = np.arange(n_samples)
    elif bootstrap and p is not None:
        samples = rng.choice(n_samples, n_rows, replace=True, p=p)
    elif bootstrap:
        samples = rng.integers(0, n_samples, n_rows)
    else:
        samples = np.sort(rng.choice(n_samples, n_rows, replace=False))
    return samples, features


def fit_on(X: np.ndarray, y: np.ndarray, estimator: Any, samples: np.ndarray, features: np.ndarray,
           sample_weight: np.ndarray | None = None) -> Any:
    """Fit ``estimator`` on the given rows and columns of ``X`` (one member's training set).

    With ``sample_weight`` the member's fit gets the weights of its rows.
    """
    if sample_weight is None:
        return estimator.fit(X[np.ix_(samples, features)], y[samples])
    return estimator.fit(X[np.ix_(samples, features)], y[samples], sample_weight=sample_weight[samples])


def _fit_member(X: np.ndarray, y: np.ndarray, *, estimator: Any, draw: tuple, sample_weight: np.ndarray | None = None,
                weights_to: str = "draw") -> tuple[Any, np.ndarray]:
    """Task: fit one member on its rows/columns (runs on a worker or here).

    ``weights_to="draw"``: the sample weights are the rows' probabilities of
    being drawn; ``"fit"``: they are passed to the member's fit.
    """
    p = None if sample_weight is None or weights_to != "draw" else sample_weight / sample_weight.sum()
    samples, features = draw_indices(*draw, p=p)
    return fit_on(X, y, estimator, samples, features, sample_weight if weights_to == "fit" else None), features


class _BaseBagging(ParallelEnsembleMixin):
    """Shared fit / staged prediction; subclasses say how rows and columns are drawn."""

    _default_estimator: type
    _task_name = "plsim-bagging-member"

    def _sampling(self) -> tuple[Any, bool, Any, bool]:
        return self.max_samples, self.bootstrap, self.max_features, self.bootstrap_features

    def _base_estimator(self) -> Any:
        return self._default_estimator() if self.estimator is None else self.estimator

    def __sklearn_tags__(self):  # noqa: ANN204 - scikit-learn's Tags object
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = allow_nan([self._base_estimator()])
        return tags

    def _validate_fit(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, Any, int]:
        n_estimators = check_positive_int("n_estimators", self.n_estimators)
        base = self._base_estimator()
        check_estimator_like(base, "estimator")
        nan_ok = allow_nan([base])
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan" if nan_ok else True,
                             y_numeric=not self._is_classifier())
        return X, y, base, n_estimators

    def _is_classifier(self) -> bool:
        return isinstance(self, ClassifierMixin)

    def _fit(self, X: np.ndarray, y_fit: np.ndarray, base: Any, n_estimators: int,
             callback: Any, sample_weight: Any = None) -> None:
        max_samples, bootstrap, max_features, bootstrap_features = self._sampling()
        n_samples, n_features = X.shape
        w = check_sample_weight(sample_weight, n_samples)
        # Bootstrap: the weights are the rows' probabilities of being drawn (scikit-learn >= 1.8);
        # equal weights draw as no weights do. Without bootstrap: each member's fit gets them.
        weights_to = "draw" if bootstrap else "fit"
        if w is not None and weights_to == "fit":
            check_accepts_sample_weight(base, "estimator")
        n_rows = _draw_count(max_samples, n_samples, "max_samples", bool(bootstrap),
                             of=w.sum() if w is not None and bootstrap else None)
        if w is not None and bootstrap and isinstance(max_samples, float) and n_rows < max(10, n_samples ** (1 / 3)):
            warnings.warn(f"max_samples={max_samples} of the sample weights' sum ({w.sum():.3g}) draws only {n_rows} "
                          f"rows per member out of {n_samples}: weights count like copies of a row (scikit-learn's "
                          "rule); scale them up (e.g. to sum to the number of rows) or give max_samples as a count",
                          UserWarning, stacklevel=3)
        n_cols = _draw_count(max_features, n_features, "max_features", bool(bootstrap_features))
        if w is not None and weights_to == "draw" and np.all(w == w[0]):
            w = None
        ex = self._executor()
        root = check_random_state(self.random_state)
        draws, tasks = [], []
        for seq in (member_seed(root, i) for i in range(n_estimators)):
            draw = (seed_int(seq, 1), n_samples, n_features, n_rows, bool(bootstrap), n_cols,
                    bool(bootstrap_features))
            draws.append(draw)
            tasks.append({"estimator": set_member_seed(clone(base), seq), "draw": draw, "weights_to": weights_to})
        arrays = {"X": X, "y": y_fit} if w is None else {"X": X, "y": y_fit, "sample_weight": w}
        results, indices, stopped = run_members(
            ex, _fit_member, arrays, tasks, name=self._task_name, callback=callback,
            describe=lambda i: f"member {i} of {type(self).__name__}", what=f"{type(self).__name__}.fit")
        self.estimators_ = [r.value[0] for r in results]
        self.estimators_features_ = [r.value[1] for r in results]
        self._draws = [draws[i] for i in indices]
        self._draw_p = None if w is None or weights_to != "draw" else w / w.sum()
        self._record_tasks(results)
        self._flag_partial(stopped, indices, n_estimators)

    @property
    def estimators_samples_(self) -> list[np.ndarray]:
        """Row indices each member was trained on (recomputed from its seed)."""
        check_is_fitted(self)
        return [draw_indices(*d, p=self._draw_p)[0] for d in self._draws]

    def _member_outputs(self, X: np.ndarray) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def _check_X(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        nan_ok = allow_nan([self._base_estimator()])
        return validate_data(self, X, reset=False, ensure_all_finite="allow-nan" if nan_ok else True)


_BAGGING_PARAMS_DOC = """
    Parameters
    ----------
    estimator : estimator, optional
        The base estimator every member is a copy of (default: a decision tree).
    n_estimators : int
        Number of members (>= 1).
    max_samples : int or float
        Rows per member: a count, or a fraction of the training rows.
    max_features : int or float
        Columns per member: a count, or a fraction (< 1 gives random subspaces).
    bootstrap : bool
        Draw rows with replacement (bagging) or without (pasting).
    bootstrap_features : bool
        Draw columns with replacement.
    executor : None, "auto", "sequential", dask.distributed.Client, joblib.Parallel or plsim.executor.Executor
        Where members train (:func:`plsim.executor.resolve_executor`): ``None``
        trains them one after the other here; a ``Client`` (e.g. from
        ``plsim.start_cluster``) on its workers; ``"auto"`` on the cluster plsim
        started if one is running; a ``joblib.Parallel`` through joblib (same members).
    random_state : int, RandomState, Generator or None
        Seeds every member (rows, columns and the member's own ``random_state``)
        from ``random_state`` and the member's index: same value, same members,
        wherever they are trained.
"""


class ParallelBaggingClassifier(ClassifierMixin, _BaseBagging, BaseEstimator):
    __doc__ = (
        "Bagging classifier whose members are trained in parallel on a Dask cluster.\n"
        + _BAGGING_PARAMS_DOC
        + """
    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members (trained on labels encoded as 0..n_classes-1).
    estimators_features_ : list of ndarray
        Column indices each member uses.
    estimators_samples_ : list of ndarray
        Row indices each member was trained on.
    member_fit_times_ : ndarray
        Seconds each member's task took, measured where it ran.
    member_workers_ : list of str
        Address of the worker that trained each member (``"local"`` when sequential).
    member_indices_ : ndarray
        Which of the ``n_estimators`` members were fitted (all of them unless ``partial_``).
    partial_ : bool
        True when the fit was stopped or interrupted and kept only the members that finished.
    stopped_reason_ : str or None
        ``None`` (complete), ``"stopped"`` (the callback asked) or ``"interrupted"``.
    classes_ : ndarray
        Class labels.

    Examples
    --------
    >>> import plsim
    >>> from plsim.ensembles import ParallelBaggingClassifier
    >>> client = plsim.start_cluster(n_workers=2, quiet=True)      # doctest: +SKIP
    >>> model = ParallelBaggingClassifier(n_estimators=16, executor=client, random_state=0)
    """
    )

    _default_estimator = DecisionTreeClassifier

    def __init__(self, estimator: Any = None, n_estimators: int = 10, *, max_samples: float | int = 1.0,
                 max_features: float | int = 1.0, bootstrap: bool = True, bootstrap_features: bool = False,
                 executor: Any = None, random_state: Any = None) -> None:
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.bootstrap_features = bootstrap_features
        self.executor = executor
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *,
            callback: Any = None) -> ParallelBaggingClassifier:
        """Train the members (in parallel on a Dask or joblib executor).

        Parameters
        ----------
        X, y : array-like
            Training data and targets.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights, as scikit-learn's bagging takes them: with
            ``bootstrap=True`` they are each row's probability of being drawn
            (and a fractional ``max_samples`` is a fraction of their sum, so an
            integer weight counts like as many copies of the row); the base
            estimator need not accept ``sample_weight``. Without bootstrap
            (pasting, random subspaces) each member's fit gets the weights of
            its rows, so the base estimator must accept ``sample_weight``.
        callback : callable, optional
            Called here (never on a worker) with a :class:`plsim.progress.Progress`
            (``unit="member"``, ``record`` the member's
            :class:`plsim.executor.TaskResult`) as each member finishes; a
            truthy return stops the fit.

        Stopped (the callback returned True) or interrupted
        (``KeyboardInterrupt``, the kernel's interrupt button), the fit cancels
        the members still pending and keeps those that finished: ``partial_``
        is True, ``stopped_reason_`` says why and ``member_indices_`` lists
        them (member ``i`` equals member ``i`` of the complete fit). A stop
        returns the estimator, without a warning; an interrupt issues a
        :class:`plsim.ensembles.PartialResultWarning` saying how many members
        were kept and is re-raised, so the cell still stops (keep the model in
        a variable before ``fit`` to use them).
        """
        check_callback(callback)
        X, y, base, n_estimators = self._validate_fit(X, y)
        check_classification_targets(y)
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        self._fit(X, y_encoded, base, n_estimators, callback, sample_weight)
        return self

    def _member_probas(self, X: np.ndarray) -> Iterator[np.ndarray]:
        for member, features in zip(self.estimators_, self.estimators_features_):
            yield member_proba(member, X[:, features], len(self.classes_))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Mean of the members' class probabilities (one-hot votes for members without them)."""
        X = self._check_X(X)
        return sum(self._member_probas(X)) / len(self.estimators_)

    def predict(self, X: Any) -> np.ndarray:
        """The class with the highest mean probability."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def staged_predict(self, X: Any) -> Iterator[np.ndarray]:
        """Predictions of the ensemble of the first 1, 2, ..., n_estimators members."""
        X = self._check_X(X)
        total = np.zeros((X.shape[0], len(self.classes_)))
        for proba in self._member_probas(X):
            total += proba
            yield self.classes_[np.argmax(total, axis=1)]

    def predict_members(self, X: Any) -> np.ndarray:
        """Each member's own predictions, shape (n_members, n_samples), as class labels."""
        X = self._check_X(X)
        return np.stack([self.classes_[np.argmax(p, axis=1)] for p in self._member_probas(X)])


class ParallelBaggingRegressor(RegressorMixin, _BaseBagging, BaseEstimator):
    __doc__ = (
        "Bagging regressor whose members are trained in parallel on a Dask cluster.\n"
        + _BAGGING_PARAMS_DOC
        + """
    Attributes
    ----------
    estimators_, estimators_features_, estimators_samples_, member_fit_times_, member_workers_
    member_indices_, partial_, stopped_reason_
        As for :class:`ParallelBaggingClassifier`.
    """
    )

    _default_estimator = DecisionTreeRegressor

    def __init__(self, estimator: Any = None, n_estimators: int = 10, *, max_samples: float | int = 1.0,
                 max_features: float | int = 1.0, bootstrap: bool = True, bootstrap_features: bool = False,
                 executor: Any = None, random_state: Any = None) -> None:
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.bootstrap_features = bootstrap_features
        self.executor = executor
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *,
            callback: Any = None) -> ParallelBaggingRegressor:
        """Train the members (in parallel on a Dask or joblib executor); as :meth:`ParallelBaggingClassifier.fit`."""
        check_callback(callback)
        X, y, base, n_estimators = self._validate_fit(X, y)
        self._fit(X, y, base, n_estimators, callback, sample_weight)
        return self

    def predict_members(self, X: Any) -> np.ndarray:
        """Each member's own predictions, shape (n_members, n_samples)."""
        X = self._check_X(X)
        return np.stack([m.predict(X[:, f]) for m, f in zip(self.estimators_, self.estimators_features_)])

    def predict(self, X: Any) -> np.ndarray:
        """Mean of the members' predictions."""
        return self.predict_members(X).mean(axis=0)

    def staged_predict(self, X: Any) -> Iterator[np.ndarray]:
        """Predictions of the ensemble of the first 1, 2, ..., n_estimators members."""
        total = None
        for m, pred in enumerate(self.predict_members(X), start=1):
            total = pred.astype(float) if total is None else total + pred
            yield total / m


class RandomSubspaceClassifier(ParallelBaggingClassifier):
    """Random subspace method: every member sees all rows but only a random subset of the columns.

    Same as ``ParallelBaggingClassifier(max_samples=1.0, bootstrap=False,
    max_features=max_features, bootstrap_features=bootstrap_features)``.
    Parameters as there; ``max_features`` defaults to half the columns.
    """

    def __init__(self, estimator: Any = None, n_estimators: int = 10, *, max_features: float | int = 0.5,
                 bootstrap_features: bool = False, executor: Any = None, random_state: Any = None) -> None:
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.bootstrap_features = bootstrap_features
        self.executor = executor
        self.random_state = random_state

    def _sampling(self) -> tuple[Any, bool, Any, bool]:
        return 1.0, False, self.max_features, self.bootstrap_features


class RandomSubspaceRegressor(ParallelBaggingRegressor):
    """Random subspace regressor: all rows, a random subset of the columns per member.

    Same as ``ParallelBaggingRegressor(max_samples=1.0, bootstrap=False, max_features=...)``.
    """

    def __init__(self, estimator: Any = None, n_estimators: int = 10, *, max_features: float | int = 0.5,
                 bootstrap_features: bool = False, executor: Any = None, random_state: Any = None) -> None:
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.bootstrap_features = bootstrap_features
        self.executor = executor
        self.random_state = random_state

    def _sampling(self) -> tuple[Any, bool, Any, bool]:
        return 1.0, False, self.max_features, self.bootstrap_features

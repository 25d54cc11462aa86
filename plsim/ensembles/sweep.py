"""An ensemble from a hyperparameter sweep: train every configuration in parallel, the best vote.

A sweep (grid search) is the most parallel job in machine learning: every
configuration and every cross-validation fold is an independent fit. Instead of
keeping only the single best configuration, :class:`SweepEnsembleClassifier`
keeps the ``top_k`` best by mean CV score and lets them vote (their mistakes
differ, so the vote is usually at least as good as the best one alone).

Two rounds of tasks share one placement of the data: ``n_configs * cv`` fold
fits, then ``top_k`` refits on all the data.

Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import ParameterGrid, check_cv
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from plsim.ensembles._base import (
    ParallelEnsembleMixin,
    allow_nan,
    check_accepts_sample_weight,
    check_estimator_like,
    check_sample_weight,
    forget_fit,
    hard_vote,
    member_proba,
    member_seed,
    run_fits,
    set_member_seed,
    soft_vote,
)
from plsim.ensembles._tasks import fit_full, fit_score_fold
from plsim.executor import Run
from plsim.progress import check_callback
from plsim.validation import check_positive_int, check_random_state

__all__ = ["SweepEnsembleClassifier", "expand_grid"]


def expand_grid(param_grid: Any) -> list[dict[str, Any]]:
    """Every configuration of a grid: a dict of lists, or a list of such dicts.

    A value that is not a list/tuple/array is a single fixed value, so a list of
    plain parameter dicts (``[{"max_depth": 2}, {"max_depth": 5}]``) works too.
    """
    grids = [param_grid] if isinstance(param_grid, Mapping) else param_grid
    if isinstance(grids, (str, bytes)) or not isinstance(grids, Sequence) or len(grids) == 0:
        raise ValueError(f"param_grid must be a dict of value lists or a non-empty list of dicts, got {param_grid!r}")
    configs: list[dict[str, Any]] = []
    for grid in grids:
        if not isinstance(grid, Mapping):
            raise TypeError(f"every entry of param_grid must be a dict, got {grid!r}")
        wrapped = {k: (list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v]) for k, v in grid.items()}
        empty = [k for k, v in wrapped.items() if len(v) == 0]
        if empty:
            raise ValueError(f"param_grid gives no values for {empty}")
        configs.extend(ParameterGrid(wrapped))
    return configs


class SweepEnsembleClassifier(ClassifierMixin, ParallelEnsembleMixin, BaseEstimator):
    """Train every configuration of a sweep in parallel on Dask; the ``top_k`` best vote.

    Parameters
    ----------
    estimator : estimator
        The model whose hyperparameters are swept.
    param_grid : dict or list of dict
        ``{"max_depth": [2, 4, 8]}``, a list of such grids, or a list of single
        configurations (scalars are fixed values).
    top_k : int
        How many of the best configurations (by mean CV accuracy) vote.
    cv : int or splitter
        Cross-validation used to score each configuration (int: ``StratifiedKFold``).
    voting : {"hard", "soft"}
        How the kept configurations combine (soft needs ``predict_proba``).
    executor : None, "auto", "sequential", dask.distributed.Client, joblib.Parallel or plsim.executor.Executor
        Where to run the fits (:func:`plsim.executor.resolve_executor`); ``None``
        runs them one after the other here.
    random_state : int, RandomState, Generator or None
        Configuration ``i`` gets the seed of branch ``("member", i)`` of this
        seed tree (the same for its CV fits and its final refit).

    Attributes
    ----------
    cv_results_ : dict
        ``params``, ``mean_test_score``, ``std_test_score``, ``rank_test_score``,
        ``split<k>_test_score``, ``mean_fit_time`` (measured seconds), ``selected``.
    selected_ : ndarray
        Indices (into ``cv_results_["params"]``) of the kept configurations, best first.
    estimators_ : list
        The kept configurations refitted on all the data.
    member_fit_times_, member_workers_
        Seconds and worker of each refit.
    classes_ : ndarray
    """

    def __init__(self, estimator: Any, param_grid: Any, *, top_k: int = 3, cv: Any = 3, voting: str = "hard",
                 executor: Any = None, random_state: Any = None) -> None:
        self.estimator = estimator
        self.param_grid = param_grid
        self.top_k = top_k
        self.cv = cv
        self.voting = voting
        self.executor = executor
        self.random_state = random_state

    def __sklearn_tags__(self):  # noqa: ANN204
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = allow_nan([self.estimator])
        return tags

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *, callback: Any = None
            ) -> SweepEnsembleClassifier:
        """Score every configuration by CV (in parallel), keep the best ``top_k``, refit them.

        ``sample_weight`` (optional, one non-negative number per row) is used
        as ``GridSearchCV.fit(X, y, sample_weight=...)`` uses it: each fold's
        fit gets its training rows' weights, each fold's score (the
        estimator's ``score``) its test rows' weights, the refits all of them.
        ``callback`` gets a :class:`plsim.progress.Progress` (``unit="fit"``)
        as each fit finishes (CV fits, then refits: ``total`` counts both). A
        sweep needs every fold, so nothing partial is kept: stopped (the
        callback returned True), the pending fits are cancelled and the
        estimator is returned *unfitted* (no members; ``stopped_reason_ == "stopped"``);
        interrupted, they are cancelled and the ``KeyboardInterrupt`` re-raised.
        """
        check_callback(callback)
        forget_fit(self)
        check_estimator_like(self.estimator, "estimator", need_proba=self.voting == "soft")
        if self.voting not in ("hard", "soft"):
            raise ValueError(f"voting={self.voting!r} is not allowed; use 'hard' or 'soft'")
        top_k = check_positive_int("top_k", self.top_k)
        configs = expand_grid(self.param_grid)
        if top_k > len(configs):
            raise ValueError(f"top_k={top_k} is more than the {len(configs)} configurations in param_grid")
        nan_ok = allow_nan([self.estimator])
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan" if nan_ok else True)
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        if sample_weight is not None:
            check_accepts_sample_weight(self.estimator, "estimator")
            if "sample_weight" not in inspect.signature(self.estimator.score).parameters:
                raise TypeError(f"estimator={self.estimator!r} has a score method without sample_weight, "
                                "which a weighted sweep needs to score its folds")
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        splits = list(check_cv(self.cv, y_enc, classifier=True).split(X, y_enc))
        models = []
        root = check_random_state(self.random_state)
        for i, config in enumerate(configs):
            seq = member_seed(root, i)
            model = clone(self.estimator)
            try:
                model.set_params(**config)
            except ValueError as exc:
                raise ValueError(f"param_grid entry {config!r} does not fit {self.estimator!r}: {exc}") from None
            models.append(set_member_seed(model, seq, only_unset=True))
        n_cv = len(configs) * len(splits)
        total = n_cv + top_k
        ex = self._executor()
        arrays = {"X": X, "y": y_enc} if sample_weight is None else {"X": X, "y": y_enc, "sample_weight": sample_weight}
        ex.check_fits(sum(a.nbytes for a in arrays.values()), what=f"the training data ({', '.join(arrays)})")
        # an interrupt goes on: without every fold the configurations cannot be ranked, nothing to keep
        with Run("SweepEnsembleClassifier.fit", ex, keeps_partial=False) as run:
            with ex.shared(**arrays) as data:
                tasks = [{"estimator": clone(m), "train": tr, "test": te} for m in models for tr, te in splits]
                scored = run_fits(
                    ex, fit_score_fold, data, tasks, name="plsim-sweep-cv", callback=callback, unit="fit",
                    total=total, describe=lambda i: f"fold {i % len(splits)} of configuration {configs[i // len(splits)]}")
                scores = np.array([r.value for r in scored]).reshape(len(configs), len(splits))
                times = np.array([r.seconds for r in scored]).reshape(len(configs), len(splits))
                mean = scores.mean(axis=1)
                selected = np.array(sorted(range(len(configs)), key=lambda i: (-mean[i], i))[:top_k])
                refits = run_fits(
                    ex, fit_full, data, [{"estimator": clone(models[i])} for i in selected], name="plsim-sweep-refit",
                    callback=callback, unit="fit", offset=n_cv, total=total,
                    describe=lambda j: f"refit of configuration {configs[selected[j]]}")
        if run.stopped:
            self.stopped_reason_ = "stopped"
            return self
        order = np.argsort(-mean, kind="stable")
        rank = np.empty(len(configs), dtype=int)
        for position, i in enumerate(order):
            same = position > 0 and mean[i] == mean[order[position - 1]]
            rank[i] = rank[order[position - 1]] if same else position + 1
        self.cv_results_ = {
            "params": configs,
            "mean_test_score": mean,
            "std_test_score": scores.std(axis=1),
            "rank_test_score": rank,
            **{f"split{k}_test_score": scores[:, k] for k in range(len(splits))},
            "mean_fit_time": times.mean(axis=1),
            "selected": np.isin(np.arange(len(configs)), selected),
        }
        self.selected_ = selected
        self.estimators_ = [r.value for r in refits]
        self._record_tasks(refits)
        self.stopped_reason_ = None
        return self

    def _check_X(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        nan_ok = allow_nan(self.estimators_)
        return validate_data(self, X, reset=False, ensure_all_finite="allow-nan" if nan_ok else True)

    def predict_members(self, X: Any) -> np.ndarray:
        """Each kept configuration's predictions, shape (top_k, n_samples), as class labels."""
        X = self._check_X(X)
        return np.stack([self.classes_[np.asarray(m.predict(X), dtype=int)] for m in self.estimators_])

    def predict(self, X: Any) -> np.ndarray:
        """Vote of the kept configurations."""
        X = self._check_X(X)
        if self.voting == "soft":
            return self.classes_[np.argmax(self._proba(X), axis=1)]
        encoded = np.stack([np.asarray(m.predict(X), dtype=int) for m in self.estimators_])
        return self.classes_[hard_vote(encoded, len(self.classes_))]

    def _proba(self, X: np.ndarray) -> np.ndarray:
        return soft_vote([member_proba(m, X, len(self.classes_)) for m in self.estimators_])

    def _is_soft(self) -> bool:
        return self.voting == "soft"

    @available_if(_is_soft)
    def predict_proba(self, X: Any) -> np.ndarray:
        """Mean probability of the kept configurations (``voting='soft'`` only)."""
        return self._proba(self._check_X(X))

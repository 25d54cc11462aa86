"""Stacking: a final model learns how to combine the members, from out-of-fold predictions.

To train the final model without leaking, each member's predictions on a
training row must come from a copy of the member that did not see that row.
So every member is fitted once per cross-validation fold (predicting the
held-out fold) plus once on all the data (used at prediction time):
``n_members * (cv + 1)`` independent tasks, all run at the same time on the
cluster. Only the small final model is fitted here, on the stacked predictions.

Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from plsim.i18n import _
from plsim.ensembles._base import (
    ParallelEnsembleMixin,
    allow_nan,
    check_accepts_sample_weight,
    check_estimator_like,
    check_sample_weight,
    forget_fit,
    member_seed,
    run_fits,
    set_member_seed,
)
from plsim.ensembles._tasks import fit_full, fit_predict_fold
from plsim.ensembles.voting import check_named_estimators
from plsim.executor import Run
from plsim.progress import check_callback
from plsim.validation import check_random_state

__all__ = ["ParallelStackingClassifier"]


def _stack_task(X: np.ndarray, y: np.ndarray, *, estimator: Any, train: np.ndarray | None = None,
                test: np.ndarray | None = None, method: str = "predict", n_classes: int = 0,
                sample_weight: np.ndarray | None = None) -> Any:
    """Task: an out-of-fold fit (``train``/``test`` given) or a fit on all the data."""
    if train is None:
        return fit_full(X, y, estimator=estimator, sample_weight=sample_weight)
    return fit_predict_fold(X, y, estimator=estimator, train=train, test=test, method=method,
                            n_classes=n_classes, sample_weight=sample_weight)

_METHODS = ("predict_proba", "decision_function", "predict")


class ParallelStackingClassifier(ClassifierMixin, ParallelEnsembleMixin, BaseEstimator):
    """Stacked generalisation with the members' cross-validation fits run in parallel on Dask.

    Parameters
    ----------
    estimators : list of (str, estimator)
        The level-0 members.
    final_estimator : estimator, optional
        Learns from the members' out-of-fold outputs (default: ``LogisticRegression()``).
    cv : int or cross-validation splitter
        Folds for the out-of-fold predictions (an int means ``StratifiedKFold(cv)``).
        The folds must cover every training row exactly once.
    stack_method : {"auto", "predict_proba", "decision_function", "predict"}
        Which member output is stacked; ``"auto"`` takes the first one available
        in that order. With two classes only the second probability column is kept.
    passthrough : bool
        Also give the final estimator the original features.
    executor : None, "auto", "sequential", dask.distributed.Client, joblib.Parallel or plsim.executor.Executor
        Where to run the ``n_members * (cv + 1)`` fits (:func:`plsim.executor.resolve_executor`);
        ``None``: one after the other here.
    random_state : int, RandomState, Generator or None
        When set, members (and the final estimator) whose own ``random_state`` is
        ``None`` get the seed of branch ``("member", position)`` of its seed tree
        (the final estimator is position ``n_members``).

    Attributes
    ----------
    estimators_ : list
        Members fitted on all the training data.
    named_estimators_ : Bunch
    final_estimator_ : estimator
    stack_method_ : list of str
    member_fit_times_ : ndarray
        Seconds of each member's full fit, measured where it ran.
    member_workers_ : list of str
        Worker of each member's full fit.
    cv_fit_times_ : ndarray of shape (n_members, n_folds)
        Seconds of each out-of-fold fit.
    classes_ : ndarray
    """

    def __init__(self, estimators: list[tuple[str, Any]], final_estimator: Any = None, *, cv: Any = 5,
                 stack_method: str = "auto", passthrough: bool = False, executor: Any = None,
                 random_state: Any = None) -> None:
        self.estimators = estimators
        self.final_estimator = final_estimator
        self.cv = cv
        self.stack_method = stack_method
        self.passthrough = passthrough
        self.executor = executor
        self.random_state = random_state

    def __sklearn_tags__(self):  # noqa: ANN204
        tags = super().__sklearn_tags__()
        try:
            tags.input_tags.allow_nan = allow_nan([e for _, e in self.estimators])
        except (TypeError, ValueError):
            tags.input_tags.allow_nan = False
        return tags

    def _methods(self, pairs: list) -> list[str]:
        if self.stack_method not in ("auto", *_METHODS):
            raise ValueError(
                f"stack_method={self.stack_method!r} is not allowed; use 'auto' or one of {list(_METHODS)}"
            )
        methods = []
        for name, est in pairs:
            wanted = _METHODS if self.stack_method == "auto" else (self.stack_method,)
            found = next((m for m in wanted if hasattr(est, m)), None)
            if found is None:
                raise ValueError(f"estimators[{name!r}] has no {self.stack_method} method")
            methods.append(found)
        return methods

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *, callback: Any = None
            ) -> ParallelStackingClassifier:
        """Fit members per fold and on all data (in parallel on a Dask or joblib executor), then the final model.

        ``sample_weight`` (optional, one non-negative number per row) goes, as
        in scikit-learn's ``StackingClassifier``, to every member's fit (each
        fold's fit gets its training rows' weights) and to the final
        estimator's fit; all of them must accept it. ``callback`` gets a
        :class:`plsim.progress.Progress` (``unit="fit"``) as each fit finishes.
        The final model needs every fold, so nothing partial is kept: stopped
        (the callback returned True), the pending fits are cancelled and the
        estimator is returned *unfitted* (no members: ``predict`` raises
        ``NotFittedError``; ``stopped_reason_ == "stopped"``); interrupted, they are cancelled and the
        ``KeyboardInterrupt`` is re-raised.
        """
        check_callback(callback)
        forget_fit(self)
        pairs = check_named_estimators(self.estimators)
        final = LogisticRegression() if self.final_estimator is None else self.final_estimator
        check_estimator_like(final, "final_estimator")
        methods = self._methods(pairs)
        nan_ok = allow_nan([e for _, e in pairs])
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan" if nan_ok else True)
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        if sample_weight is not None:
            for name, est in pairs:
                check_accepts_sample_weight(est, f"estimators[{name!r}]")
            check_accepts_sample_weight(final, "final_estimator")
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        splits = [(np.asarray(tr), np.asarray(te))
                  for tr, te in check_cv(self.cv, y_enc, classifier=True).split(X, y_enc)]
        covered = np.concatenate([te for _, te in splits])
        if len(covered) != len(y) or not np.array_equal(np.sort(covered), np.arange(len(y))):
            raise ValueError(f"cv={self.cv!r} must put every training row in exactly one test fold")

        members = [clone(e) for _, e in pairs]
        final = clone(final)
        if self.random_state is not None:
            root = check_random_state(self.random_state)
            for i, est in enumerate(members):
                set_member_seed(est, member_seed(root, i), only_unset=True)
            set_member_seed(final, member_seed(root, len(members)), only_unset=True)

        tasks_full = [{"estimator": clone(m)} for m in members]
        tasks_oof = [
            {"estimator": clone(m), "train": tr, "test": te, "method": meth, "n_classes": n_classes}
            for m, meth in zip(members, methods) for tr, te in splits
        ]
        ex = self._executor()
        # One batch of independent tasks (all folds of all members, then the full
        # fits) sharing the one placement of X and y: no barrier between them.
        n_oof = len(tasks_oof)

        def describe(i: int) -> str:
            if i < n_oof:
                return _("fold {fold} of member {member!r}").format(fold=i % len(splits), member=pairs[i // len(splits)][0])
            return _("member {member!r} (all data)").format(member=pairs[i - n_oof][0])

        arrays = {"X": X, "y": y_enc} if sample_weight is None else {"X": X, "y": y_enc, "sample_weight": sample_weight}
        ex.check_fits(sum(a.nbytes for a in arrays.values()), what=f"the training data ({', '.join(arrays)})")
        # an interrupt goes on: without all its folds a stacking fit has no usable part to keep
        with Run("ParallelStackingClassifier.fit", ex, keeps_partial=False) as run:
            with ex.shared(**arrays) as data:
                results = run_fits(ex, _stack_task, data, tasks_oof + tasks_full, name="plsim-stacking-fit",
                                   callback=callback, describe=describe, unit="fit")
        if run.stopped:
            self.stopped_reason_ = "stopped"
            return self
        oof, full = results[:n_oof], results[n_oof:]

        blocks = []
        for j, meth in enumerate(methods):
            width = oof[j * len(splits)].value.reshape(len(splits[0][1]), -1).shape[1]
            block = np.zeros((len(y), width))
            for f, (_train, te) in enumerate(splits):
                block[te] = oof[j * len(splits) + f].value.reshape(len(te), -1)
            blocks.append(self._trim(block, meth))
        meta = np.hstack(blocks + ([X] if self.passthrough else []))
        self.final_estimator_ = (final.fit(meta, y_enc) if sample_weight is None
                                 else final.fit(meta, y_enc, sample_weight=sample_weight))
        self.estimators_ = [r.value for r in full]
        self.named_estimators_ = Bunch(**{n: m for (n, _), m in zip(pairs, self.estimators_)})
        self.stack_method_ = methods
        self._record_tasks(full)
        self.cv_fit_times_ = np.array([r.seconds for r in oof]).reshape(len(members), len(splits))
        self.stopped_reason_ = None
        return self

    def _trim(self, block: np.ndarray, method: str) -> np.ndarray:
        if method == "predict_proba" and len(self.classes_) == 2:
            return block[:, 1:]
        return block

    def meta_features(self, X: Any) -> np.ndarray:
        """The members' stacked outputs on X (the final estimator's input)."""
        check_is_fitted(self)
        nan_ok = allow_nan(self.estimators_)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan" if nan_ok else True)
        blocks = []
        for member, meth in zip(self.estimators_, self.stack_method_):
            out = getattr(member, meth)(X)
            if meth == "predict_proba":
                full = np.zeros((X.shape[0], len(self.classes_)))
                full[:, np.asarray(member.classes_, dtype=int)] = out
                out = full
            blocks.append(self._trim(np.asarray(out, dtype=float).reshape(X.shape[0], -1), meth))
        return np.hstack(blocks + ([X] if self.passthrough else []))

    def predict_members(self, X: Any) -> np.ndarray:
        """Each member's own predictions, shape (n_members, n_samples), as class labels."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan" if allow_nan(self.estimators_) else True)
        return np.stack([self.classes_[np.asarray(m.predict(X), dtype=int)] for m in self.estimators_])

    def predict(self, X: Any) -> np.ndarray:
        """The final estimator's prediction from the members' outputs."""
        meta = self.meta_features(X)
        return self.classes_[np.asarray(self.final_estimator_.predict(meta), dtype=int)]

    def _final_has_proba(self) -> bool:
        est = getattr(self, "final_estimator_", None)
        if est is None:
            est = LogisticRegression() if self.final_estimator is None else self.final_estimator
        return hasattr(est, "predict_proba")

    @available_if(_final_has_proba)
    def predict_proba(self, X: Any) -> np.ndarray:
        """The final estimator's class probabilities (columns follow ``classes_``)."""
        meta = self.meta_features(X)
        full = np.zeros((meta.shape[0], len(self.classes_)))
        full[:, np.asarray(self.final_estimator_.classes_, dtype=int)] = self.final_estimator_.predict_proba(meta)
        return full

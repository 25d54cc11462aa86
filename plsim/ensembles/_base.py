"""What every plsim ensemble shares: the client parameter, input checks, combining members.

Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.utils import get_tags

from plsim.ensembles._engine import resolve_client, seed_int

__all__ = ["ParallelEnsembleMixin", "check_estimator_like", "check_n_estimators", "allow_nan",
           "set_member_seed", "soft_vote", "hard_vote", "member_proba"]


class ParallelEnsembleMixin:
    """Cloning, pickling and client resolution for estimators with a ``client`` parameter.

    A ``dask.distributed.Client`` is a connection, not a hyperparameter value
    that can be copied: ``clone`` passes the same client to the copy (it would
    otherwise deep-copy it), and pickling an ensemble drops it (``client=None``
    after unpickling; the fitted members are all kept).
    """

    def __sklearn_clone__(self) -> Any:
        params = self.get_params(deep=False)
        client = params.pop("client", None)
        new = type(self)(**{k: clone(v, safe=False) for k, v in params.items()}, client=client)
        return new

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        if state.get("client") is not None and not isinstance(state.get("client"), str):
            state["client"] = None
        return state

    def _resolved_client(self) -> Any:
        return resolve_client(self.client)

    def _record_tasks(self, results: Sequence[Any]) -> None:
        self.member_fit_times_ = np.array([r.seconds for r in results], dtype=float)
        self.member_workers_ = [r.worker for r in results]


def check_estimator_like(value: Any, name: str, *, need_proba: bool = False) -> None:
    """TypeError unless ``value`` looks like an unfitted scikit-learn estimator."""
    if isinstance(value, type):
        raise TypeError(f"{name}={value.__name__} is a class; pass an instance such as {value.__name__}()")
    missing = [m for m in ("fit", "predict", "get_params", "set_params") if not callable(getattr(value, m, None))]
    if missing:
        raise TypeError(
            f"{name}={value!r} ({type(value).__name__}) is not a scikit-learn estimator: "
            f"it has no {', '.join(missing)} method(s)"
        )
    if need_proba and not hasattr(value, "predict_proba"):
        raise ValueError(f"{name}={value!r} has no predict_proba, which voting='soft' needs; use voting='hard'")


def check_n_estimators(value: Any, name: str = "n_estimators") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 1, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name}={value!r} must be an integer >= 1 (at least one member)")
    return int(value)


def allow_nan(estimators: Sequence[Any]) -> bool:
    """True when every estimator accepts NaN in X (scikit-learn's ``allow_nan`` tag)."""
    try:
        return all(get_tags(e).input_tags.allow_nan for e in estimators)
    except Exception:  # not an estimator (yet): fit will say so
        return False


def set_member_seed(estimator: Any, seq: np.random.SeedSequence, *, only_unset: bool = False) -> Any:
    """Set every ``*random_state`` parameter of ``estimator`` (nested too) from ``seq``.

    With ``only_unset`` the parameters already set to a value other than ``None``
    keep it (the user's explicit seed wins).
    """
    params = estimator.get_params(deep=True)
    seed = seed_int(seq)
    update = {
        key: seed for key, value in params.items()
        if (key == "random_state" or key.endswith("__random_state")) and not (only_unset and value is not None)
    }
    if update:
        estimator.set_params(**update)
    return estimator


def member_proba(member: Any, X: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities of a member fitted on encoded labels, as ``n_classes`` columns.

    A member that saw only some classes (a bootstrap sample, a CV fold) gets
    zeros for the others; a member without ``predict_proba`` votes one-hot.
    """
    out = np.zeros((X.shape[0], n_classes))
    classes = np.asarray(member.classes_, dtype=int)
    if hasattr(member, "predict_proba"):
        out[:, classes] = member.predict_proba(X)
    else:
        out[np.arange(X.shape[0]), np.asarray(member.predict(X), dtype=int)] = 1.0
    return out


def soft_vote(probas: Sequence[np.ndarray], weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted mean of member probability matrices."""
    return np.average(np.stack(probas), axis=0, weights=weights)


def hard_vote(predictions: np.ndarray, n_classes: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Majority vote over encoded predictions of shape (n_members, n_samples).

    Ties go to the smallest class index (as in scikit-learn's VotingClassifier).
    """
    predictions = np.asarray(predictions, dtype=int)
    w = np.ones(predictions.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    counts = np.zeros((predictions.shape[1], n_classes))
    for member_pred, weight in zip(predictions, w):
        counts[np.arange(predictions.shape[1]), member_pred] += weight
    return counts.argmax(axis=1)

"""What every plsim ensemble shares: the executor parameter, input checks, combining members.

Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.utils import get_tags
from sklearn.utils.validation import has_fit_parameter

from plsim.i18n import N_, _
from plsim._random import seed_int, task_seed
from plsim.executor import Executor, Run, TaskResult, resolve_executor
from plsim.progress import PartialResultWarning, Progress, stop_if_asked

__all__ = ["ParallelEnsembleMixin", "check_estimator_like", "allow_nan",
           "set_member_seed", "member_seed", "soft_vote", "hard_vote", "member_proba", "check_sample_weight",
           "check_accepts_sample_weight", "PartialResultWarning", "run_members", "run_fits", "forget_fit"]


class ParallelEnsembleMixin:
    """Cloning, pickling and executor resolution for estimators with an ``executor`` parameter.

    A ``dask.distributed.Client`` (or an executor holding one) is a
    connection, not a hyperparameter value that can be copied: ``clone``
    passes the same object to the copy (it would otherwise deep-copy it), and
    pickling an ensemble drops it (``executor=None`` after unpickling; the
    fitted members are all kept). Strings (``"auto"``) survive both.
    """

    def __sklearn_clone__(self) -> Any:
        params = self.get_params(deep=False)
        executor = params.pop("executor", None)
        return type(self)(**{k: clone(v, safe=False) for k, v in params.items()}, executor=executor)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        if state.get("executor") is not None and not isinstance(state.get("executor"), str):
            state["executor"] = None
        return state

    def __sklearn_is_fitted__(self) -> bool:
        """Fitted once members exist (a stacking or sweep fit that was stopped has none)."""
        return hasattr(self, "estimators_")

    def _executor(self) -> Executor:
        """The executor for this fit: resolved once, at the top of ``fit``."""
        return resolve_executor(self.executor)

    def _record_tasks(self, results: Sequence[Any]) -> None:
        self.member_fit_times_ = np.array([r.seconds for r in results], dtype=float)
        self.member_workers_ = [r.worker for r in results]

    def _flag_partial(self, stopped: BaseException | str | None, indices: np.ndarray, total: int) -> None:
        """Record whether the fit kept every member; warn, and re-raise an interrupt, when it did not.

        ``stopped`` is None (complete), ``"stopped"`` (the callback asked) or
        the ``KeyboardInterrupt``. Called after the finished members are
        stored, so a stopped or interrupted fit leaves a usable, clearly
        flagged ensemble of those members on the estimator
        (``partial_``, ``member_indices_``, ``stopped_reason_``).
        """
        self.member_indices_ = np.asarray(indices, dtype=int)
        self.partial_ = stopped is not None
        self.stopped_reason_ = None if stopped is None else "stopped" if stopped == "stopped" else "interrupted"
        if not isinstance(stopped, KeyboardInterrupt):  # complete, or stopped on request (partial_ says so)
            return
        message = (f"{type(self).__name__}: kept the {len(indices)} of {total} members fitted before the "
                   "interrupt (partial_=True; member_indices_ says which); predictions use those members only")
        warnings.warn(message, PartialResultWarning, stacklevel=4)
        stopped.add_note("plsim: " + message)
        raise stopped


def forget_fit(estimator: Any) -> None:
    """Drop what an earlier ``fit`` learned (attributes ending in ``_``), before a new fit that may stop."""
    for name in [n for n in vars(estimator) if n.endswith("_") and not n.startswith("__")]:
        delattr(estimator, name)


def _data_bytes(arrays: Mapping[str, Any]) -> int:
    return sum(int(getattr(a, "nbytes", 0)) for a in arrays.values())


def run_fits(
    ex: Executor, func: Callable[..., Any], data: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]], *,
    name: str, callback: Callable[[Progress], Any] | None, describe: Callable[[int], str],
    unit: str = "member", offset: int = 0, total: int | None = None, finished: dict[int, TaskResult] | None = None,
) -> list[TaskResult]:
    """``ex.map`` the tasks over placed ``data``, sending one :class:`Progress` per finished task.

    ``offset``/``total`` count the tasks of several maps as one run (a sweep's
    CV fits, then its refits). A truthy callback return raises
    :class:`plsim.progress.StopRequested` from the map, which cancels the tasks
    still pending (``finished`` keeps those that came back) and ends the
    :class:`plsim.executor.Run` it runs in.
    """
    finished = {} if finished is None else finished
    total = len(tasks) if total is None else total
    seen: set[int] = set()

    def hook(done: int, _n: int) -> None:
        new = sorted(set(finished) - seen)
        seen.update(new)
        record = finished[new[-1]] if new else None
        label = describe(new[-1]) if new else unit
        units = {"member": N_("{done} of {total} members done ({label})"),
                 "fit": N_("{done} of {total} fits done ({label})")}
        text = _(units[unit]) if unit in units else f"{{done}} of {{total}} {unit}s done ({{label}})"
        event = Progress(offset + done, total, unit, record=record,
                         message=text.format(done=offset + done, total=total, label=label))
        stop_if_asked(callback, event)

    return ex.map(func, data, tasks, name=name, progress=None if callback is None else hook,
                  describe=describe, finished=finished)


def run_members(
    ex: Executor, func: Callable[..., Any], arrays: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]], *,
    name: str, callback: Callable[[Progress], Any] | None, describe: Callable[[int], str], what: str,
) -> tuple[list[TaskResult], np.ndarray, BaseException | str | None]:
    """Place ``arrays`` once and run one task per member, keeping what finished if stopped.

    Returns the results of the finished tasks in task order, their indices and
    what ended the run early: ``None`` (every task finished), ``"stopped"``
    (the callback returned a truthy value) or the ``KeyboardInterrupt``. The
    tasks still pending were cancelled. An interrupt before any task finished
    is re-raised at once (there is nothing to keep).
    """
    finished: dict[int, TaskResult] = {}
    ex.check_fits(_data_bytes(arrays), what=f"the training data ({', '.join(arrays)})")
    with Run(what, ex) as run, ex.shared(**arrays) as data:
        run_fits(ex, func, data, tasks, name=name, callback=callback, describe=describe, finished=finished)
    if run.interrupted is not None and not finished:
        raise run.interrupted
    indices = np.array(sorted(finished), dtype=int)
    return [finished[i] for i in indices], indices, run.interrupted or run.reason


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """``sample_weight`` as a new float array of ``n_samples`` finite, non-negative numbers (or None).

    A single number is used for every row. The result is a copy: the caller's
    array is never changed.
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        sample_weight = np.full(n_samples, float(sample_weight))
    try:
        w = np.array(sample_weight, dtype=float, copy=True)
    except (TypeError, ValueError):
        raise TypeError(f"sample_weight must be numbers (one per training row), got {sample_weight!r}") from None
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(f"sample_weight has shape {w.shape}; it needs one number per training row, "
                         f"shape ({n_samples},)")
    for bad, what in ((~np.isfinite(w), "NaN or inf"), (w < 0, "negative values")):
        if np.any(bad):
            rows = np.flatnonzero(bad)[:5]
            raise ValueError(f"sample_weight has {what}: {w[rows].tolist()} at rows {rows.tolist()}"
                             f"{' (first 5)' if bad.sum() > 5 else ''}; weights must be finite numbers >= 0")
    if w.sum() <= 0:
        raise ValueError("sample_weight is all zeros: at least one training row needs a positive weight")
    return w


def check_accepts_sample_weight(estimator: Any, name: str) -> None:
    """TypeError unless ``estimator.fit`` takes ``sample_weight`` (as scikit-learn's ensembles require)."""
    if not has_fit_parameter(estimator, "sample_weight"):
        raise TypeError(f"{name}={estimator!r} does not support sample_weight (its fit has no sample_weight "
                        "parameter); use an estimator whose fit accepts it, or fit without sample_weight")


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


def allow_nan(estimators: Sequence[Any]) -> bool:
    """True when every estimator accepts NaN in X (scikit-learn's ``allow_nan`` tag)."""
    try:
        return all(get_tags(e).input_tags.allow_nan for e in estimators)
    except Exception:  # not an estimator (yet): fit will say so
        return False


def member_seed(root: int, i: int) -> np.random.SeedSequence:
    """The seed of member ``i`` (bagging member, voting/stacking member, sweep configuration).

    Branch ``("member", i)`` of the seed tree rooted at ``root``
    (:func:`plsim._random.task_seed`): the same whatever the number of
    members and wherever member ``i`` is fitted.
    """
    return task_seed(root, "member", i)


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

"""Ensembles whose members train in parallel on a Dask cluster (scikit-learn compatible).

* :class:`ParallelBaggingClassifier` / :class:`ParallelBaggingRegressor`: bagging,
  pasting and random patches (``max_samples``, ``max_features``, ``bootstrap``...);
* :class:`RandomSubspaceClassifier` / :class:`RandomSubspaceRegressor`: random subspaces;
* :class:`ParallelVotingClassifier` / :class:`ParallelVotingRegressor`: different algorithms vote;
* :class:`ParallelStackingClassifier`: a final model learns from out-of-fold predictions;
* :class:`SweepEnsembleClassifier`: a hyperparameter sweep whose best configurations vote.

Give ``executor=`` (a ``dask.distributed.Client``, e.g. from ``plsim.start_cluster()``,
``"auto"``, a ``joblib.Parallel``; see :func:`plsim.executor.resolve_executor`)
to train members on the workers; leave it ``None`` to train them one after the
other in this process. Same ``random_state``, same members and predictions --
also when a worker dies mid-fit and its members are re-run elsewhere.

``fit(X, y, sample_weight=..., callback=...)`` takes scikit-learn's sample
weights and a :mod:`plsim.progress` callback. Stopped (the callback returns
True, the widgets' Stop) or interrupted (the kernel's interrupt button),
bagging, random subspaces and voting keep the members that finished, flagged
``partial_`` and ``stopped_reason_`` (an interrupt also warns, with a
:class:`PartialResultWarning`, and re-raises); stacking and sweeps cannot use a
part of their folds, so they cancel their pending tasks and stay unfitted.

Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

from plsim._lazy import lazy_exports

_LAZY = {
    "ParallelBaggingClassifier": "plsim.ensembles.bagging",
    "ParallelBaggingRegressor": "plsim.ensembles.bagging",
    "RandomSubspaceClassifier": "plsim.ensembles.bagging",
    "RandomSubspaceRegressor": "plsim.ensembles.bagging",
    "ParallelVotingClassifier": "plsim.ensembles.voting",
    "ParallelVotingRegressor": "plsim.ensembles.voting",
    "ParallelStackingClassifier": "plsim.ensembles.stacking",
    "SweepEnsembleClassifier": "plsim.ensembles.sweep",
    "AccuracyCurve": "plsim.ensembles.diversity",
    "accuracy_curve": "plsim.ensembles.diversity",
    "pairwise_disagreement": "plsim.ensembles.diversity",
    "error_correlation": "plsim.ensembles.diversity",
    "MemberComparison": "plsim.ensembles.diversity",
    "compare_with_members": "plsim.ensembles.diversity",
    "EnsembleDemo": "plsim.ensembles.demo",
    "demo_settings": "plsim.ensembles.demo",
    "PartialResultWarning": "plsim.progress",
    "demo_data": "plsim.ensembles.demo",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, {"bagging", "voting", "stacking", "sweep", "diversity", "demo"})

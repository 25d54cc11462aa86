"""Ensembles whose members train in parallel on a Dask cluster (scikit-learn compatible).

* :class:`ParallelBaggingClassifier` / :class:`ParallelBaggingRegressor`: bagging,
  pasting and random patches (``max_samples``, ``max_features``, ``bootstrap``...);
* :class:`RandomSubspaceClassifier` / :class:`RandomSubspaceRegressor`: random subspaces;
* :class:`ParallelVotingClassifier` / :class:`ParallelVotingRegressor`: different algorithms vote;
* :class:`ParallelStackingClassifier`: a final model learns from out-of-fold predictions;
* :class:`SweepEnsembleClassifier`: a hyperparameter sweep whose best configurations vote.

Give ``client=`` (a ``dask.distributed.Client``, e.g. from ``plsim.start_cluster()``)
to train members on the workers; leave it ``None`` to train them one after the
other in this process. Same ``random_state``, same members and predictions.

``fit(X, y, sample_weight=...)`` takes scikit-learn's sample weights. Stopped
(:class:`StopFit` raised from ``progress``, the widgets' Stop) or interrupted
(the kernel's interrupt button), bagging, random subspaces and voting keep the
members that finished, flagged ``partial_`` (a :class:`PartialResultWarning`
says how many); stacking and sweeps cannot use a part of their folds, so they
only cancel their pending tasks.

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
    "StopFit": "plsim.ensembles._base",
    "PartialResultWarning": "plsim.stopping",
    "demo_data": "plsim.ensembles.demo",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, {"bagging", "voting", "stacking", "sweep", "diversity", "demo"})

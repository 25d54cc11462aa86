"""The inputs of the assignments' Dask questions, built from a case the grader drew (no reference answers here).

The hidden part of each Q5 test cell builds its arrays from the grader's case with these functions, in the
student's kernel; :mod:`plsim.grading.dask_checks` builds the same arrays in the grader's process and computes
the references there. This module holds nothing a student could copy an answer from, so, unlike the
``*_checks.py`` modules, it stays readable inside the grading sandbox.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["bagging_data", "fedavg_data", "ps_data"]


def bagging_data(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X, y, X_test)`` of an A1 case (the kernel and the grader make the same arrays from it)."""
    from sklearn.datasets import make_classification

    n_train, n_test = int(case["n_train"]), int(case["n_test"])
    X, y = make_classification(n_samples=n_train + n_test, n_features=int(case["n_features"]), n_informative=4,
                               n_redundant=2, n_classes=3, random_state=int(case["data_seed"]))
    return X[:n_train], y[:n_train], X[n_train:]


def fedavg_data(case: dict[str, Any]) -> tuple[Any, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """``(model, w, parties)`` of an A2 case: a softmax model, the global vector, each client's (X, y)."""
    from plsim import data, models

    seed = int(case["data_seed"])
    ds = data.load_dataset("digits", n_samples=360, random_state=seed)
    parts = data.partition(ds.y_train, int(case["n_clients"]), "quantity", sigma=0.8, random_state=seed)
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    w = model.init_params(random_state=seed) + 0.05 * np.random.default_rng(seed).normal(size=model.n_params)
    return model, w, [(ds.X_train[p], ds.y_train[p]) for p in parts]


def ps_data(case: dict[str, Any]) -> tuple[Any, list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """``(model, shards, w0)`` of an A3 case: one shard of the digits data per asynchronous worker."""
    from plsim import data, models

    seed = int(case["data_seed"])
    ds = data.load_dataset("digits", n_samples=300, random_state=seed)
    order = np.random.default_rng(seed).permutation(len(ds.y_train))
    parts = [np.sort(p) for p in np.array_split(order, int(case["n_workers"]))]
    shards = [(ds.X_train[p], ds.y_train[p]) for p in parts]
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    return model, shards, model.init_params(random_state=seed)

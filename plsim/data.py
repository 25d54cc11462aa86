"""Offline datasets and the partitioners that split them over federated clients.

* :func:`load_dataset` gives a standardized train/test split of scikit-learn's
  ``digits`` (1797 8x8 images, 10 classes, ships with scikit-learn) or of a
  generated ``classification`` task. Nothing is downloaded.
* Partitioners return one index array per client. The arrays are disjoint and
  together cover every sample exactly once:

  - :func:`partition_iid`: a random, equal-size split (every client looks alike);
  - :func:`partition_dirichlet`: label skew. For every class, the share each
    client gets is drawn from Dirichlet(alpha, ..., alpha). **Small alpha**
    (0.1) concentrates each class on a few clients, so each client sees few
    labels; **large alpha** (100) gives every client nearly the same mix (IID);
  - :func:`partition_shards`: McMahan et al. (2017)'s pathological non-IID
    split: sort by label, cut into ``n_clients * shards_per_client`` shards, and
    give each client ``shards_per_client`` of them (so at most that many labels);
  - :func:`partition_quantity_skew`: same label mix, very different amounts of
    data per client (log-normal sizes).

Taught in ``notebooks/03_federated_learning.ipynb``; the models trained on
these data are in :mod:`plsim.models`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from plsim._random import check_random_state, task_rng
from plsim.validation import check_int, check_real

__all__ = [
    "Dataset",
    "load_dataset",
    "partition",
    "partition_iid",
    "partition_dirichlet",
    "partition_shards",
    "partition_quantity_skew",
    "label_distribution",
    "DATASETS",
    "SCHEMES",
]

DATASETS = ("digits", "classification")
SCHEMES = ("iid", "dirichlet", "shards", "quantity")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split whose features are standardized with the training split's statistics.

    Attributes
    ----------
    X_train, X_test : ndarray of float64, shape (n, n_features)
    y_train, y_test : ndarray of int64, labels ``0 .. n_classes - 1``
    n_classes : int
    name : str
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str

    @property
    def n_features(self) -> int:
        """Number of input features (columns of ``X_train``)."""
        return int(self.X_train.shape[1])

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return int(self.X_train.shape[0])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_train={self.n_train}, n_test={self.X_test.shape[0]}, "
            f"n_features={self.n_features}, n_classes={self.n_classes})"
        )


# -- input checks --------------------------------------------------------------
def _check_labels(y: Any) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of integer labels, got shape {y.shape}")
    if y.size == 0:
        raise ValueError("y is empty: there is nothing to partition")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise TypeError(f"y must hold integer labels, got dtype {y.dtype}")
    if y.min() < 0:
        raise ValueError(f"y must hold labels >= 0, got minimum {y.min()}")
    return y


def _check_clients(n_clients: Any, n_samples: int) -> int:
    n_clients = check_int("n_clients", n_clients, 1)
    if n_clients > n_samples:
        raise ValueError(
            f"n_clients={n_clients} is more than the {n_samples} samples; every client needs at least one"
        )
    return n_clients


# Branches of the "data" seed stream, one per function, so that one random_state gives each draw its own numbers.
_BRANCH = {"load_dataset": 0, "partition_iid": 1, "partition_dirichlet": 2, "partition_shards": 3,
           "partition_quantity_skew": 4}


def _rng(random_state: Any, function: str) -> np.random.Generator:
    """The generator of ``function``'s draws: branch ``("data", function)`` of the seed tree (plsim._random)."""
    return task_rng(check_random_state(random_state), "data", _BRANCH[function])


# -- datasets --------------------------------------------------------------------
def load_dataset(
    name: str = "digits",
    *,
    n_samples: int | None = None,
    n_features: int | None = None,
    n_classes: int | None = None,
    test_size: float = 0.25,
    random_state: int = 0,
) -> Dataset:
    """Load an offline dataset, split it (stratified) and standardize it.

    Parameters
    ----------
    name : {"digits", "classification"}
        ``"digits"``: scikit-learn's handwritten digits (1797 x 64, 10 classes).
        ``"classification"``: :func:`sklearn.datasets.make_classification`.
    n_samples : int, optional
        Digits: keep a stratified random subset of this size (<= the available
        samples). Classification: samples to generate (default 2000).
    n_features : int, optional
        Classification only (default 20). Digits always has 64.
    n_classes : int, optional
        Digits: keep the classes ``0 .. n_classes-1`` (2..10, default 10).
        Classification: number of classes (default 10).
    test_size : float
        Fraction of samples held out for testing, in (0, 1).
    random_state : int, RandomState or Generator
        Root of the seed tree (:mod:`plsim._random`, stream ``"data"``) for
        the subset, the generator and the split.

    Returns
    -------
    Dataset
        Features standardized with the training split's mean and standard deviation.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a dataset name (str), got {name!r}; choose one of {DATASETS}")
    if name not in DATASETS:
        raise ValueError(f"name={name!r} is not a known dataset; choose one of {DATASETS}")
    n_samples = check_int("n_samples", n_samples, 2, allow_none=True)
    n_features = check_int("n_features", n_features, 1, allow_none=True)
    n_classes = check_int("n_classes", n_classes, 2, allow_none=True)
    test_size = check_real("test_size", test_size, minimum=0, maximum=1, low_open=True, high_open=True)
    rng = _rng(random_state, "load_dataset")

    if name == "digits":
        from sklearn.datasets import load_digits

        if n_features is not None and n_features != 64:
            raise ValueError(f"n_features={n_features} is not available for 'digits', which has 64 pixels")
        X, y = load_digits(return_X_y=True)
        k = 10 if n_classes is None else n_classes
        if k > 10:
            raise ValueError(f"n_classes={n_classes} is more than the 10 classes of 'digits'")
        keep = y < k
        X, y = X[keep], y[keep]
        if n_samples is not None:
            if n_samples > len(y):
                raise ValueError(f"n_samples={n_samples} is more than the {len(y)} 'digits' samples available")
            if n_samples < len(y):
                from sklearn.model_selection import train_test_split

                idx, _ = train_test_split(
                    np.arange(len(y)), train_size=n_samples, stratify=y, random_state=int(rng.integers(2**31))
                )
                idx = np.sort(idx)
                X, y = X[idx], y[idx]
        n_classes_out = k
    else:
        from sklearn.datasets import make_classification

        n = 2000 if n_samples is None else n_samples
        d = 20 if n_features is None else n_features
        k = 10 if n_classes is None else n_classes
        n_informative = min(d, max(2, int(np.ceil(np.log2(k))) + 2))
        if k > 2**n_informative:
            raise ValueError(
                f"n_classes={k} needs more features: with n_features={d} at most {2**n_informative} classes fit"
            )
        X, y = make_classification(
            n_samples=n, n_features=d, n_informative=n_informative, n_redundant=0, n_repeated=0,
            n_classes=k, n_clusters_per_class=1, class_sep=1.5, random_state=int(rng.integers(2**31)),
        )
        n_classes_out = k

    from sklearn.model_selection import train_test_split

    counts = np.bincount(y, minlength=n_classes_out)
    stratify = y if counts.min() >= 2 else None
    try:
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=float(test_size), stratify=stratify, random_state=int(rng.integers(2**31))
        )
    except ValueError as exc:
        raise ValueError(
            f"cannot split {len(y)} samples with test_size={test_size}: {exc}; use more samples"
        ) from None
    mean = X_tr.mean(axis=0)
    std = X_tr.std(axis=0)
    std[std == 0] = 1.0  # constant pixels (digits' borders) stay 0 after centering
    X_tr = np.ascontiguousarray((X_tr - mean) / std, dtype=np.float64)
    X_te = np.ascontiguousarray((X_te - mean) / std, dtype=np.float64)
    for a in (X_tr, X_te):
        a.flags.writeable = False
    y_tr = np.asarray(y_tr, dtype=np.int64)
    y_te = np.asarray(y_te, dtype=np.int64)
    y_tr.flags.writeable = False
    y_te.flags.writeable = False
    return Dataset(X_tr, y_tr, X_te, y_te, int(n_classes_out), name)


# -- partitioners ------------------------------------------------------------------
def partition_iid(y: Any, n_clients: int, *, random_state: int = 0) -> list[np.ndarray]:
    """Shuffle the samples and deal them out in ``n_clients`` near-equal parts.

    Returns
    -------
    list of ndarray
        Sorted index arrays, disjoint, covering ``range(len(y))``; sizes differ by at most one.
    """
    y = _check_labels(y)
    n_clients = _check_clients(n_clients, len(y))
    perm = _rng(random_state, "partition_iid").permutation(len(y))
    return [np.sort(p) for p in np.array_split(perm, n_clients)]


def partition_dirichlet(
    y: Any, n_clients: int, alpha: float, *, random_state: int = 0, min_size: int = 1
) -> list[np.ndarray]:
    """Label skew: each class is spread over the clients with Dirichlet(alpha) proportions.

    Parameters
    ----------
    y : array of int
        Labels.
    n_clients : int
    alpha : float
        Concentration (> 0). Small alpha (e.g. 0.1): each class goes mostly to
        a few clients, so **each client sees few labels** (strongly non-IID).
        Large alpha (e.g. 100): shares are nearly equal (close to IID).
    random_state : int, RandomState or Generator
        Root of the seed tree (:mod:`plsim._random`, stream ``"data"``).
    min_size : int
        Redraw until every client has at least this many samples (Hsu et al.
        2019 / Yurochkin et al. 2019 do the same). Must fit: ``min_size * n_clients <= len(y)``.

    Returns
    -------
    list of ndarray
        Sorted index arrays, disjoint and covering ``range(len(y))``.
    """
    y = _check_labels(y)
    n_clients = _check_clients(n_clients, len(y))
    alpha = check_real("alpha", alpha, minimum=0, low_open=True)
    min_size = check_int("min_size", min_size, 0)
    if min_size * n_clients > len(y):
        raise ValueError(
            f"min_size={min_size} x n_clients={n_clients} exceeds the {len(y)} samples; lower one of them"
        )
    rng = _rng(random_state, "partition_dirichlet")
    classes = np.unique(y)
    for _attempt in range(1000):
        buckets: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(y == c))
            shares = rng.dirichlet(np.full(n_clients, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(idx)).astype(int)
            for k, piece in enumerate(np.split(idx, cuts)):
                buckets[k].append(piece)
        parts = [np.sort(np.concatenate(b)).astype(np.int64) for b in buckets]
        if min(len(p) for p in parts) >= min_size:
            return parts
    raise ValueError(
        f"could not give every one of n_clients={n_clients} at least min_size={min_size} samples with "
        f"alpha={alpha} after 1000 draws; use fewer clients, a larger alpha or a smaller min_size"
    )


def partition_shards(
    y: Any, n_clients: int, shards_per_client: int = 2, *, random_state: int = 0
) -> list[np.ndarray]:
    """McMahan et al. (2017)'s pathological non-IID split.

    Sort the samples by label, cut them into ``n_clients * shards_per_client``
    equal shards, and give each client ``shards_per_client`` shards at random.
    Each client therefore holds at most ``shards_per_client`` labels (a shard
    can straddle a label boundary, so occasionally one more).

    Returns
    -------
    list of ndarray
        Sorted index arrays, disjoint and covering ``range(len(y))``.
    """
    y = _check_labels(y)
    n_clients = _check_clients(n_clients, len(y))
    shards_per_client = check_int("shards_per_client", shards_per_client, 1)
    n_shards = n_clients * shards_per_client
    if n_shards > len(y):
        raise ValueError(
            f"n_clients={n_clients} x shards_per_client={shards_per_client} = {n_shards} shards "
            f"is more than the {len(y)} samples"
        )
    rng = _rng(random_state, "partition_shards")
    # Shuffle within each label (stable sort of a random permutation), then cut.
    perm = rng.permutation(len(y))
    order = perm[np.argsort(y[perm], kind="stable")]
    shards = np.array_split(order, n_shards)
    assignment = rng.permutation(n_shards).reshape(n_clients, shards_per_client)
    return [np.sort(np.concatenate([shards[s] for s in row])).astype(np.int64) for row in assignment]


def partition_quantity_skew(
    y: Any, n_clients: int, *, sigma: float = 1.0, random_state: int = 0
) -> list[np.ndarray]:
    """Quantity skew: client sizes proportional to log-normal(0, sigma) draws, labels mixed at random.

    ``sigma = 0`` gives equal sizes; larger sigma gives a few big and many small
    clients. Every client gets at least one sample.

    Returns
    -------
    list of ndarray
        Sorted index arrays, disjoint and covering ``range(len(y))``.
    """
    y = _check_labels(y)
    n_clients = _check_clients(n_clients, len(y))
    sigma = check_real("sigma", sigma, minimum=0)
    rng = _rng(random_state, "partition_quantity_skew")
    n = len(y)
    weights = rng.lognormal(mean=0.0, sigma=float(sigma), size=n_clients)
    # One sample each, then the rest in proportion to the weights (largest remainders).
    extra = n - n_clients
    raw = weights / weights.sum() * extra
    sizes = np.floor(raw).astype(int)
    leftover = extra - sizes.sum()
    sizes[np.argsort(-(raw - sizes), kind="stable")[:leftover]] += 1
    sizes += 1
    perm = rng.permutation(n)
    return [np.sort(p).astype(np.int64) for p in np.split(perm, np.cumsum(sizes)[:-1])]


def partition(y: Any, n_clients: int, scheme: str = "iid", **kwargs: Any) -> list[np.ndarray]:
    """Dispatch to a partitioner by name.

    Parameters
    ----------
    y : array of int
    n_clients : int
    scheme : {"iid", "dirichlet", "shards", "quantity"}
    **kwargs
        Passed on: ``alpha`` (dirichlet, required), ``min_size``,
        ``shards_per_client`` (shards), ``sigma`` (quantity), ``random_state``.
    """
    funcs = {
        "iid": partition_iid,
        "dirichlet": partition_dirichlet,
        "shards": partition_shards,
        "quantity": partition_quantity_skew,
    }
    if not isinstance(scheme, str) or scheme not in funcs:
        raise ValueError(f"scheme={scheme!r} is not a partition scheme; choose one of {SCHEMES}")
    if scheme == "dirichlet":
        if "alpha" not in kwargs:
            raise TypeError("scheme='dirichlet' needs alpha=..., e.g. alpha=0.5")
        alpha = kwargs.pop("alpha")
        return partition_dirichlet(y, n_clients, alpha, **kwargs)
    try:
        return funcs[scheme](y, n_clients, **kwargs)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise TypeError(f"scheme={scheme!r} does not take these options: {exc}") from None
        raise


def label_distribution(y: Any, parts: Any, n_classes: int) -> np.ndarray:
    """Counts of each label on each client.

    Returns
    -------
    ndarray of int, shape (n_clients, n_classes)
        ``out[k, c]`` = number of samples of class ``c`` held by client ``k``.
    """
    y = _check_labels(y)
    n_classes = check_int("n_classes", n_classes, 1)
    if y.max() >= n_classes:
        raise ValueError(f"n_classes={n_classes} but y holds label {y.max()}")
    parts = list(parts)
    if not parts:
        raise ValueError("parts is empty: give one index array per client")
    out = np.zeros((len(parts), n_classes), dtype=np.int64)
    for k, p in enumerate(parts):
        p = np.asarray(p)
        if p.size and (not np.issubdtype(p.dtype, np.integer) or p.min() < 0 or p.max() >= len(y)):
            raise ValueError(f"parts[{k}] must hold integer indices into y (0..{len(y) - 1})")
        out[k] = np.bincount(y[p], minlength=n_classes)
    return out

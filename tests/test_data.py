"""Datasets and partitioners (plsim.data)."""

from __future__ import annotations

import numpy as np
import pytest

from plsim import data


def _assert_exact_cover(parts, n):
    allidx = np.concatenate(parts)
    assert len(allidx) == n, "parts must cover every sample exactly once"
    assert np.array_equal(np.sort(allidx), np.arange(n))
    assert all(len(p) >= 1 for p in parts)


@pytest.fixture(scope="module")
def digits():
    return data.load_dataset("digits")


def test_digits_shapes_and_standardization(digits):
    d = digits
    assert d.n_features == 64 and d.n_classes == 10 and d.name == "digits"
    assert d.X_train.shape[0] + d.X_test.shape[0] == 1797
    assert d.X_test.shape[0] == int(np.ceil(0.25 * 1797))
    assert d.X_train.dtype == np.float64 and d.y_train.dtype == np.int64
    # standardized on the training split: mean 0, std 1 (or 0 for constant pixels)
    np.testing.assert_allclose(d.X_train.mean(axis=0), 0, atol=1e-12)
    std = d.X_train.std(axis=0)
    assert np.all(np.isclose(std, 1) | np.isclose(std, 0))
    # stratified: every class in both splits
    assert set(np.unique(d.y_test)) == set(range(10))
    with pytest.raises(ValueError):  # read-only: callers cannot mutate the shared data
        d.X_train[0, 0] = 1.0


def test_load_dataset_is_reproducible_and_subsets():
    a = data.load_dataset("digits", n_samples=400, n_classes=5, random_state=3)
    b = data.load_dataset("digits", n_samples=400, n_classes=5, random_state=3)
    c = data.load_dataset("digits", n_samples=400, n_classes=5, random_state=4)
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train)
    assert a.n_train + a.X_test.shape[0] == 400
    assert set(np.unique(a.y_train)) == set(range(5)) and a.n_classes == 5


def test_generated_classification():
    d = data.load_dataset("classification", n_samples=600, n_features=8, n_classes=3, test_size=0.5)
    assert d.n_features == 8 and d.n_classes == 3 and d.n_train == 300
    assert set(np.unique(d.y_train)) == {0, 1, 2}


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        (dict(name="mnist"), ValueError),
        (dict(name="digits", n_features=10), ValueError),
        (dict(name="digits", n_classes=11), ValueError),
        (dict(name="digits", n_samples=5000), ValueError),
        (dict(name="digits", test_size=1.0), ValueError),
        (dict(name="digits", n_samples=2.5), TypeError),
        (dict(name="classification", n_features=2, n_classes=10), ValueError),
    ],
)
def test_load_dataset_bad_inputs(kwargs, exc):
    with pytest.raises(exc):
        data.load_dataset(**kwargs)


@pytest.mark.parametrize(
    "scheme, kw",
    [("iid", {}), ("dirichlet", {"alpha": 0.3}), ("shards", {"shards_per_client": 2}), ("quantity", {"sigma": 1.0})],
)
def test_partitions_are_exact_covers_and_reproducible(digits, scheme, kw):
    y = digits.y_train
    parts = data.partition(y, 20, scheme, random_state=5, **kw)
    assert len(parts) == 20
    _assert_exact_cover(parts, len(y))
    again = data.partition(y, 20, scheme, random_state=5, **kw)
    assert all(np.array_equal(p, q) for p, q in zip(parts, again))
    other = data.partition(y, 20, scheme, random_state=6, **kw)
    assert not all(np.array_equal(p, q) for p, q in zip(parts, other))


def test_iid_sizes_differ_by_at_most_one():
    parts = data.partition_iid(np.zeros(103, dtype=int), 10)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 103


def _labels_per_client(y, parts, n_classes):
    return (data.label_distribution(y, parts, n_classes) > 0).sum(axis=1)


def test_dirichlet_small_alpha_means_fewer_labels(digits):
    y = digits.y_train
    few = _labels_per_client(y, data.partition_dirichlet(y, 20, 0.05, random_state=1), 10).mean()
    many = _labels_per_client(y, data.partition_dirichlet(y, 20, 100.0, random_state=1), 10).mean()
    assert few < 4 < 9.5 < many


def test_dirichlet_min_size(digits):
    parts = data.partition_dirichlet(digits.y_train, 30, 0.1, random_state=0, min_size=10)
    assert min(len(p) for p in parts) >= 10
    _assert_exact_cover(parts, digits.n_train)


def test_shards_give_at_most_k_labels_in_hand_checked_case():
    # 4 classes x 10 samples, 4 clients x 2 shards of 5: each shard is pure, so <= 2 labels per client
    y = np.repeat(np.arange(4), 10)
    parts = data.partition_shards(y, 4, 2, random_state=0)
    _assert_exact_cover(parts, 40)
    assert all(len(p) == 10 for p in parts)
    dist = data.label_distribution(y, parts, 4)
    assert np.all((dist > 0).sum(axis=1) <= 2)
    assert np.all(dist.sum(axis=0) == 10)
    assert np.all(dist % 5 == 0)  # whole shards only


def test_shards_on_digits_two_labels(digits):
    parts = data.partition_shards(digits.y_train, 50, 2, random_state=0)
    per_client = _labels_per_client(digits.y_train, parts, 10)
    assert per_client.max() <= 4 and per_client.mean() <= 2.6


def test_quantity_skew_sizes_vary_and_sigma0_is_equal():
    y = np.arange(1000) % 10
    equal = [len(p) for p in data.partition_quantity_skew(y, 10, sigma=0.0)]
    assert max(equal) - min(equal) <= 1
    skewed = [len(p) for p in data.partition_quantity_skew(y, 10, sigma=1.5, random_state=2)]
    assert max(skewed) > 3 * min(skewed)
    assert sum(skewed) == 1000


def test_label_distribution_hand_computed():
    y = np.array([0, 1, 1, 2, 2, 2])
    parts = [np.array([0, 1]), np.array([2, 3, 4, 5])]
    expected = np.array([[1, 1, 0], [0, 1, 3]])
    assert np.array_equal(data.label_distribution(y, parts, 3), expected)


def test_partitioners_do_not_mutate_input():
    y = np.arange(50) % 5
    before = y.copy()
    for scheme, kw in [("iid", {}), ("dirichlet", {"alpha": 0.5}), ("shards", {}), ("quantity", {})]:
        data.partition(y, 5, scheme, **kw)
    assert np.array_equal(y, before)


@pytest.mark.parametrize(
    "call, exc, word",
    [
        (lambda y: data.partition_dirichlet(y, 5, 0.0), ValueError, "alpha"),
        (lambda y: data.partition_dirichlet(y, 5, -1.0), ValueError, "alpha"),
        (lambda y: data.partition_iid(y, 51), ValueError, "n_clients"),
        (lambda y: data.partition_iid(y, 0), ValueError, "n_clients"),
        (lambda y: data.partition_iid(y, 2.0), TypeError, "n_clients"),
        (lambda y: data.partition_shards(y, 10, 6), ValueError, "shards"),
        (lambda y: data.partition_quantity_skew(y, 5, sigma=-1), ValueError, "sigma"),
        (lambda y: data.partition(y, 5, "random"), ValueError, "scheme"),
        (lambda y: data.partition(y, 5, "dirichlet"), TypeError, "alpha"),
        (lambda y: data.partition_dirichlet(y, 10, 1.0, min_size=6), ValueError, "min_size"),
        (lambda y: data.partition_iid(y.reshape(5, 10), 2), ValueError, "1-D"),
        (lambda y: data.label_distribution(y, [np.arange(3)], 2), ValueError, "n_classes"),
    ],
)
def test_partition_bad_inputs(call, exc, word):
    y = np.arange(50) % 5
    with pytest.raises(exc, match=word):
        call(y)


def test_random_draws_come_from_the_data_stream_of_the_seed_tree():
    from plsim._random import task_rng

    y = np.arange(40) % 4
    parts = data.partition_iid(y, 4, random_state=7)
    expected = np.array_split(task_rng(7, "data", 1).permutation(40), 4)
    assert [sorted(p) for p in parts] == [sorted(e) for e in expected]
    # A Generator gives one draw as the root, as everywhere in plsim.
    again = data.partition_iid(y, 4, random_state=np.random.default_rng(3))
    assert [list(p) for p in again] == [list(p) for p in data.partition_iid(
        y, 4, random_state=int(np.random.default_rng(3).integers(np.iinfo(np.int32).max)))]


@pytest.mark.parametrize("bad", [-1, 1.5, "seed", True])
def test_a_bad_random_state_is_the_same_value_error_as_everywhere(bad):
    from plsim._random import check_random_state

    with pytest.raises(ValueError) as expected:
        check_random_state(bad)
    with pytest.raises(ValueError) as got:
        data.partition_iid(np.arange(10) % 2, 2, random_state=bad)
    assert str(got.value) == str(expected.value)

"""plsim.training: sync data parallelism == large-batch SGD, parameter server, local SGD, scaling."""

import numpy as np
import pytest

from plsim.comm import LinkModel
from plsim.data import load_dataset
from plsim.models import MLP, SoftmaxRegression
from plsim.training.async_ps import async_sgd, async_sgd_simulated
from plsim.training.demo import demo_settings
from plsim.training.local_sgd import local_sgd
from plsim.speedup import amdahl_speedup, gustafson_speedup
from plsim.training.scaling import measure_scaling, predict_scaling
from plsim.training._common import check_w0
from plsim.training.sync import large_batch_sgd, sync_sgd

_DIGITS = (load_dataset("digits").X_train[:300], load_dataset("digits").y_train[:300])


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits")
    return ds.X_train, ds.y_train


MLP_SMALL = MLP(64, hidden=(16,), n_classes=10, l2=1e-3)
SOFTMAX = SoftmaxRegression(64, 10)


def test_sync_sequential_equals_large_batch(digits):
    X, y = digits
    for batch in (None, 101):  # 101 is not divisible by 3: local batches 34/34/33, weighted
        ref = large_batch_sgd(MLP_SMALL, X, y, n_workers=3, lr=0.2, n_steps=15, batch_size=batch, random_state=0)
        dp = sync_sgd(MLP_SMALL, X, y, n_workers=3, lr=0.2, n_steps=15, batch_size=batch, random_state=0)
        np.testing.assert_allclose(dp.params, ref.params, atol=1e-10)
        np.testing.assert_allclose(dp.loss, ref.loss, atol=1e-10)
    # the reference really is plain SGD: step 1 from w0 with the full batch
    w0 = check_w0(MLP_SMALL, None, 0)
    one = large_batch_sgd(MLP_SMALL, X, y, n_workers=2, lr=0.2, n_steps=1, random_state=0)
    np.testing.assert_allclose(one.params, w0 - 0.2 * MLP_SMALL.gradient(w0, X, y), atol=1e-14)


@pytest.mark.slow
def test_sync_on_two_real_workers_equals_full_batch_sgd(client, digits):
    X, y = digits
    X_before = X.copy()
    ref = large_batch_sgd(MLP_SMALL, X, y, n_workers=2, lr=0.2, n_steps=20, batch_size=128, random_state=0)
    dp = sync_sgd(MLP_SMALL, X, y, executor=client, lr=0.2, n_steps=20, batch_size=128, random_state=0)
    assert dp.info["n_workers"] == 2 and dp.info["replicas_identical"]
    np.testing.assert_allclose(dp.params, ref.params, atol=1e-10)
    one = sync_sgd(MLP_SMALL, X, y, executor=client, n_workers=1, lr=0.2, n_steps=20, batch_size=128, random_state=0)
    seq1 = sync_sgd(MLP_SMALL, X, y, n_workers=1, lr=0.2, n_steps=20, batch_size=128, random_state=0)
    np.testing.assert_array_equal(one.params, seq1.params)
    assert dp.bytes_sent[0] == MLP_SMALL.n_params * 8 * 2  # two gradients, each to the one other replica
    np.testing.assert_array_equal(X, X_before)


def test_sync_compression_topk_all_equals_none_and_saves_bytes(digits):
    X, y = digits
    plain = sync_sgd(SOFTMAX, X, y, n_workers=2, lr=0.3, n_steps=10, batch_size=64, random_state=0)
    full_k = sync_sgd(SOFTMAX, X, y, n_workers=2, lr=0.3, n_steps=10, batch_size=64, compression="topk",
                      topk_ratio=1.0, random_state=0)
    np.testing.assert_allclose(full_k.params, plain.params, atol=1e-12)
    small = sync_sgd(SOFTMAX, X, y, n_workers=2, lr=0.3, n_steps=10, batch_size=64, compression="topk",
                     topk_ratio=0.05, random_state=0)
    q8 = sync_sgd(SOFTMAX, X, y, n_workers=2, lr=0.3, n_steps=10, batch_size=64, compression="8bit", random_state=0)
    assert small.total_bytes < 0.2 * plain.total_bytes and q8.total_bytes < 0.2 * plain.total_bytes
    assert q8.loss[-1] < q8.loss[0]


def test_sync_callback_stops(digits):
    X, y = digits
    h = sync_sgd(SOFTMAX, X, y, n_workers=2, n_steps=50, callback=lambda event: event.done >= 3, random_state=0)
    assert h.steps == [1, 2, 3]


def test_ssp_zero_equals_sync_with_scaled_lr(digits):
    X, y = digits
    k, b = 4, 16
    sync = sync_sgd(SOFTMAX, X, y, n_workers=k, lr=0.4, n_steps=10, batch_size=k * b, random_state=0)
    ssp0 = async_sgd_simulated(SOFTMAX, X, y, n_workers=k, staleness_bound=0, lr=0.4 / k, n_updates=10 * k,
                               batch_size=b, worker_speeds=[1, 2, 0.5, 1], random_state=0)
    np.testing.assert_allclose(ssp0.params, sync.params, atol=1e-10)
    assert ssp0.info["max_clock_gap"] == 0
    # lock-step rounds: in each round the k gradients arrive with staleness 0..k-1
    assert sorted(ssp0.staleness) == sorted(list(range(k)) * 10)


def test_async_one_worker_is_sequential_sgd(digits):
    X, y = digits
    h = async_sgd_simulated(SOFTMAX, X, y, n_workers=1, lr=0.1, n_updates=5, batch_size=None, random_state=0)
    w = check_w0(SOFTMAX, None, 0)
    for _ in range(5):
        w = w - 0.1 * SOFTMAX.gradient(w, X, y)
    np.testing.assert_allclose(h.params, w, atol=1e-13)
    assert h.staleness == [0] * 5
    real = async_sgd(SOFTMAX, X, y, n_workers=1, lr=0.1, n_updates=5, batch_size=None, random_state=0)  # sequential executor
    np.testing.assert_allclose(real.params, w, atol=1e-13)
    assert real.staleness == [0] * 5 and real.info["executed_on"] == "sequential"


@pytest.mark.parametrize("bound", [None, 0, 1])
def test_async_sgd_sequential_is_the_round_robin_of_equal_speed_workers(digits, bound):
    # Sequentially every task computes when submitted and comes back first in, first out: the schedule of
    # equal-speed workers on the virtual clock (ties broken by worker index), hence the very same run.
    X, y = digits
    kw = dict(n_workers=3, staleness_bound=bound, lr=0.05, n_updates=12, batch_size=16, random_state=3)
    real = async_sgd(SOFTMAX, X, y, **kw)
    simulated = async_sgd_simulated(SOFTMAX, X, y, **kw)
    assert real.staleness == simulated.staleness
    assert real.staleness == ([0, 1, 2] + [2] * 9 if bound is None or bound > 0 else [0, 1, 2] * 4)
    np.testing.assert_array_equal(real.params, simulated.params)
    assert real.info["max_clock_gap"] == simulated.info["max_clock_gap"]


@pytest.mark.slow
def test_sequential_equals_one_worker_equals_two_workers(client):
    from distributed import Client, LocalCluster

    runs = {
        "sync_sgd": lambda ex: sync_sgd(SOFTMAX, *_DIGITS, executor=ex, n_workers=3, lr=0.3, n_steps=4, batch_size=63,
                                        compression="topk", topk_ratio=0.2, random_state=0),
        "local_sgd": lambda ex: local_sgd(SOFTMAX, *_DIGITS, executor=ex, n_workers=3, H=2, n_rounds=2, lr=0.3,
                                          batch_size=16, random_state=0),
    }
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as one_worker:
        for name, run in runs.items():
            reference = run(None).params
            np.testing.assert_array_equal(run(one_worker).params, reference, err_msg=name)
            np.testing.assert_array_equal(run(client).params, reference, err_msg=name)  # the 2-worker cluster



def test_virtual_clock_staleness_reproducible_and_ssp_bound_respected(digits):
    X, y = digits
    kw = dict(n_workers=4, worker_speeds=[1, 1, 1, 0.25], lr=0.05, n_updates=60, batch_size=16, jitter=0.3,
              random_state=0)
    a = async_sgd_simulated(SOFTMAX, X, y, **kw)
    b = async_sgd_simulated(SOFTMAX, X, y, **kw)
    assert a.staleness == b.staleness and a.time == b.time
    np.testing.assert_array_equal(a.params, b.params)
    assert max(a.staleness) >= 8  # the straggler's gradients are very stale
    for bound in (1, 3):
        s = async_sgd_simulated(SOFTMAX, X, y, staleness_bound=bound, **kw)
        assert s.info["max_clock_gap"] <= bound
        assert max(s.staleness) < max(a.staleness)
    # hand-checked: 2 equal workers, no jitter: arrivals alternate, every gradient after the first two has staleness 1
    two = async_sgd_simulated(SOFTMAX, X, y, n_workers=2, lr=0.05, n_updates=6, batch_size=8, random_state=0)
    assert two.staleness == [0, 1, 1, 1, 1, 1] and two.time[-1] == 3.0


@pytest.mark.slow
def test_async_real_cluster(client, digits):
    X, y = digits
    h = async_sgd(SOFTMAX, X, y, executor=client, n_updates=30, lr=0.1, batch_size=32, delays=[0.0, 0.01], random_state=0)
    assert len(h.staleness) == 30 and h.time_kind == "measured"
    assert h.loss[-1] < h.loss[0]
    s = async_sgd(SOFTMAX, X, y, executor=client, n_updates=30, lr=0.1, staleness_bound=1, delays=[0.0, 0.01], random_state=0)
    assert s.info["max_clock_gap"] <= 1


def test_local_sgd_H1_equals_sync(digits):
    X, y = digits
    sync = sync_sgd(SOFTMAX, X, y, n_workers=3, lr=0.3, n_steps=8, batch_size=48, random_state=0)
    loc = local_sgd(SOFTMAX, X, y, n_workers=3, H=1, n_rounds=8, lr=0.3, batch_size=16, random_state=0)
    np.testing.assert_allclose(loc.params, sync.params, atol=1e-12)
    h4 = local_sgd(SOFTMAX, X, y, n_workers=3, H=4, n_rounds=2, lr=0.3, batch_size=16, random_state=0)
    assert h4.steps == [0, 4, 8] and h4.total_bytes == 2 * 2 * 3 * SOFTMAX.n_params * 8


@pytest.mark.slow
def test_local_sgd_same_on_cluster_as_sequential(client, digits):
    X, y = digits
    seq = local_sgd(SOFTMAX, X, y, n_workers=3, H=3, n_rounds=3, lr=0.3, batch_size=16, random_state=0)
    dist = local_sgd(SOFTMAX, X, y, executor=client, n_workers=3, H=3, n_rounds=3, lr=0.3, batch_size=16, random_state=0)
    np.testing.assert_array_equal(seq.params, dist.params)


def test_scaling_laws():
    # plsim.speedup's laws take (serial_fraction, workers): fully parallel on 4 -> 4; 10 % serial caps at 10.
    assert amdahl_speedup(0.0, 4) == pytest.approx(4)
    assert amdahl_speedup(0.1, 1e9) == pytest.approx(10, rel=1e-6)
    assert gustafson_speedup(0.1, 10) == pytest.approx(9.1)
    free = LinkModel(alpha=0.0, beta=0.0)
    rows = predict_scaling([1, 2, 4], compute_seconds=1.0, n_bytes=1e6, mode="strong", link=free)
    assert [r["speedup"] for r in rows] == pytest.approx([1, 2, 4])  # free network: ideal
    slow = predict_scaling([1, 2, 4], compute_seconds=1.0, n_bytes=1e6, mode="strong",
                           link=LinkModel(alpha=0.0, beta=1e-6))
    # hand-computed: T(2) = 0.5 + 2*(1/2)*1e6*1e-6 = 1.5 s, T(4) = 0.25 + 1.5 = 1.75 s
    assert [r["time_per_step_s"] for r in slow] == pytest.approx([1.0, 1.5, 1.75])
    weak = predict_scaling([1, 4], compute_seconds=1.0, n_bytes=1e9, mode="weak")
    assert weak[1]["speedup"] < 4 and {r["kind"] for r in weak} == {"predicted"}
    with pytest.raises(ValueError, match="mode='medium'"):
        predict_scaling([1], compute_seconds=1.0, n_bytes=1.0, mode="medium")


@pytest.mark.slow
def test_measure_scaling_rows(client, digits):
    X, y = digits
    rows = measure_scaling(client, SOFTMAX, X, y, workers=(1, 2), batch_size=256, n_steps=2)
    assert [r["workers"] for r in rows] == [1, 2] and rows[0]["speedup"] == 1.0
    assert {r["kind"] for r in rows} == {"measured"}
    with pytest.raises(ValueError, match="only 2 workers"):
        measure_scaling(client, SOFTMAX, X, y, workers=(4,))


@pytest.mark.parametrize("call, exc, match", [
    (lambda X, y: sync_sgd(SOFTMAX, X, y, n_workers=0, random_state=0), ValueError, "n_workers=0"),
    (lambda X, y: sync_sgd(SOFTMAX, X, y, lr=0, random_state=0), ValueError, "lr=0"),
    (lambda X, y: sync_sgd(SOFTMAX, X, y, lr=-1.0, random_state=0), ValueError, "lr=-1.0"),
    (lambda X, y: sync_sgd(SOFTMAX, X, y, n_workers=4, batch_size=3, random_state=0), ValueError, "batch_size=3"),
    (lambda X, y: sync_sgd(SOFTMAX, X, y, compression="zip", random_state=0), ValueError, "compression='zip'"),
    (lambda X, y: sync_sgd(SOFTMAX, X[:, :5], y, random_state=0), ValueError, "expected"),
    (lambda X, y: sync_sgd(object(), X, y, random_state=0), TypeError, "plsim.models"),
    (lambda X, y: async_sgd_simulated(SOFTMAX, X, y, n_workers=2, worker_speeds=[1], random_state=0), ValueError, "worker_speeds"),
    (lambda X, y: async_sgd_simulated(SOFTMAX, X, y, staleness_bound=-1, random_state=0), ValueError, "staleness_bound=-1"),
    (lambda X, y: async_sgd(SOFTMAX, X, y, n_workers=0, random_state=0), ValueError, "n_workers=0"),
    (lambda X, y: async_sgd(SOFTMAX, X, y, executor="cluster", random_state=0), ValueError, "executor='cluster'"),
    (lambda X, y: sync_sgd(SOFTMAX, X, y, random_state=-1), ValueError, "random_state=-1"),
    (lambda X, y: local_sgd(SOFTMAX, X, y, H=0, random_state=0), ValueError, "H=0"),
])
def test_bad_inputs(digits, call, exc, match):
    X, y = digits
    with pytest.raises(exc, match=match):
        call(X, y)


def test_demo_config_small_mode(monkeypatch):
    monkeypatch.setenv("PLSIM_SMALL", "1")
    small = demo_settings()
    monkeypatch.delenv("PLSIM_SMALL")
    assert small.sync_steps < demo_settings().sync_steps


def test_local_sgd_stays_the_function_after_its_module_is_imported():
    # The function and its module share a name; importing the module must not shadow the function.
    import subprocess
    import sys

    code = ("import plsim.training.local_sgd, plsim.training as t; "
            "print(callable(t.local_sgd), t.local_sgd.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "plsim.training.local_sgd"]


def test_ssp_zero_equals_sync_only_with_equal_rows_per_gradient(digits):
    X, y = digits  # 1347 rows: 4 shards of 337, 337, 337 and 336
    k = 4
    shards = [len(s) for s in __import__("plsim.training._common", fromlist=["x"]).shard_indices(len(y), k, 0)]
    assert len(set(shards)) == 2, "the shards must be uneven for this test"
    # Full-shard gradients: sync weights them by shard size, the parameter server adds them equally.
    sync = sync_sgd(SOFTMAX, X, y, n_workers=k, lr=0.4, n_steps=3, batch_size=None, random_state=0)
    ssp0 = async_sgd_simulated(SOFTMAX, X, y, n_workers=k, staleness_bound=0, lr=0.4 / k, n_updates=3 * k,
                               batch_size=None, random_state=0)
    assert not np.allclose(ssp0.params, sync.params, atol=1e-10)
    # The difference is exactly the weighting: 337/1347 versus 1/4 per shard, far below 1e-2.
    assert np.abs(ssp0.params - sync.params).max() < 1e-2


@pytest.mark.parametrize("run", [
    lambda X, y, **kw: sync_sgd(SOFTMAX, X, y, n_steps=1, **kw),
    lambda X, y, **kw: local_sgd(SOFTMAX, X, y, n_rounds=1, **kw),
    lambda X, y, **kw: async_sgd_simulated(SOFTMAX, X, y, n_updates=1, **kw),
], ids=["sync_sgd", "local_sgd", "async_sgd_simulated"])
@pytest.mark.parametrize("kw, error, words", [
    (dict(lr="0.1"), TypeError, ("lr", "'0.1'", "str")),
    (dict(lr=True), TypeError, ("lr", "True")),
    (dict(lr=float("inf")), ValueError, ("lr=inf", "finite number > 0")),
    (dict(callback=5), TypeError, ("callback", "5", "callable")),
])
def test_bad_lr_and_callback_are_refused_before_any_work(digits, run, kw, error, words):
    X, y = digits
    with pytest.raises(error) as info:
        run(X, y, **kw)
    assert all(word in str(info.value) for word in words), str(info.value)


def test_sync_topk_ratio_of_the_wrong_type(digits):
    X, y = digits
    with pytest.raises(TypeError, match="topk_ratio must be a number in \\(0, 1\\], got '0.1' \\(str\\)"):
        sync_sgd(SOFTMAX, X, y, n_steps=1, compression="topk", topk_ratio="0.1", random_state=0)

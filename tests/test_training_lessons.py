"""Notebook 04's lessons: SSP's bound in its own unit (clock gaps), staleness that costs on non-IID shards,
the data-parallel speedup model against model size, and the one source of figures (plsim.training.lessons)."""

import math

import numpy as np
import pytest

from plsim.comm import LinkModel
from plsim.data import load_dataset, partition_shards
from plsim.models import MLP, SoftmaxRegression
from plsim.training import lessons
from plsim.training.async_ps import async_sgd, async_sgd_simulated
from plsim.training.demo import TrainingDemo, demo_settings
from plsim.training.scaling import SizeSpeedup, measure_size_speedup

SOFTMAX = SoftmaxRegression(64, 10)


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits")
    return ds.X_train, ds.y_train


# -- SSP: the bound is in clock gaps ------------------------------------------------------------
def test_hand_checked_ssp_schedule_records_staleness_and_clock_gap(digits):
    # 2 workers, worker 1 four times slower, bound 1, worked by hand on the virtual clock:
    # t=1 w0 pushes (stale 0, gap 0), restarts 1 ahead (gap 1); t=2 w0 pushes (stale 0, gap 1), is 2 ahead: waits;
    # t=4 w1 pushes its first gradient, read at version 0 with 2 updates applied since (stale 2, gap 0);
    #     both restart at version 3 (w0 gap 1, w1 gap 0); t=5 w0 pushes (stale 0, gap 1) and waits;
    # t=8 w1 pushes (stale 1: w0's push at t=5 came in between, gap 0).
    X, y = digits
    h = async_sgd_simulated(SOFTMAX, X, y, n_workers=2, worker_speeds=[1, 0.25], staleness_bound=1, lr=0.05,
                            n_updates=5, batch_size=8, random_state=0)
    assert h.staleness == [0, 0, 2, 0, 1]
    assert h.clock_gap == [0, 1, 0, 1, 0]
    assert h.time == [0.0, 1.0, 2.0, 4.0, 5.0, 8.0]
    assert h.info["pushed"] == [3, 2] and h.info["max_clock_gap"] == 1
    # unbounded: worker 0 runs 3 gradients ahead; at t=4 it wins the tie (lower index), then worker 1's
    # gradient, read at version 0, is 4 updates stale with clock gap 0
    a = async_sgd_simulated(SOFTMAX, X, y, n_workers=2, worker_speeds=[1, 0.25], staleness_bound=None, lr=0.05,
                            n_updates=5, batch_size=8, random_state=0)
    assert a.staleness == [0, 0, 0, 0, 4]
    assert a.clock_gap == [0, 1, 2, 3, 0]


@pytest.mark.parametrize("bound", [0, 1, 2, 5])
def test_ssp_never_exceeds_its_bound_in_clock_gaps_and_the_derived_bound_in_updates(digits, bound):
    X, y = digits
    rng = np.random.default_rng(bound)
    for trial in range(3):
        n = int(rng.integers(2, 6))
        speeds = rng.uniform(0.05, 1.0, n)
        h = async_sgd_simulated(SOFTMAX, X, y, n_workers=n, worker_speeds=speeds, staleness_bound=bound, lr=0.02,
                                n_updates=60, batch_size=8, jitter=0.5, random_state=trial)
        assert len(h.clock_gap) == len(h.staleness) == 60
        assert max(h.clock_gap) <= bound and h.info["max_clock_gap"] <= bound
        # while one worker computes, each other one can push at most 2s + 1 gradients
        assert max(h.staleness) <= (n - 1) * (2 * bound + 1)
        assert sum(h.info["pushed"]) == 60


def test_unbounded_async_exceeds_any_small_bound_with_a_straggler(digits):
    X, y = digits
    h = async_sgd_simulated(SOFTMAX, X, y, n_workers=4, worker_speeds=[1, 1, 1, 0.1], lr=0.05, n_updates=100,
                            batch_size=8, random_state=0)
    assert max(h.clock_gap) > 10
    # the straggler's gradients: clock gap 0 (it is the slowest) but the stalest in updates
    stalest = int(np.argmax(h.staleness))
    assert h.clock_gap[stalest] == 0 and h.staleness[stalest] >= 27


# -- shards: non-IID workers ------------------------------------------------------------------------
def test_shards_are_each_workers_rows(digits):
    X, y = digits
    parts = partition_shards(y, 3, 2, random_state=0)
    h = async_sgd_simulated(SOFTMAX, X, y, shards=parts, lr=0.1, n_updates=3, batch_size=None, random_state=0)
    # equal speeds: the first round's three gradients are all taken at w0, each on its worker's whole shard
    want = _w0() - 0.1 * sum(SOFTMAX.gradient(_w0(), X[p], y[p]) for p in parts)
    np.testing.assert_allclose(h.params, want, atol=1e-12)
    assert h.info["n_workers"] == 3
    # the real parameter server, sequentially, takes the same shards
    real = async_sgd(SOFTMAX, X, y, shards=parts, lr=0.1, n_updates=3, batch_size=None, random_state=0)
    np.testing.assert_allclose(real.params, want, atol=1e-12)


def _w0():
    from plsim.training._common import check_w0

    return check_w0(SOFTMAX, None, 0)


def test_bad_shards_are_refused_by_name(digits):
    X, y = digits
    with pytest.raises(ValueError, match="n_workers=2 but 3 shards"):
        async_sgd_simulated(SOFTMAX, X, y, n_workers=2, shards=partition_shards(y, 3, 2), random_state=0)
    with pytest.raises(TypeError, match="shards must be a non-empty list"):
        async_sgd(SOFTMAX, X, y, shards=np.arange(10), random_state=0)
    with pytest.raises(ValueError, match=r"shards\[1\] must hold distinct row indices"):
        async_sgd_simulated(SOFTMAX, X, y, shards=[np.arange(5), np.array([0, len(y)])], random_state=0)


# -- staleness that costs ---------------------------------------------------------------------------
def test_staleness_costs_updates_on_non_iid_shards_but_not_on_iid_ones():
    race = lessons.staleness_race(demo_settings(small=False))
    # deterministic (virtual clock, fixed seeds): the same in every profile
    assert race.straggler == 3 and race.straggler_only_labels  # the straggler holds digits nobody else has
    more = race.ratio(race.asynchronous, race.sync)
    assert race.reached(race.asynchronous) and race.reached(race.sync)
    assert more >= 1.2
    assert race.ratio(race.asynchronous, race.sync, "seconds") < 1  # yet async gets there first in time
    assert race.ratio(race.iid["async"], race.iid["ssp(s=0)"]) < 1.1  # IID: the straggler costs (almost) nothing
    # lock-step applies one gradient of every worker per round; async hears from the straggler far less often
    sync_share = race.sync.info["pushed"][3] / sum(race.sync.info["pushed"])
    async_share = race.asynchronous.info["pushed"][3] / sum(race.asynchronous.info["pushed"])
    assert sync_share == pytest.approx(0.25, abs=0.01) and async_share < 0.05
    assert max(race.ssp.clock_gap) <= race.ssp.info["staleness_bound"] < max(race.asynchronous.clock_gap)


def test_small_mode_runs_the_same_staleness_race():
    full, small = demo_settings(small=False), demo_settings(small=True)
    fields = ("async_workers", "worker_speeds", "async_labels", "async_lr", "async_updates", "async_batch",
              "async_target", "staleness_bounds")
    assert [getattr(full, f) for f in fields] == [getattr(small, f) for f in fields]


# -- the speedup model against model size ---------------------------------------------------------
def _sweep(parallel=2, alpha=0.02, beta=1e-9, fit=(1e-3, 2e-7)):
    return SizeSpeedup(hidden=((8,), (64,)), params=(1000, 100_000), one_process_s=(0.0012, 0.021),
                       data_parallel_s=(0.03, 0.035), replicas=2, parallel=parallel,
                       link=LinkModel(alpha=alpha, beta=beta), compute_fit=fit)


def test_size_speedup_model_by_hand():
    s = _sweep()
    assert s.kind == "measured"
    assert s.speedup == pytest.approx((0.0012 / 0.03, 0.021 / 0.035))
    # T_2 = T_1 / 2 + alpha + 8 n beta  with T_1 = 1e-3 + 2e-7 n
    n = 1e6
    t1 = 1e-3 + 2e-7 * n
    assert s.one_process_seconds(n) == pytest.approx(t1)
    assert s.predicted_seconds(n) == pytest.approx(t1 / 2 + 0.02 + 8 * n * 1e-9)
    assert s.predicted_speedup(n) == pytest.approx(t1 / (t1 / 2 + 0.02 + 8 * n * 1e-9))
    assert s.predicted_speedup(n, one_process_s=0.5) == pytest.approx(0.5 / (0.25 + 0.02 + 8 * n * 1e-9))
    # one CPU: the replicas take turns, so no step can be faster than one process
    assert s.predicted_seconds(n, parallel=1) == pytest.approx(t1 + 0.02 + 8 * n * 1e-9)
    assert s.predicted_speedup(n, parallel=1) < 1 and s.crossover_params(parallel=1) is None
    # crossover: T_1 / 2 = alpha + 8 n beta  ->  (1e-3 + 2e-7 n) / 2 = 0.02 + 8e-9 n
    x = s.crossover_params()
    assert x == pytest.approx((0.02 - 0.5e-3) / (1e-7 - 8e-9))
    assert s.predicted_speedup(x) == pytest.approx(1.0)
    assert _sweep(parallel=1).kind == "measured, 2 replicas taking turns on 1 CPU"
    # bytes dearer than compute: never pays
    assert _sweep(beta=1e-7).crossover_params() is None


def test_measure_size_speedup_sequential_has_the_shape_and_labels(digits):
    X, y = digits
    s = measure_size_speedup(None, X[:200], y[:200], [(4,), (32,)], n_steps=2, min_seconds=0)
    assert s.params == (MLP(64, hidden=(4,), n_classes=10).n_params, MLP(64, hidden=(32,), n_classes=10).n_params)
    assert s.parallel == 1 and s.kind.startswith("measured, 2 replicas taking turns")
    assert s.link.beta == 0 and s.link.alpha >= 0
    assert all(t > 0 for t in s.one_process_s + s.data_parallel_s)
    assert len(s.speedup) == 2
    with pytest.raises(ValueError, match="replicas=1"):
        measure_size_speedup(None, X, y, [(4,)], replicas=1)
    with pytest.raises(ValueError, match="hidden_sizes must name at least one model"):
        measure_size_speedup(None, X, y, [])


# -- one source of figures ----------------------------------------------------------------------------
def test_course_figures_keys_come_from_the_notebooks_functions(monkeypatch):
    tiny = TrainingDemo(sync_steps=3, dp_hidden=((4,), (16,)), dp_steps=2, bench_samples=300, bench_features=20)
    monkeypatch.setattr(lessons, "demo_settings", lambda small=None: tiny)
    monkeypatch.setattr("plsim.current_client", lambda: None)  # no cluster: sequential, one CPU
    f = lessons.course_figures(None)
    race = lessons.staleness_race(tiny)
    assert f["async_updates_over_sync"] == pytest.approx(race.ratio(race.asynchronous, race.sync), abs=1e-3)
    assert f["async_time_over_sync"] == pytest.approx(race.ratio(race.asynchronous, race.sync, "seconds"), abs=1e-3)
    assert f["ssp_bound"] == 3 and f["ssp_max_staleness"] == max(race.ssp.clock_gap) <= 3
    assert f["async_max_clock_gap"] == max(race.asynchronous.clock_gap)
    assert f["cpus"] == 1 and f["workers"] == 1 and "taking turns" in f["data_parallel_kind"]
    assert len(f["data_parallel_params"]) == 2 and f["data_parallel_speedup_2w"] == f["data_parallel_speedups"][-1]
    assert f["data_parallel_small_speedup_2w"] > 0 and math.isfinite(f["data_parallel_predicted_2w"])


def test_plot_size_speedup_labels_what_was_measured_and_what_predicted():
    from plsim.plots.training import plot_size_speedup

    fig = plot_size_speedup(_sweep())
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert any("(predicted)" in lab for lab in labels) and any("(measured)" in lab for lab in labels)
    measured = next(line for line in ax.get_lines() if "(measured)" in line.get_label())
    np.testing.assert_allclose(measured.get_ydata(), _sweep().speedup)
    # the 2-CPU run whose largest model lost says so; one CPU says the points are no speedups
    assert "No step paid" in ax.get_title()
    one = plot_size_speedup(_sweep(parallel=1)).axes[0]
    assert "take turns" in one.get_title() and "taking turns on 1 CPU" in "".join(
        line.get_label() for line in one.get_lines())
    with pytest.raises(TypeError, match="SizeSpeedup"):
        plot_size_speedup({"params": [1]})

"""plsim.training.pipeline: split stages give the unsplit model's loss and gradient; the GPipe bubble."""

import numpy as np
import pytest

from plsim.models import MLP, SoftmaxRegression
from plsim.training.pipeline import bubble_fraction, gpipe_schedule, pipeline_gradient, split_stages

MODEL = MLP(12, hidden=(10, 9, 8), n_classes=4, l2=0.01)


def _batch(n=30):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 12)), rng.integers(0, 4, n)


@pytest.mark.parametrize("stages, micro", [(1, 1), (2, 3), (4, 7), (3, 30)])
def test_pipeline_equals_unsplit_sequential(stages, micro):
    X, y = _batch()
    w = MODEL.init_params(3)
    loss, grad = MODEL.loss_and_gradient(w, X, y)
    res = pipeline_gradient(MODEL, w, X, y, n_stages=stages, n_micro=micro)
    assert res.loss == pytest.approx(loss, abs=1e-12)
    np.testing.assert_allclose(res.gradient, grad, atol=1e-12)


@pytest.mark.slow
def test_pipeline_on_cluster_equals_unsplit(client):
    X, y = _batch()
    w = MODEL.init_params(3)
    loss, grad = MODEL.loss_and_gradient(w, X, y)
    res = pipeline_gradient(MODEL, w, X, y, n_stages=4, n_micro=5, executor=client)
    np.testing.assert_allclose(res.gradient, grad, atol=1e-12)
    assert res.loss == pytest.approx(loss, abs=1e-12)
    # where each stage really ran: the cluster's workers (Dask places them; none is pinned)
    assert all(stage and set(stage) <= set(client.nthreads()) for stage in res.info["workers"])
    tl = res.timeline
    assert tl.kind == "measured" and len(tl.events) == 2 * 4 * 5 and 0 <= tl.bubble_fraction < 1
    # activations forward (3 boundaries) and gradients backward, 30 rows each: widths 10, 9, 8
    assert res.bytes_sent == 2 * 30 * (10 + 9 + 8) * 8


def test_split_stages():
    assert split_stages(MODEL, 4) == [[0], [1], [2], [3]]
    assert split_stages(MODEL, 3) == [[0, 1], [2], [3]]
    with pytest.raises(ValueError, match="n_stages=5 exceeds the model's 4 layers"):
        split_stages(MODEL, 5)
    with pytest.raises(TypeError, match="MLP"):
        split_stages(SoftmaxRegression(3, 2), 1)


@pytest.mark.parametrize("p, m", [(1, 1), (2, 1), (4, 4), (4, 16), (3, 7)])
def test_virtual_schedule_bubble_matches_formula(p, m):
    tl = gpipe_schedule(p, m, forward_time=1.0, backward_time=2.0)
    assert tl.bubble_fraction == pytest.approx((p - 1) / (m + p - 1), abs=1e-12)
    assert tl.makespan == pytest.approx((m + p - 1) * 3.0)
    assert tl.kind == "simulated"
    assert np.allclose(tl.busy(), m * 3.0)


def test_bubble_formula_and_bad_inputs():
    assert bubble_fraction(4, 8) == pytest.approx(3 / 11)
    assert bubble_fraction(1, 5) == 0.0
    with pytest.raises(ValueError, match="n_micro=0"):
        bubble_fraction(2, 0)
    with pytest.raises(ValueError, match="forward_time"):
        gpipe_schedule(2, 2, forward_time=-1)
    X, y = _batch(4)
    with pytest.raises(ValueError, match="n_micro=5 exceeds the 4 rows"):
        pipeline_gradient(MODEL, MODEL.init_params(), X, y, n_micro=5)


def test_an_interrupted_pipeline_pass_cancels_its_tasks_and_the_cluster_stays_usable(client, monkeypatch):
    """KeyboardInterrupt while the pass waits for its results (where the kernel's stop button lands)."""
    import time

    def keys():
        return set(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks)))

    X, y = _batch()
    w = MODEL.init_params(3)
    before, workers = keys(), sorted(client.nthreads())

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(client, "gather", interrupted)
    with pytest.raises(KeyboardInterrupt) as info:  # ``info`` keeps the frames, and so the futures, alive
        pipeline_gradient(MODEL, w, X, y, n_stages=3, n_micro=4, executor=client)
    monkeypatch.undo()
    deadline = time.monotonic() + 5
    while (left := keys() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left and info.value is not None  # cancelled, not merely abandoned
    res = pipeline_gradient(MODEL, w, X, y, n_stages=3, n_micro=4, executor=client)
    np.testing.assert_allclose(res.gradient, MODEL.gradient(w, X, y), atol=1e-12)
    assert sorted(client.nthreads()) == workers

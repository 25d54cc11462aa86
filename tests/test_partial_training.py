"""Interrupted or stopped training runs return what finished; training runs stop when they diverge.

A KeyboardInterrupt is raised from the progress callback after k steps (the kernel's
interrupt button raises the same exception wherever the main thread is; tests/test_interrupt.py
drives a real kernel). The partial history must equal the first k steps of an
uninterrupted run with the same random_state, its parameters those of a run asked for k,
and the cluster must stay usable: nothing of the run left on the scheduler, the same workers.

Divergence is checked on least squares, where the step size that diverges is known exactly:
gradient descent on ``||X w - y||^2 / (2 n)`` multiplies the error along the Hessian's top
eigenvector by ``1 - lr * L`` each step (``L`` the largest eigenvalue of ``X^T X / n``), so it
diverges for ``lr > 2 / L`` and converges monotonically for ``lr < 2 / L``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from plsim import data, models
from plsim import data, federated as F, models
from plsim.training._common import DIVERGED_LOSS_FACTOR
from plsim.training.async_ps import async_sgd, async_sgd_simulated
from plsim.training.local_sgd import local_sgd
from plsim.training.sync import large_batch_sgd, sync_sgd
from _partial_helpers import _left_behind, _scheduler_keys


# -- helpers -------------------------------------------------------------------------------------------
def _interrupt_training_after(k):
    def callback(event):
        if event.done >= k:
            raise KeyboardInterrupt
        return False
    return callback



@pytest.fixture(scope="module")
def digits():
    ds = data.load_dataset("digits", n_samples=600, random_state=0)
    return ds.X_train, ds.y_train


SOFTMAX = models.SoftmaxRegression(64, 10)




def test_sync_interrupt_while_a_step_is_being_recorded_returns_the_steps_before_it(digits, monkeypatch):
    """The interrupt lands after step 4's results arrived but before the history holds it (here: inside the
    first call recording it makes): the history and the parameters both end at step 3."""
    import plsim.training.sync as sync_module

    class InterruptingNumpy:  # numpy, but the 4th np.dot (recording step 4's loss) is interrupted
        calls = 0

        def __getattr__(self, name):
            return getattr(np, name)

        def dot(self, *args):
            InterruptingNumpy.calls += 1
            if InterruptingNumpy.calls == 4:
                raise KeyboardInterrupt
            return np.dot(*args)

    X, y = digits
    kw = dict(n_workers=2, lr=0.3, batch_size=64, random_state=1)
    monkeypatch.setattr(sync_module, "np", InterruptingNumpy())
    with pytest.warns(UserWarning, match="sync_sgd was interrupted after 3 of 8 steps"):
        part = sync_sgd(SOFTMAX, X, y, n_steps=8, **kw)
    monkeypatch.undo()
    ref = sync_sgd(SOFTMAX, X, y, n_steps=3, **kw)
    assert part.steps == [1, 2, 3] and part.loss == ref.loss
    np.testing.assert_array_equal(part.params, ref.params)


def test_sync_interrupt_here_returns_the_first_steps(digits):
    X, y = digits
    kw = dict(n_workers=2, lr=0.3, batch_size=64, random_state=1)
    full = sync_sgd(SOFTMAX, X, y, n_steps=8, **kw)
    with pytest.warns(UserWarning, match="sync_sgd was interrupted after 3 of 8 steps"):
        part = sync_sgd(SOFTMAX, X, y, n_steps=8, callback=_interrupt_training_after(3), **kw)
    assert part.partial and part.stopped_reason == "interrupted"
    assert part.steps == [1, 2, 3] and part.loss == full.loss[:3] and part.bytes_sent == full.bytes_sent[:3]
    np.testing.assert_array_equal(part.params, sync_sgd(SOFTMAX, X, y, n_steps=3, **kw).params)


@pytest.mark.parametrize("runner", [sync_sgd, large_batch_sgd, local_sgd, async_sgd_simulated],
                         ids=lambda f: f.__name__)
def test_an_interrupt_landing_anywhere_keeps_a_consistent_history(digits, runner):
    """The kernel's interrupt arrives at an arbitrary point of the loop (here: a timer in another thread)."""
    import _thread
    import threading

    X, y = digits
    size = {sync_sgd: "n_steps", large_batch_sgd: "n_steps", local_sgd: "n_rounds",
            async_sgd_simulated: "n_updates"}[runner]
    kw = dict(lr=0.05, batch_size=32 if runner is not sync_sgd else 64, random_state=5)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.warns(UserWarning, match="interrupted after"):
            part = runner(SOFTMAX, X, y, **{size: 10**6}, **kw)
    finally:
        timer.cancel()
    done = part.steps[-1] if runner is not local_sgd else len(part.steps) - 1  # local_sgd: rounds after step 0
    assert part.partial and 0 < done < 10**6
    ref = runner(SOFTMAX, X, y, **{size: done}, **kw)
    assert part.steps == ref.steps and len(part.time) == len(ref.time)
    np.testing.assert_allclose(part.loss, ref.loss, rtol=0, atol=1e-12)
    assert part.bytes_sent == ref.bytes_sent and part.staleness == ref.staleness
    np.testing.assert_array_equal(part.params, ref.params)


def test_sync_interrupt_on_the_cluster_cancels_the_steps_ahead(client, digits):
    X, y = digits
    kw = dict(n_workers=2, lr=0.3, batch_size=64, random_state=1)
    workers, before = sorted(client.nthreads()), _scheduler_keys(client)
    here = sync_sgd(SOFTMAX, X, y, n_steps=3, **kw)
    with pytest.warns(UserWarning, match="interrupted after 3 of 40 steps"):
        part = sync_sgd(SOFTMAX, X, y, executor=client, n_steps=40, lag=2, callback=_interrupt_training_after(3),
                        **kw)
    assert part.partial and part.steps == [1, 2, 3] and part.info["replicas_identical"]
    np.testing.assert_allclose(part.loss, here.loss, rtol=0, atol=1e-12)
    # the parameters after step 3, not those of the steps submitted ahead (lag=2)
    np.testing.assert_allclose(part.params, here.params, rtol=0, atol=1e-12)
    assert _left_behind(client, before) == set()
    assert sorted(client.nthreads()) == workers
    again = sync_sgd(SOFTMAX, X, y, executor=client, n_steps=3, **kw)
    np.testing.assert_array_equal(again.params, part.params)


def test_sync_callback_stop_on_the_cluster_returns_the_stopped_step(client, digits):
    X, y = digits
    kw = dict(n_workers=2, lr=0.3, batch_size=64, random_state=1)
    h = sync_sgd(SOFTMAX, X, y, executor=client, n_steps=40, lag=3, callback=lambda event: event.done >= 2, **kw)
    assert h.steps == [1, 2] and h.stopped_reason == "stopped"
    np.testing.assert_allclose(h.params, sync_sgd(SOFTMAX, X, y, n_steps=2, **kw).params, rtol=0, atol=1e-12)


def test_async_simulated_interrupt_returns_the_first_updates(digits):
    X, y = digits
    kw = dict(n_workers=3, worker_speeds=[1, 0.5, 2], lr=0.05, batch_size=16, random_state=2)
    full = async_sgd_simulated(SOFTMAX, X, y, n_updates=20, **kw)
    with pytest.warns(UserWarning, match="interrupted after 7 of 20 steps"):
        part = async_sgd_simulated(SOFTMAX, X, y, n_updates=20, callback=_interrupt_training_after(7), **kw)
    assert part.partial and part.steps == list(range(8)) and part.loss == full.loss[:8]
    assert part.staleness == full.staleness[:7] and part.bytes_sent == full.bytes_sent[:7]
    np.testing.assert_array_equal(part.params, async_sgd_simulated(SOFTMAX, X, y, n_updates=7, **kw).params)


def test_async_interrupt_on_the_cluster(client, digits):
    X, y = digits
    # one asynchronous worker: a single gradient in flight, so the trajectory is reproducible
    kw = dict(n_workers=1, lr=0.05, batch_size=16, random_state=2)
    workers, before = sorted(client.nthreads()), _scheduler_keys(client)
    with pytest.warns(UserWarning, match="async_sgd was interrupted after 4 of 30 steps"):
        part = async_sgd(SOFTMAX, X, y, executor=client, n_updates=30, callback=_interrupt_training_after(4), **kw)
    ref = async_sgd(SOFTMAX, X, y, executor=client, n_updates=4, **kw)
    assert part.partial and part.steps == ref.steps and part.staleness == ref.staleness == [0] * 4
    np.testing.assert_allclose(part.loss, ref.loss, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(part.params, ref.params)
    assert _left_behind(client, before) == set() and sorted(client.nthreads()) == workers


@pytest.mark.parametrize("on_cluster", [False, True])
def test_local_sgd_interrupt_returns_the_first_rounds(request, digits, on_cluster):
    X, y = digits
    dask_client = request.getfixturevalue("client") if on_cluster else None
    kw = dict(n_workers=2, H=2, lr=0.2, batch_size=16, random_state=4)
    full = local_sgd(SOFTMAX, X, y, n_rounds=6, **kw)
    before = _scheduler_keys(dask_client) if on_cluster else set()
    with pytest.warns(UserWarning, match="local_sgd was interrupted after 4 of 12 steps"):
        part = local_sgd(SOFTMAX, X, y, executor=dask_client, n_rounds=6, callback=_interrupt_training_after(2),
                         **kw)
    assert part.partial and part.steps == [0, 2, 4] and part.bytes_sent == full.bytes_sent[:3]
    np.testing.assert_allclose(part.loss, full.loss[:3], rtol=0, atol=1e-12)
    np.testing.assert_allclose(part.params, local_sgd(SOFTMAX, X, y, n_rounds=2, **kw).params, rtol=0, atol=1e-12)
    if on_cluster:
        assert _left_behind(dask_client, before) == set() and len(dask_client.nthreads()) == 2


def test_race_stop_returns_partial_histories_equal_to_the_start_of_full_runs(client):
    from plsim.data import load_dataset
    from plsim.models import SoftmaxRegression
    from plsim.widgets.training import race_work

    class Report:  # the panel's Report: Stop pressed once the runs have made some progress
        calls = 0

        @property
        def stopped(self):
            return self.calls >= 3

        def progress(self, done, total, text=""):
            self.calls += done > 0

        def figure(self, fig):
            pass

        def html(self, text):
            self.text = text

    params = {"sync": True, "async": False, "local_sgd": True, "workers": 2, "staleness": -1, "H": 1,
              "steps": 200, "lr": 0.1, "link": "home"}
    report = Report()
    out = race_work(params, report, executor=client, redraw_every=0.05)
    ds = load_dataset("digits")
    model = SoftmaxRegression(ds.X_train.shape[1], ds.n_classes)
    for key, h in out.items():
        assert h.partial and h.stopped_reason == "stopped" and 1 <= len(h.steps) - (key != "sync") < 200, key
    sync = out["sync"]  # the same steps as the single-process large-batch run asked for that many
    ref = large_batch_sgd(model, ds.X_train, ds.y_train, n_workers=2, lr=0.1, n_steps=len(sync.steps),
                          batch_size=64, random_state=0)
    np.testing.assert_allclose(sync.loss, ref.loss, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sync.params, ref.params, rtol=0, atol=1e-10)
    assert "stopped at step" in report.text and "partial" in report.text


# -- training: divergence -----------------------------------------------------------------------------
class LeastSquares:
    """``||X w - y||^2 / (2 n)`` with plsim's model interface: a loss whose curvature is known exactly."""

    def __init__(self, n_features):
        self.n_params = n_features

    def check_X(self, X):
        return np.asarray(X, dtype=np.float64)

    def check_y(self, y, n):
        return np.asarray(y, dtype=np.float64).reshape(n)

    def check_params(self, w):
        return np.asarray(w, dtype=np.float64)

    def init_params(self, random_state=0):
        return np.zeros(self.n_params)

    def loss(self, w, X, y):
        r = X @ w - y
        return float(r @ r / (2 * len(y)))

    def gradient(self, w, X, y):
        return X.T @ (X @ w - y) / len(y)

    def loss_and_gradient(self, w, X, y):
        return self.loss(w, X, y), self.gradient(w, X, y)


@pytest.fixture(scope="module")
def lsq():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)) * np.array([3.0, 1.0, 0.5, 0.2])
    y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * rng.normal(size=120)
    L = float(np.linalg.eigvalsh(X.T @ X / len(y)).max())  # the largest curvature
    return LeastSquares(4), X, y, L


def _gd_losses(model, X, y, lr, n):
    """Losses of plain full-batch gradient descent from w = 0: [f(w_0), f(w_1), ..., f(w_n)]."""
    w, out = np.zeros(model.n_params), []
    with np.errstate(all="ignore"):
        for _ in range(n + 1):
            out.append(model.loss(w, X, y))
            w = w - lr * model.gradient(w, X, y)
    return out


def _first_blowup(losses):
    """First j with f(w_j) not finite or above the factor times max(f(w_0), 1)."""
    limit = DIVERGED_LOSS_FACTOR * max(losses[0], 1.0)
    return next(j for j, value in enumerate(losses) if not np.isfinite(value) or value > limit)


# Each runner with full batches is gradient descent: sync and its large-batch twin record f before
# step s (f(w_{s-1})),
# local SGD (H = 1) and the one-worker parameter server record f after update s (f(w_s)).
RUNNERS = {
    "sync_sgd": (lambda m, X, y, lr, n: sync_sgd(m, X, y, n_workers=3, lr=lr, n_steps=n, batch_size=None, random_state=0), 1),
    "large_batch_sgd": (lambda m, X, y, lr, n: large_batch_sgd(m, X, y, n_workers=3, lr=lr, n_steps=n,
                                                               batch_size=None, random_state=0), 1),
    "local_sgd": (lambda m, X, y, lr, n: local_sgd(m, X, y, n_workers=3, H=1, n_rounds=n, lr=lr, batch_size=None, random_state=0),
                  0),
    "async_sgd_simulated": (lambda m, X, y, lr, n: async_sgd_simulated(m, X, y, n_workers=1, lr=lr, n_updates=n,
                                                                       batch_size=None, random_state=0), 0),
}


@pytest.mark.parametrize("name", list(RUNNERS))
def test_a_step_size_above_two_over_L_is_stopped_and_reported(lsq, name):
    model, X, y, L = lsq
    run, offset = RUNNERS[name]
    lr = 1.1 * 2 / L  # |1 - lr L| = 1.2: the error grows 1.2x per step along the top eigenvector
    expected = _first_blowup(_gd_losses(model, X, y, lr, 300)) + offset
    with pytest.warns(RuntimeWarning, match=rf"{name} diverged at step {expected}:") as caught:
        h = run(model, X, y, lr, 300)
    text = next(str(w.message) for w in caught if "diverged" in str(w.message))
    assert f"lr={lr:g}" in text and "lower it" in text
    assert h.diverged_step == expected and h.stopped_reason == "diverged" and h.partial
    assert h.steps[-1] == expected and h.loss[-1] > DIVERGED_LOSS_FACTOR * max(h.loss[0], 1.0)
    # the run really stopped there
    assert len(h.steps) == expected + (1 - offset)


@pytest.mark.parametrize("name", list(RUNNERS))
def test_a_step_size_just_below_two_over_L_runs_to_the_end(lsq, name):
    model, X, y, L = lsq
    run, _ = RUNNERS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = run(model, X, y, 0.95 * 2 / L, 300)
    assert h.diverged_step is None and not h.partial and h.steps[-1] == 300
    assert all(b <= a + 1e-12 for a, b in zip(h.loss, h.loss[1:]))  # lr < 2/L: monotone on a quadratic


def test_sync_divergence_on_the_cluster(client, digits):
    X, y = digits
    with pytest.warns(RuntimeWarning, match=r"sync_sgd diverged at step \d+: .* lr=1e\+06"):
        h = sync_sgd(SOFTMAX, X, y, executor=client, n_workers=2, lr=1e6, n_steps=50, batch_size=64, random_state=0)
    assert h.diverged_step == h.steps[-1] < 50 and h.stopped_reason == "diverged"

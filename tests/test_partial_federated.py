"""Interrupted or stopped federated runs return what finished.

A KeyboardInterrupt is raised from the progress callback after k rounds (the kernel's
interrupt button raises the same exception wherever the main thread is; tests/test_interrupt.py
drives a real kernel). The partial history must equal the first k rounds of an
uninterrupted run with the same random_state, its parameters those of a run asked for k,
and the cluster must stay usable: nothing of the run left on the scheduler, the same workers.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from plsim import data, federated as F, models
from _partial_helpers import _left_behind, _scheduler_keys


# -- helpers -------------------------------------------------------------------------------------------
def _interrupt_federated_after(k):
    def callback(event):
        if event.done >= k:
            raise KeyboardInterrupt
    return callback


def _same_rounds(partial, full):
    """Records equal but for the measured wall-clock seconds."""
    strip = [{**r.as_dict(), "wall_seconds_measured": None} for r in partial.records]
    return strip == [{**r.as_dict(), "wall_seconds_measured": None} for r in full.records[:len(partial.records)]]



@pytest.fixture(scope="module")
def fed():
    ds = data.load_dataset("digits", n_samples=400, random_state=0)
    parts = data.partition(ds.y_train, 8, "iid", random_state=0)
    return ds, parts, models.MLP(ds.n_features, (8,), ds.n_classes)


FED = dict(rounds=6, client_fraction=0.5, local_epochs=1, batch_size=20, lr=0.1, random_state=3)


# -- federated ----------------------------------------------------------------------------------------
def test_federated_interrupt_returns_the_rounds_that_finished(fed):
    ds, parts, model = fed
    full = F.run_federated(model, ds, parts, **FED)
    assert not full.partial and full.stopped_reason is None
    with pytest.warns(UserWarning, match="interrupted after 3 of 6 rounds"):
        part = F.run_federated(model, ds, parts, **FED, callback=_interrupt_federated_after(3))
    assert part.partial and part.stopped_reason == "interrupted" and len(part) == 3
    assert _same_rounds(part, full)
    np.testing.assert_array_equal(part.weights, F.run_federated(model, ds, parts, **{**FED, "rounds": 3}).weights)
    assert "partial: interrupted after 3 of 6 rounds" in part.summary()


def test_federated_interrupt_landing_anywhere_keeps_a_consistent_history(fed):
    """The kernel's interrupt arrives at an arbitrary point of a round (here: a timer in another thread)."""
    import _thread
    import threading

    ds, parts, model = fed
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.warns(UserWarning, match="interrupted after"):
            part = F.run_federated(model, ds, parts, **{**FED, "rounds": 10**6})
    finally:
        timer.cancel()
    k = len(part)
    assert part.partial and 0 < k < 10**6
    ref = F.run_federated(model, ds, parts, **{**FED, "rounds": k})
    assert _same_rounds(part, ref) and len(part.ledger.rounds) == k
    assert part.ledger.total_bytes == ref.ledger.total_bytes == part.records[-1].cumulative_bytes
    np.testing.assert_array_equal(part.weights, ref.weights)


def test_federated_callback_stop_is_flagged_partial_not_interrupted(fed):
    ds, parts, model = fed
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a stop the caller asked for is not warned about
        h = F.run_federated(model, ds, parts, **FED, callback=lambda event: event.done >= 2)
    assert h.partial and h.stopped_reason == "stopped" and h.stopped_early and len(h) == 2
    # stopping in the last round leaves nothing out: not partial
    last = F.run_federated(model, ds, parts, **FED, callback=lambda event: event.done >= 6)
    assert not last.partial and len(last) == 6


def test_federated_interrupt_on_the_cluster_keeps_it_usable(client, fed):
    ds, parts, model = fed
    workers, before = sorted(client.nthreads()), _scheduler_keys(client)
    full = F.run_federated(model, ds, parts, **FED)
    with pytest.warns(UserWarning, match="interrupted after 2 of 6 rounds"):
        part = F.run_federated(model, ds, parts, **FED, executor=client, callback=_interrupt_federated_after(2))
    assert part.partial and len(part) == 2 and _same_rounds(part, full)
    assert _left_behind(client, before) == set()  # the data scattered for the run is gone too
    again = F.run_federated(model, ds, parts, **{**FED, "rounds": 2}, executor=client)  # same cluster, same workers
    assert sorted(client.nthreads()) == workers and _same_rounds(again, full)
    np.testing.assert_array_equal(part.weights, again.weights)


def test_federated_stop_of_the_playground_returns_a_partial_history():
    from plsim.widgets.federated import _details, play_federation

    params = dict(n_clients=6, partition="IID", alpha=1.0, algorithm="fedavg", rounds=5, client_fraction=0.5,
                  local_epochs=1, batch_size="20", lr=0.05, mu=0.0, noise_multiplier=0.0, dropout_rate=0.0)
    seen = []
    part, _ = play_federation(params, callback=lambda event: seen.append(event.done) or len(seen) >= 2)
    full, _ = play_federation(params)
    assert part.partial and part.stopped_reason == "stopped" and len(part) == 2 and _same_rounds(part, full)
    assert "2 rounds of 5 (partial: stopped)" in _details(part)


# -- training: interrupted ----------------------------------------------------------------------------

def test_an_interrupt_ends_a_whole_learning_rate_sweep_not_one_run(fed, monkeypatch):
    """run_federated returns its partial history; tune_lr must not go on with the next rate."""
    import plsim.federated.runner as runner
    from plsim.federated.comparison import tune_lr

    ds, parts, model = fed
    real, calls = runner.run_federated, []

    def interrupted_at_the_second_rate(*args, **kwargs):
        calls.append(kwargs["lr"])
        if len(calls) == 2:
            kwargs["callback"] = _interrupt_federated_after(1)  # as if the kernel's button was pressed
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "run_federated", interrupted_at_the_second_rate)
    with pytest.warns(UserWarning, match="interrupted after 1 of"), \
            pytest.raises(KeyboardInterrupt, match="tune_lr interrupted at lr=0.05"):
        tune_lr(model, ds, parts, (0.1, 0.05, 0.02), target=0.99, max_rounds=3, client_fraction=0.5, random_state=0)
    assert calls == [0.1, 0.05]

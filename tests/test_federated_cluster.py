"""Federated runs on the Dask cluster, the communication ledger, and input validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plsim import data, federated as F, models
from plsim.progress import Progress


@pytest.fixture(scope="module")
def setup():
    ds = data.load_dataset("digits", n_samples=500, random_state=1)
    parts = data.partition_shards(ds.y_train, 10, 2, random_state=0)
    model = models.MLP(ds.n_features, (16,), ds.n_classes)
    return ds, parts, model


def _same_history(a, b):
    np.testing.assert_array_equal(a.weights, b.weights)
    for ra, rb in zip(a.records, b.records, strict=True):
        da, db = ra.as_dict(), rb.as_dict()
        da.pop("wall_seconds_measured"), db.pop("wall_seconds_measured")  # timing is the only difference
        assert da.keys() == db.keys()
        for key in da:
            if isinstance(da[key], float) and math.isnan(da[key]):
                assert math.isnan(db[key])
            else:
                assert da[key] == db[key], key


@pytest.mark.slow
@pytest.mark.parametrize("kw", [
    dict(algorithm="fedavg", local_epochs=2, batch_size=10, lr=0.05, dropout_rate=0.2),
    dict(algorithm="fedprox", mu=0.1, local_epochs=2, batch_size=10, lr=0.05, secure_aggregation=True,
         dropout_rate=0.3),
    dict(algorithm="fedavg", local_epochs=1, batch_size=10, lr=0.05, dp=F.DPConfig(1.0, 0.5, 1e-3),
         server_optimizer="fedavgm"),
])
def test_sequential_and_dask_histories_identical(client, setup, kw):
    ds, parts, model = setup
    clock = F.VirtualClock(speed_sigma=0.8, deadline=0.3, straggler_policy="partial")
    seq = F.run_federated(model, ds, parts, rounds=4, client_fraction=0.5, clock=clock, random_state=4, **kw)
    par = F.run_federated(model, ds, parts, rounds=4, client_fraction=0.5, clock=clock, random_state=4,
                          executor=client, **kw)
    assert par.settings["parallel"] and not seq.settings["parallel"]
    _same_history(seq, par)


@pytest.mark.slow
def test_one_worker_same_as_two(client, setup):
    from distributed import Client, LocalCluster

    ds, parts, model = setup
    kw = dict(rounds=3, client_fraction=0.6, local_epochs=2, batch_size=8, lr=0.05, random_state=9)
    two = F.run_federated(model, ds, parts, executor=client, **kw)
    seq = F.run_federated(model, ds, parts, **kw)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, memory_limit=2**30,
                      dashboard_address=":0") as cluster, Client(cluster, set_as_default=False) as one_client:
        one = F.run_federated(model, ds, parts, executor=one_client, **kw)
    _same_history(two, one)
    _same_history(seq, one)


@pytest.mark.slow
def test_client_data_scattered_once(client, setup):
    """Each client's data is placed on a worker at the start; rounds only move the model and the updates."""
    import time

    ds, parts, model = setup
    before = len(client.who_has())
    seen = []
    F.run_federated(model, ds, parts, rounds=3, client_fraction=0.3, executor=client,
                    callback=lambda event: seen.append(len(client.who_has())), random_state=0)
    # resident during the run: 10 parties' data (each placed as a group and its field: 2 keys) + the model;
    # at most one round's model copy and its 3 task results on top (released asynchronously) -- nothing
    # accumulates round after round
    resident = 2 * 10 + 1
    assert len(seen) == 3 and min(seen) >= before + resident and max(seen) <= before + resident + 1 + 3
    for _ in range(50):  # and released when the run ends
        if len(client.who_has()) <= before:
            break
        time.sleep(0.1)
    assert len(client.who_has()) <= before


def test_ledger_bytes_hand_computed(setup):
    ds, parts, model = setup
    h = F.run_federated(model, ds, parts, rounds=3, client_fraction=0.5, lr=0.1, random_state=0)
    P = model.n_params
    m = 5  # clients per round = round(0.5 * 10)
    for r in h.records:
        assert r.bytes_down == P * 8 * m          # the float64 model to each selected client
        assert r.bytes_up == (P * 8 + 8) * m      # its update plus its 8-byte weight
        assert r.messages == 2 * m
    assert h.records[-1].cumulative_bytes == 3 * (2 * P * 8 + 8) * m
    assert h.ledger.total_bytes == h.records[-1].cumulative_bytes
    # drop-outs receive the model but never answer
    d = F.run_federated(model, ds, parts, rounds=3, client_fraction=0.5, dropout_rate=0.5, random_state=1)
    for r in d.records:
        assert r.bytes_down == P * 8 * len(r.selected)
        assert r.bytes_up == (P * 8 + 8) * len(r.reporting)
    # secure aggregation sends (P + 1) uint64 words (the same bytes), then each survivor returns one
    # 16-byte Shamir share per selected client, after the server sent it the m survivors' ids (int64)
    s = F.run_federated(model, ds, parts, rounds=1, client_fraction=0.5, secure_aggregation=True, random_state=0)
    assert s.records[0].bytes_up == (P + 1) * 8 * m + m * m * 16
    assert s.records[0].bytes_down == P * 8 * m + m * m * 8


def test_payload_nbytes():
    assert F.payload_nbytes(np.zeros(10)) == 80
    assert F.payload_nbytes(np.zeros(10, dtype=np.float32)) == 40
    assert F.payload_nbytes({"a": np.zeros(3), "w": 2.0, "seeds": [np.zeros(4, np.uint32)]}) == 24 + 8 + 16
    with pytest.raises(TypeError):
        F.payload_nbytes(object())


def test_simulated_time_hand_computed(setup):
    ds, parts, model = setup
    clock = F.VirtualClock(compute_speed=1000.0, bandwidth=1e5, latency=0.1)
    h = F.run_federated(model, ds, [parts[0]], rounds=1, client_fraction=1.0, local_epochs=2, batch_size=10,
                        clock=clock, random_state=0)
    n = len(parts[0])
    P = model.n_params
    expected = 0.1 + P * 8 / 1e5 + 2 * n / 1000.0 + 0.1 + (P * 8 + 8) / 1e5
    assert h.records[0].simulated_seconds == pytest.approx(expected)


def test_callback_stops_and_history_helpers(setup):
    ds, parts, model = setup
    calls = []

    def stop_at_two(event):
        assert isinstance(event, Progress) and event.unit == "round" and event.total == 10
        assert event.record.round == event.done and event.loss == event.record.test_loss
        calls.append(event.done)
        return event.done == 2  # truthy: stop

    h = F.run_federated(model, ds, parts, rounds=10, client_fraction=0.3, callback=stop_at_two, random_state=0)
    assert calls == [1, 2] and len(h) == 2 and h.stopped_early and h.stopped_reason == "stopped"
    h2 = F.run_federated(model, ds, parts, rounds=3, client_fraction=0.3, callback=lambda event: None, random_state=0)
    assert len(h2) == 3 and not h2.partial
    assert h2.rounds_to(0.0) == 1 and h2.rounds_to(1.01) is None
    assert "rounds" in h2.summary() and "simulated" in h2.summary() and "measured" in h2.summary()


def test_inputs_not_mutated(setup):
    ds, parts, model = setup
    before = [p.copy() for p in parts]
    w0 = model.init_params(0)
    w_copy = w0.copy()
    F.run_federated(model, ds, parts, rounds=2, client_fraction=0.5, initial_weights=w0, random_state=0)
    assert all(np.array_equal(a, b) for a, b in zip(parts, before))
    np.testing.assert_array_equal(w0, w_copy)


@pytest.mark.parametrize("kw, exc, word", [
    (dict(client_fraction=0.0), ValueError, "client_fraction"),
    (dict(client_fraction=1.5), ValueError, "client_fraction"),
    (dict(rounds=0), ValueError, "rounds"),
    (dict(rounds=2.5), TypeError, "rounds"),
    (dict(local_epochs=0), ValueError, "local_epochs"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(algorithm="fedfoo"), ValueError, "algorithm"),
    (dict(lr=-1.0), ValueError, "lr"),
    (dict(mu=0.5), ValueError, "mu"),
    (dict(algorithm="fedprox", mu=-1.0), ValueError, "mu"),
    (dict(algorithm="fedsgd", local_epochs=3), ValueError, "fedsgd"),
    (dict(dropout_rate=1.0), ValueError, "dropout_rate"),
    (dict(server_optimizer="sgdx"), ValueError, "server_optimizer"),
    (dict(dp=(1.0, 1.0)), TypeError, "dp"),
    (dict(clock="fast"), TypeError, "clock"),
    (dict(random_state=-1), ValueError, "random_state"),
    (dict(random_state=1.5), ValueError, "random_state"),
    (dict(executor="gpu"), ValueError, "executor"),
    (dict(strategy="fedavg"), TypeError, "strategy"),
    (dict(strategy=F.FedAvg(), lr=0.5), ValueError, "lr"),
    (dict(callback=3), TypeError, "callback"),
])
def test_bad_inputs(setup, kw, exc, word):
    ds, parts, model = setup
    with pytest.raises(exc, match=word):
        F.run_federated(model, ds, parts, **kw)


def test_bad_parts_and_clock(setup):
    ds, parts, model = setup
    with pytest.raises(ValueError, match="parts"):
        F.run_federated(model, ds, [np.array([], dtype=int)], random_state=0)
    with pytest.raises(ValueError, match="clients"):
        F.run_federated(model, ds, [np.array([0])] * (ds.n_train + 1), random_state=0)
    with pytest.raises(ValueError, match="deadline"):
        F.VirtualClock(deadline=0)
    with pytest.raises(ValueError, match="straggler_policy"):
        F.VirtualClock(straggler_policy="wait")

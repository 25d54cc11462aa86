"""Federated algorithms against independent expectations (plsim.federated)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plsim import data, federated as F, models


@pytest.fixture(scope="module")
def small():
    ds = data.load_dataset("digits", n_samples=400, random_state=0)
    parts = data.partition_dirichlet(ds.y_train, 6, 0.5, random_state=1, min_size=5)
    return ds, parts


def _full_gd(model, w, X, y, lr, steps):
    for _ in range(steps):
        w = w - lr * model.gradient(w, X, y)
    return w


@pytest.mark.parametrize("model_name", ["softmax", "mlp"])
def test_fedsgd_all_clients_equals_full_batch_gradient_descent(small, model_name):
    ds, parts = small
    kw = {"hidden": (8,)} if model_name == "mlp" else {}
    model = models.make_model(model_name, ds.n_features, ds.n_classes, l2=1e-3, **kw)
    w0 = model.init_params(3)
    hist = F.run_federated(model, ds, parts, algorithm="fedsgd", rounds=5, client_fraction=1.0, lr=0.3,
                           initial_weights=w0, random_state=0)
    # the union of the clients' data, weighted by sample counts = plain mean over all samples
    idx = np.concatenate(parts)
    expected = _full_gd(model, w0, ds.X_train[idx], ds.y_train[idx], 0.3, 5)
    np.testing.assert_allclose(hist.weights, expected, rtol=0, atol=1e-12)
    assert len(hist) == 5 and all(len(r.selected) == 6 for r in hist.records)


def test_fedavg_one_full_batch_step_equals_fedsgd(small):
    ds, parts = small
    model = models.MLP(ds.n_features, (8,), ds.n_classes)
    common = dict(rounds=4, client_fraction=0.5, lr=0.2, random_state=7)
    sgd = F.run_federated(model, ds, parts, algorithm="fedsgd", **common)
    avg = F.run_federated(model, ds, parts, algorithm="fedavg", local_epochs=1, batch_size=None, **common)
    np.testing.assert_allclose(avg.weights, sgd.weights, rtol=0, atol=1e-12)
    assert [r.selected for r in avg.records] == [r.selected for r in sgd.records]


def test_fedprox_mu0_equals_fedavg(small):
    ds, parts = small
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    common = dict(rounds=3, client_fraction=0.5, local_epochs=2, batch_size=8, lr=0.1, random_state=2)
    a = F.run_federated(model, ds, parts, algorithm="fedavg", **common)
    b = F.run_federated(model, ds, parts, algorithm="fedprox", mu=0.0, **common)
    np.testing.assert_array_equal(a.weights, b.weights)
    c = F.run_federated(model, ds, parts, algorithm="fedprox", mu=1.0, **common)
    assert not np.allclose(a.weights, c.weights)
    # the proximal pull keeps the clients closer to the global model
    assert np.nanmean([r.mean_update_norm for r in c.records]) < np.nanmean([r.mean_update_norm for r in a.records])


def test_proximal_gradient_matches_finite_differences(small):
    ds, parts = small
    model = models.MLP(ds.n_features, (5,), ds.n_classes, activation="tanh")
    rng = np.random.default_rng(0)
    w_g = model.init_params(1)
    w = w_g + 0.1 * rng.standard_normal(model.n_params)
    X, y = ds.X_train[parts[0]], ds.y_train[parts[0]]
    mu = 0.7
    loss, grad = F.prox_loss_and_gradient(model, w, w_g, X, y, mu)
    # the objective really contains mu/2 ||w - w_g||^2
    assert loss == pytest.approx(model.loss(w, X, y) + 0.5 * mu * np.sum((w - w_g) ** 2), rel=1e-12)
    eps = 1e-6
    for i in rng.choice(model.n_params, 15, replace=False):
        e = np.zeros_like(w)
        e[i] = eps
        fd = (F.prox_loss_and_gradient(model, w + e, w_g, X, y, mu)[0]
              - F.prox_loss_and_gradient(model, w - e, w_g, X, y, mu)[0]) / (2 * eps)
        assert grad[i] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_fedavg_single_client_equals_minibatch_sgd(small):
    ds, _ = small
    parts = [np.arange(ds.n_train)]
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    w0 = model.init_params(0)
    hist = F.run_federated(model, ds, parts, algorithm="fedavg", rounds=2, client_fraction=1.0, local_epochs=3,
                           batch_size=32, lr=0.1, random_state=11, initial_weights=w0)
    # independent SGD with the documented batch order: per epoch rng.permutation(n), consecutive batches
    w = w0.copy()
    n = ds.n_train
    for t in (1, 2):
        rng = np.random.default_rng(F.client_seed(11, t, 0))
        for _ in range(3):
            order = rng.permutation(n)
            for s in range(0, n, 32):
                b = order[s:s + 32]
                w = w - 0.1 * model.gradient(w, ds.X_train[b], ds.y_train[b])
    np.testing.assert_allclose(hist.weights, w, rtol=0, atol=1e-12)


def test_weighted_average_hand_computed():
    v = [np.array([1.0, 0.0]), np.array([0.0, 4.0]), np.array([2.0, 2.0])]
    out = F.weighted_average(v, [1, 3, 4])  # (1*[1,0] + 3*[0,4] + 4*[2,2]) / 8
    np.testing.assert_allclose(out, [9 / 8, 20 / 8])


def test_server_aggregation_weights_by_sample_counts():
    # two clients with 1 and 3 samples; FedSGD round = w - lr * (1*g1 + 3*g2) / 4
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0]])
    y = np.array([0, 1, 1, 0])
    ds = data.Dataset(X, y, X, y, 2, "tiny")
    model = models.SoftmaxRegression(2, 2)
    w0 = np.array([0.1, -0.2, 0.3, 0.0, 0.05, -0.05])
    hist = F.run_federated(model, ds, [np.array([0]), np.array([1, 2, 3])], algorithm="fedsgd", rounds=1,
                           client_fraction=1.0, lr=0.5, initial_weights=w0, random_state=0)
    g1 = model.gradient(w0, X[:1], y[:1])
    g2 = model.gradient(w0, X[1:], y[1:])
    np.testing.assert_allclose(hist.weights, w0 - 0.5 * (1 * g1 + 3 * g2) / 4, atol=1e-15)


def test_server_optimizers(small):
    ds, parts = small
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    common = dict(rounds=3, client_fraction=1.0, lr=0.2, algorithm="fedsgd", random_state=0)
    plain = F.run_federated(model, ds, parts, **common)
    m = F.run_federated(model, ds, parts, server_optimizer=F.ServerMomentum(lr=1.0, momentum=0.0), **common)
    np.testing.assert_allclose(m.weights, plain.weights, atol=1e-14)  # momentum 0 = plain FedAvg
    # FedAvgM by hand: v = beta v + d; w -= v
    opt = F.ServerMomentum(lr=1.0, momentum=0.5)
    w = np.zeros(2)
    w = opt.step(w, np.array([1.0, 0.0]))
    w = opt.step(w, np.array([1.0, 0.0]))
    np.testing.assert_allclose(w, [-2.5, 0.0])
    for name in ("fedavgm", "fedadam"):
        h = F.run_federated(model, ds, parts, server_optimizer=name, rounds=5, client_fraction=0.5,
                            local_epochs=2, batch_size=16, lr=0.1, random_state=0)
        assert h.final_accuracy > h.initial_accuracy + 0.2
    given = F.ServerMomentum(momentum=0.9)
    F.run_federated(model, ds, parts, server_optimizer=given, rounds=2, client_fraction=0.5, random_state=0)
    assert given._v is None  # the user's optimizer object is copied, never mutated


def test_fedadam_first_step_closed_form():
    adam = F.ServerAdam(lr=0.1, beta1=0.9, beta2=0.99, tau=0.0)
    d = np.array([3.0, -0.5])
    # m = 0.1 d, v = 0.01 d^2 -> step = lr * 0.1 d / (0.1 |d|) = lr * sign(d)
    np.testing.assert_allclose(adam.step(np.zeros(2), d), [-0.1, 0.1])


def test_partial_and_dropout_bookkeeping(small):
    ds, parts = small
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    h = F.run_federated(model, ds, parts, rounds=6, client_fraction=1.0, dropout_rate=0.4, random_state=3)
    for r in h.records:
        assert set(r.reporting) == set(r.selected) - set(r.dropped)
    assert sum(len(r.dropped) for r in h.records) > 0
    # selection / drop-outs are reproducible from the seed
    sel = F.select_clients(6, 1.0, 1, 3, dropout_rate=0.4)
    assert (list(h.records[0].selected), list(h.records[0].dropped)) == (sel[0], sel[1])


def test_stragglers_with_deadline_drop_and_partial(small):
    ds, parts = small
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    clock = F.VirtualClock(compute_speed=300.0, speed_sigma=1.0, deadline=1.0, latency=0.01)
    common = dict(rounds=2, client_fraction=1.0, local_epochs=3, batch_size=8, lr=0.1, random_state=0)
    drop = F.run_federated(model, ds, parts, clock=clock, **common)
    r = drop.records[0]
    assert r.stragglers, "with these speeds some clients must miss the 1 s deadline"
    assert set(r.reporting) == set(r.selected) - set(r.stragglers)
    assert r.simulated_seconds == pytest.approx(1.0)
    from dataclasses import replace
    partial = F.run_federated(model, ds, parts, clock=replace(clock, straggler_policy="partial"), **common)
    assert len(partial.records[0].reporting) > len(r.reporting)


def test_clock_times_hand_computed():
    clock = F.VirtualClock(compute_speed=100.0, bandwidth=1000.0, latency=0.5, deadline=3.0,
                           straggler_policy="partial")
    t = clock.time_client(0, [10, 10], bytes_down=500, bytes_up=500)  # 0.5+0.5 + 0.2 + 0.5+0.5 = 2.2
    assert t.total == pytest.approx(2.2) and not t.straggler and t.steps_done == 2
    slow = clock.time_client(0, [100, 100, 100], bytes_down=500, bytes_up=500)  # 3 s compute: late
    # 2 s of messages leave 1 s = 100 samples of compute before the deadline: one step of 100
    assert slow.straggler and slow.steps_done == 1


def test_tune_lr_keeps_the_fewest_rounds_and_stops_losers_early():
    from plsim.federated.comparison import tune_lr
    from plsim.plots.federated import plot_lr_tuning

    ds = data.load_dataset("digits", n_samples=400)
    parts = data.partition_iid(ds.y_train, 10)
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    t = tune_lr(model, ds, parts, (1.0, 0.03, 0.001), target=0.8, max_rounds=30, patience=1.5, algorithm="fedsgd",
                client_fraction=0.5, random_state=0)
    reached = [(r, lr) for lr, r in zip(t.lrs, t.rounds) if r is not None]
    assert reached and t.best_lr == min(reached)[1] and t.best_rounds == min(reached)[0]
    assert t.best_bytes == t.best.bytes_to(0.8)
    assert t.best_lr == 1.0 and t.rounds[-1] is None
    # a slow rate is stopped once it can no longer be the best: at patience x the fewest rounds so far
    assert t.stopped_at[-1] == int(np.ceil(1.5 * min(r for r in t.rounds[:2] if r)))
    fig = plot_lr_tuning({"FedSGD": t})
    assert fig.axes[0].get_xscale() == "log"
    with pytest.raises(ValueError, match="empty"):
        tune_lr(model, ds, parts, (), target=0.8, max_rounds=3, random_state=0)


def test_demo_comparison_settings_small_mode(monkeypatch):
    from plsim.federated.demo import demo_settings

    monkeypatch.delenv("PLSIM_SMALL", raising=False)
    full = demo_settings()
    assert demo_settings(small=True) == demo_settings(small=True) and demo_settings(small=False) == full
    monkeypatch.setenv("PLSIM_SMALL", "1")
    small = demo_settings()
    assert small == demo_settings(small=True) and small.rounds < full.rounds
    assert set(small.compare.fedavg_lrs) <= set(full.compare.fedavg_lrs)
    assert small.compare.local_epochs == full.compare.local_epochs == (5, 20)
    assert list(full.compare.algorithms()) == ["FedSGD", "FedAvg E=5 B=10", "FedAvg E=20 B=10"]


def test_a_diverging_run_stops_and_says_why():
    import warnings

    ds = data.load_dataset("digits", n_samples=400)
    parts = data.partition_shards(ds.y_train, 8, 2)
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # FedProx with lr * mu = 3 > 2: each local step multiplies the distance to the global model by -2.
        h = F.run_federated(model, ds, parts, algorithm="fedprox", mu=10.0, lr=0.3, rounds=10, client_fraction=0.5,
                            local_epochs=5, batch_size=10, random_state=0)
    assert h.diverged_round == 1 and len(h.records) == 1
    texts = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert any("diverged in round 1" in t and "lr * mu = 3 > 2" in t for t in texts), texts
    # A sound run is not flagged.
    ok = F.run_federated(model, ds, parts, algorithm="fedprox", mu=1.0, lr=0.05, rounds=3, client_fraction=0.5, random_state=0)
    assert ok.diverged_round is None and len(ok.records) == 3

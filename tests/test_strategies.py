"""Federated strategies in Flower's shape: configure_fit / aggregate_fit / evaluate, and the DP / SecAgg wrappers.

Closed forms where there are some (FedSGD = gradient descent, server momentum and Adam by hand, the
DP mean with zero noise), equivalences otherwise (a strategy object = its shorthand arguments).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from plsim import data, federated as F, models


@pytest.fixture(scope="module")
def small():
    ds = data.load_dataset("digits", n_samples=300, random_state=0)
    parts = data.partition_iid(ds.y_train, 5, random_state=0)
    return ds, parts, models.SoftmaxRegression(ds.n_features, ds.n_classes)


def _pooled_gradient(model, w, ds, parts):
    idx = np.concatenate(parts)
    return model.gradient(w, ds.X_train[idx], ds.y_train[idx])


def _fitres(k, delta, weight):
    delta = np.asarray(delta, dtype=np.float64)
    return k, F.FitRes(k, {"delta": delta, "weight": float(weight)}, delta, int(weight), 1, math.nan)


def _started(strategy, n_clients=4, random_state=0):
    strategy.start(random_state, n_clients)
    return strategy


def test_fedsgd_strategy_with_every_client_is_full_batch_gradient_descent(small):
    ds, parts, model = small
    w0 = model.init_params(0)
    h = F.run_federated(model, ds, parts, strategy=F.FedSGD(client_fraction=1.0, lr=0.5), rounds=3,
                        initial_weights=w0, random_state=0)
    w = w0.copy()
    for _ in range(3):
        w = w - 0.5 * _pooled_gradient(model, w, ds, parts)
    np.testing.assert_allclose(h.weights, w, rtol=0, atol=1e-12)


@pytest.mark.parametrize("strategy, shorthand", [
    (F.FedAvg(client_fraction=0.6, local_epochs=2, batch_size=10, lr=0.05),
     dict(algorithm="fedavg", client_fraction=0.6, local_epochs=2, batch_size=10, lr=0.05)),
    (F.FedProx(client_fraction=0.6, local_epochs=2, batch_size=10, lr=0.05, mu=0.5),
     dict(algorithm="fedprox", client_fraction=0.6, local_epochs=2, batch_size=10, lr=0.05, mu=0.5)),
    (F.FedAvgM(client_fraction=0.6, lr=0.05, server_lr=1.0, momentum=0.9),
     dict(client_fraction=0.6, lr=0.05, server_optimizer=F.ServerMomentum(lr=1.0, momentum=0.9))),
    (F.SecAgg(F.DPFedAvg(F.FedAvg(client_fraction=0.6, lr=0.05), F.DPConfig(1.0, 0.5, 1e-3))),
     dict(client_fraction=0.6, lr=0.05, dp=F.DPConfig(1.0, 0.5, 1e-3), secure_aggregation=True)),
])
def test_a_strategy_object_is_the_run_its_shorthand_stands_for(small, strategy, shorthand):
    ds, parts, model = small
    a = F.run_federated(model, ds, parts, strategy=strategy, rounds=3, random_state=2)
    b = F.run_federated(model, ds, parts, rounds=3, random_state=2, **shorthand)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert [r.selected for r in a.records] == [r.selected for r in b.records]
    assert a.settings["algorithm"] == b.settings["algorithm"] and a.settings["strategy"] == strategy.name


def test_server_momentum_by_hand(small):
    """FedAvgM with one full-batch step per client: v = momentum v + d; w -= server_lr v."""
    ds, parts, model = small
    w0 = model.init_params(0)
    lr, beta, eta = 0.3, 0.5, 0.8
    h = F.run_federated(model, ds, parts, strategy=F.FedAvgM(client_fraction=1.0, lr=lr, server_lr=eta,
                                                              momentum=beta), rounds=3, initial_weights=w0, random_state=0)
    w, v = w0.copy(), None
    for _ in range(3):
        d = lr * _pooled_gradient(model, w, ds, parts)
        v = d if v is None else beta * v + d
        w = w - eta * v
    np.testing.assert_allclose(h.weights, w, rtol=0, atol=1e-12)
    plain = F.run_federated(model, ds, parts, strategy=F.FedAvg(client_fraction=1.0, lr=lr), rounds=3,
                            initial_weights=w0, random_state=0)
    zero = F.run_federated(model, ds, parts, strategy=F.FedAvgM(client_fraction=1.0, lr=lr, momentum=0.0),
                           rounds=3, initial_weights=w0, random_state=0)
    np.testing.assert_allclose(zero.weights, plain.weights, rtol=0, atol=1e-14)  # momentum 0 = FedAvg


def test_fedadam_first_round_moves_every_weight_by_server_lr():
    """m = (1-b1) d, v = (1-b2) d^2: with tau = 0 the first step is server_lr * sign(d)."""
    s = _started(F.FedAdam(client_fraction=1.0, server_lr=0.1, beta1=0.9, beta2=0.99, tau=0.0))
    s.configure_fit(1, np.zeros(2), [0, 1, 2, 3])
    new, _ = s.aggregate_fit(1, [_fitres(0, [3.0, -0.5], 1), _fitres(1, [3.0, -0.5], 3)], [])
    np.testing.assert_allclose(new, [-0.1, 0.1])


def test_configure_fit_samples_and_seeds_each_client():
    s = _started(F.FedProx(client_fraction=0.5, local_epochs=3, batch_size=4, lr=0.2, mu=0.1), n_clients=10,
                 random_state=7)
    w = np.arange(3.0)
    ins = s.configure_fit(4, w, list(range(10)))
    ids = [k for k, _ in ins]
    assert len(ids) == 5 and ids == sorted(set(ids))
    assert ids == F.select_clients(10, 0.5, 4, 7)[0]  # stream "server", branch (round,)
    for k, fit_ins in ins:
        assert isinstance(fit_ins, F.FitIns) and np.array_equal(fit_ins.weights, w)
        c = fit_ins.config
        assert (c["algorithm"], c["local_epochs"], c["batch_size"], c["lr"], c["mu"]) == ("fedprox", 3, 4, 0.2, 0.1)
        assert c["seed"].spawn_key == F.client_seed(7, 4, k).spawn_key
    # the available clients are ids, not positions: a strategy samples among those it is offered
    offered = [3, 5, 8, 13]
    picked = [k for k, _ in _started(F.FedAvg(client_fraction=0.5), n_clients=4).configure_fit(1, w, offered)]
    assert set(picked) <= set(offered) and len(picked) == 2


def test_aggregate_fit_is_the_weighted_average_of_the_changes():
    s = _started(F.FedAvg(client_fraction=1.0))
    w = np.array([1.0, 2.0])
    s.configure_fit(1, w, [0, 1, 2])
    results = [_fitres(0, [1.0, 0.0], 1), _fitres(1, [0.0, 1.0], 3), _fitres(2, [2.0, 2.0], 4)]
    new, metrics = s.aggregate_fit(1, results, failures=[3])
    want = w - F.weighted_average([r.message["delta"] for _, r in results], [1, 3, 4])
    np.testing.assert_array_equal(new, want)
    np.testing.assert_allclose(new, w - np.array([9.0, 11.0]) / 8)
    assert metrics == {}
    assert s.aggregate_fit(1, [], failures=[0, 1, 2]) == (None, {})  # nobody reported: keep the model


def test_dp_wrapper_clips_samples_independently_and_divides_by_the_expected_count():
    dp = F.DPConfig(clip=0.5, noise_multiplier=0.0, delta=1e-3)
    s = _started(F.DPFedAvg(F.FedAvg(client_fraction=0.5, lr=0.1), dp), n_clients=8, random_state=1)
    w = np.zeros(2)
    ins = s.configure_fit(1, w, list(range(8)))
    assert [k for k, _ in ins] == F.select_clients(8, 0.5, 1, 1, poisson=True)[0]
    assert all(i.config["clip"] == 0.5 for _, i in ins)
    results = [_fitres(0, [0.3, 0.0], 1), _fitres(1, [0.0, 0.4], 1)]
    new, metrics = s.aggregate_fit(1, results, [])
    np.testing.assert_allclose(new, -np.array([0.3, 0.4]) / (0.5 * 8))  # zero noise: sum / (C K)
    assert metrics["epsilon"] == math.inf  # no noise, no privacy
    noisy = _started(F.DPFedAvg(F.FedAvg(client_fraction=0.5), F.DPConfig(0.5, 1.0, 1e-3)), n_clients=8)
    noisy.configure_fit(1, w, list(range(8)))
    a, m1 = noisy.aggregate_fit(1, results, [])
    assert not np.allclose(a, new) and 0 < m1["epsilon"] < math.inf


def test_secagg_wrapper_unmasks_the_sum_or_refuses_below_the_threshold():
    s = _started(F.SecAgg(F.FedAvg(client_fraction=1.0)), n_clients=4, random_state=3)
    w = np.zeros(3)
    ins = s.configure_fit(1, w, [0, 1, 2, 3])
    agg = ins[0][1].config["secagg"]
    assert agg.threshold == 3 and all(i.config["secagg"] is agg for _, i in ins)
    deltas = {0: [0.1, 0.2, 0.3], 1: [0.0, -0.1, 0.5], 2: [0.2, 0.2, 0.2], 3: [1.0, 1.0, 1.0]}
    sizes = {0: 2, 1: 3, 2: 5, 3: 7}

    def masked(k):
        vec = np.concatenate([sizes[k] * np.array(deltas[k]), [sizes[k]]])
        return k, F.FitRes(k, {"masked": agg.mask(k, vec)}, np.array(deltas[k]), sizes[k], 1, math.nan)

    new, metrics = s.aggregate_fit(1, [masked(0), masked(1), masked(2)], failures=[3])
    want = w - F.weighted_average([deltas[k] for k in (0, 1, 2)], [sizes[k] for k in (0, 1, 2)])
    np.testing.assert_allclose(new, want, atol=1e-9)
    assert metrics["unmasked"] and len(metrics["extra_messages"]) == 3 and metrics["extra_latencies"] == 2
    s.configure_fit(2, w, [0, 1, 2, 3])
    agg2 = s._round
    assert agg2 is not agg
    refused, metrics = s.aggregate_fit(2, [(0, F.FitRes(0, {"masked": agg2.mask(0, np.zeros(4))}, np.zeros(3), 1,
                                                          1, math.nan))], failures=[1, 2, 3])
    assert refused is None and metrics["unmasked"] is False


def test_wrappers_nest_one_way_and_check_what_they_wrap():
    with pytest.raises(TypeError, match="SecAgg\\(DPFedAvg"):
        F.DPFedAvg(F.SecAgg(F.FedAvg()), F.DPConfig(1.0, 1.0))
    with pytest.raises(TypeError, match="strategy"):
        F.SecAgg("fedavg")
    with pytest.raises(TypeError, match="DPConfig"):
        F.DPFedAvg(F.FedAvg(), (1.0, 1.0))
    both = F.SecAgg(F.DPFedAvg(F.FedProx(mu=0.2, lr=0.1), F.DPConfig(1.0, 1.0)))
    assert both.name == "fedprox" and both.lr == 0.1 and both.settings()["secure_aggregation"]
    assert both.settings()["dp"] == F.DPConfig(1.0, 1.0)


@pytest.mark.parametrize("make, word", [
    (lambda: F.FedAvg(client_fraction=0.0), "client_fraction"),
    (lambda: F.FedAvg(lr=math.nan), "lr"),
    (lambda: F.FedAvg(local_epochs=0), "local_epochs"),
    (lambda: F.FedProx(mu=-1.0), "mu"),
    (lambda: F.FedAvg(server_optimizer="sgdx"), "server_optimizer"),
])
def test_bad_strategy_settings(make, word):
    with pytest.raises((ValueError, TypeError), match=word):
        make()


def test_the_users_strategy_is_copied_not_changed(small):
    ds, parts, model = small
    s = F.FedAvgM(client_fraction=0.6, lr=0.05)
    a = F.run_federated(model, ds, parts, strategy=s, rounds=2, random_state=0)
    assert s._server._v is None and s._weights is None  # the run worked on a copy
    b = F.run_federated(model, ds, parts, strategy=s, rounds=2, random_state=0)
    np.testing.assert_array_equal(a.weights, b.weights)
    with pytest.raises(ValueError, match="strategy= is given"):
        F.run_federated(model, ds, parts, strategy=s, client_fraction=0.5, random_state=0)


def test_a_custom_strategy_plugs_into_the_loop(small):
    """Flower's promise: a user-written strategy has the built-ins' power. Here: always the two largest clients."""
    ds, parts, model = small

    class LargestTwo(F.FedAvg):
        def sample(self, server_round, available_clients):
            return sorted(sorted(available_clients, key=lambda k: -len(parts[k]))[:2])

    h = F.run_federated(model, ds, parts, strategy=LargestTwo(lr=0.1, local_epochs=1), rounds=2, random_state=0)
    want = sorted(sorted(range(len(parts)), key=lambda k: -len(parts[k]))[:2])
    assert all(list(r.selected) == want for r in h.records)
    assert h.final_accuracy > h.initial_accuracy


def test_server_strategies_bring_their_own_optimizer():
    with pytest.raises(ValueError, match="its own server optimizer"):
        F.FedAvgM(server_optimizer="fedadam")
    with pytest.raises(ValueError, match="its own server optimizer"):
        F.FedAdam(server_optimizer=F.ServerSGD())
    assert F.FedAdam().settings()["server_optimizer"] == "fedadam"

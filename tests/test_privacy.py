"""DP-FedAvg (clipping, noise, epsilon from dp_accounting) and secure aggregation with pairwise masks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from plsim import data, federated as F, models
from plsim.federated import secagg


# -- differential privacy ------------------------------------------------------------
def test_clipping_bound_respected_and_input_untouched():
    rng = np.random.default_rng(0)
    for _ in range(20):
        d = rng.standard_normal(50) * rng.uniform(0.01, 10)
        before = d.copy()
        c, norm = F.clip_update(d, 1.5)
        assert np.linalg.norm(c) <= 1.5 + 1e-12
        assert norm == pytest.approx(np.linalg.norm(before))
        if norm <= 1.5:
            np.testing.assert_array_equal(c, d)  # small updates pass unchanged
        else:
            np.testing.assert_allclose(c / np.linalg.norm(c), d / norm)  # direction kept
        np.testing.assert_array_equal(d, before)


def test_epsilon_decreases_with_noise_and_matches_dp_accounting():
    import dp_accounting
    from dp_accounting.rdp import RdpAccountant

    eps = [F.compute_epsilon(z, 0.1, 100, 1e-5) for z in (0.8, 1.0, 2.0, 4.0)]
    assert all(a > b for a, b in zip(eps, eps[1:]))
    acc = RdpAccountant()
    acc.compose(dp_accounting.PoissonSampledDpEvent(0.1, dp_accounting.GaussianDpEvent(1.0)), 100)
    assert eps[1] == pytest.approx(acc.get_epsilon(1e-5), rel=1e-12)
    assert F.compute_epsilon(0.0, 0.1, 10, 1e-5) == math.inf
    assert F.compute_epsilon(1.0, 0.1, 0, 1e-5) == 0.0


def test_accountant_reproduces_published_tf_privacy_values():
    """TensorFlow Privacy's MNIST tutorial table (N=60000, batch 256, delta=1e-5) reports
    eps = 1.19 (z=1.3, 15 epochs), 3.01 (z=1.1, 60 epochs), 7.10 (z=0.7, 45 epochs), computed from the
    RDP of the subsampled Gaussian with the classic conversion eps = min_a RDP(a) + log(1/delta)/(a-1)."""
    import dp_accounting
    from dp_accounting.rdp import RdpAccountant

    q = 256 / 60000
    orders = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
    for z, epochs, published in ((1.3, 15, 1.19), (1.1, 60, 3.01), (0.7, 45, 7.10)):
        steps = math.ceil(epochs * 60000 / 256)
        acc = RdpAccountant(orders)
        acc.compose(dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(z)), steps)
        classic = np.min(acc.rdp + math.log(1e5) / (acc.orders - 1))
        assert classic == pytest.approx(published, abs=0.006)
        # plsim reports the accountant's (tighter) conversion: never larger than the published bound
        assert F.compute_epsilon(z, q, steps, 1e-5) <= published


def test_dp_run_tracks_epsilon_and_noise_hurts():
    ds = data.load_dataset("digits", n_samples=600)
    parts = data.partition_iid(ds.y_train, 20)
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    common = dict(rounds=8, client_fraction=0.5, local_epochs=1, batch_size=16, lr=0.1, random_state=0)
    dp = F.DPConfig(clip=0.5, noise_multiplier=1.0, delta=1e-3)
    h = F.run_federated(model, ds, parts, dp=dp, **common)
    assert h.records[-1].epsilon == pytest.approx(F.compute_epsilon(1.0, 0.5, 8, 1e-3), rel=1e-9)
    assert np.all(np.diff(h.epsilon) > 0)
    loud = F.run_federated(model, ds, parts, dp=F.DPConfig(clip=0.5, noise_multiplier=20.0, delta=1e-3), **common)
    quiet = F.run_federated(model, ds, parts, dp=F.DPConfig(clip=0.5, noise_multiplier=0.0, delta=1e-3), **common)
    assert loud.final_accuracy < quiet.final_accuracy - 0.1
    assert loud.records[-1].epsilon < h.records[-1].epsilon


def test_dp_aggregate_is_noisy_sum_over_expected_count():
    # one round, no noise: w1 = w0 - sum(clip(delta_k)) / (q K); FedSGD deltas = lr * gradients
    X = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    y = np.array([0, 1, 1])
    ds = data.Dataset(X, y, X, y, 2, "tiny")
    model = models.SoftmaxRegression(2, 2)
    w0 = np.array([0.3, -0.2, 0.1, 0.0, 0.0, 0.0])
    parts = [np.array([0]), np.array([1, 2])]
    h = F.run_federated(model, ds, parts, algorithm="fedsgd", rounds=1, client_fraction=1.0, lr=2.0,
                        dp=F.DPConfig(clip=0.3, noise_multiplier=0.0), initial_weights=w0, random_state=0)
    clipped = [F.clip_update(2.0 * model.gradient(w0, X[p], y[p]), 0.3)[0] for p in parts]
    np.testing.assert_allclose(h.weights, w0 - sum(clipped) / 2, atol=1e-14)


def test_bad_dp_config():
    for kw in (dict(clip=0), dict(clip=-1), dict(noise_multiplier=-0.1), dict(delta=0), dict(delta=1.5)):
        with pytest.raises(ValueError, match=next(iter(kw))):
            F.DPConfig(**kw)


# -- secure aggregation -------------------------------------------------------------
def _setup(n_clients=5, size=40, seed=0):
    rng = np.random.default_rng(seed)
    xs = {k: rng.standard_normal(size) * 10 for k in range(n_clients)}
    seeds = {k: {j: secagg.pair_seed(42, 1, k, j) for j in range(n_clients) if j != k} for k in range(n_clients)}
    masked = {k: secagg.mask_vector(secagg.encode(xs[k]), k, seeds[k]) for k in range(n_clients)}
    return xs, masked


def test_secure_sum_equals_true_sum_and_masked_updates_hide_values():
    xs, masked = _setup()
    true = sum(xs.values())
    np.testing.assert_allclose(secagg.unmask_sum(masked, participants=xs), true, atol=1e-8)
    for k, x in xs.items():
        seen = secagg.decode(masked[k])  # what the server sees of one client
        assert not np.allclose(seen, x, atol=1.0)
        # masks are uniform on 2**64: the decoded values are huge, unrelated to the update
        assert np.median(np.abs(seen)) > 1e6
    assert np.array_equal(secagg.pair_seed(42, 1, 2, 4), secagg.pair_seed(42, 1, 4, 2))


def test_encode_decode_roundtrip_and_range():
    x = np.array([0.0, -1.5, 3.25, 1e-3, -123456.789])
    np.testing.assert_allclose(secagg.decode(secagg.encode(x)), x, atol=2 ** -32)
    with pytest.raises(ValueError):
        secagg.encode(np.array([1e12]))


def test_dropout_recovery_removes_dangling_masks():
    xs, masked = _setup(n_clients=5)
    dropped = [1, 3]
    survivors = {k: v for k, v in masked.items() if k not in dropped}
    # without recovery the survivors' masks with the dropped clients do not cancel: garbage
    garbage = secagg.decode(secagg.masked_sum(list(survivors.values())))
    true = sum(xs[k] for k in survivors)
    assert not np.allclose(garbage, true, atol=1.0)
    # ... which unmask_sum refuses to return, naming a missing seed
    with pytest.raises(ValueError, match="participant 1 sent no vector and survivor 0 has not revealed"):
        secagg.unmask_sum(survivors, participants=xs)
    # survivors reveal only their seeds with the dropped clients
    revealed = {k: {j: secagg.pair_seed(42, 1, k, j) for j in dropped} for k in survivors}
    np.testing.assert_allclose(secagg.unmask_sum(survivors, revealed, participants=xs), true, atol=1e-8)


def test_run_with_secure_aggregation_matches_plain_and_handles_dropouts():
    ds = data.load_dataset("digits", n_samples=400)
    parts = data.partition_iid(ds.y_train, 8)
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    common = dict(rounds=4, client_fraction=0.75, local_epochs=1, batch_size=16, lr=0.1, dropout_rate=0.3,
                  random_state=0)
    plain = F.run_federated(model, ds, parts, **common)
    secure = F.run_federated(model, ds, parts, secure_aggregation=True, **common)
    assert any(r.dropped for r in secure.records), "the seed should produce drop-outs to exercise recovery"
    assert all(r.unmasked for r in secure.records), "the seed should keep every round above the threshold"
    assert all(r.unmasked is None for r in plain.records)
    np.testing.assert_allclose(secure.weights, plain.weights, atol=1e-7)
    # unmasking costs one request + one reply (the shares) per survivor, every round
    for p, s in zip(plain.records, secure.records):
        assert s.messages == p.messages + 2 * len(s.reporting)


def test_run_with_secure_aggregation_skips_rounds_below_the_threshold():
    ds = data.load_dataset("digits", n_samples=400)
    parts = data.partition_iid(ds.y_train, 8)
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    h = F.run_federated(model, ds, parts, rounds=6, client_fraction=0.5, lr=0.1, dropout_rate=0.6,
                        secure_aggregation=True, random_state=2)
    below = [r for r in h.records if len(r.reporting) < len(r.selected) // 2 + 1]
    assert below, "the seed should produce a round with too few survivors"
    for r in h.records:
        assert r.unmasked == (r not in below)
    # A refused round leaves the global model as it was: its test accuracy equals the round before's.
    for r in below:
        if r.round > 1:
            assert r.test_accuracy == h.records[r.round - 2].test_accuracy
    assert f"{len(below)} round(s) not aggregated" in h.summary()


def test_unmask_sum_cannot_guess_who_took_part():
    # The case: client 2 agreed on masks but its vector is missing. Without participants= the
    # server cannot know, and the "sum" used to come back off by about 2e9 with no warning.
    v = [np.ones(3) * i for i in range(3)]
    seeds = {i: {j: secagg.pair_seed(0, 1, i, j) for j in range(3) if j != i} for i in range(3)}
    m = {i: secagg.mask_vector(secagg.encode(v[i]), i, seeds[i]) for i in (0, 1)}
    with pytest.raises(TypeError, match="participants"):
        secagg.unmask_sum(m)
    with pytest.raises(ValueError, match="participant 2 sent no vector"):
        secagg.unmask_sum(m, participants=range(3))
    with pytest.raises(ValueError, match=r"clients \[1\] sent masked vectors but are not in participants"):
        secagg.unmask_sum(m, participants=[0])
    with pytest.raises(TypeError, match="participants must be"):
        secagg.unmask_sum(m, participants="012")


def test_secure_aggregation_refuses_a_federation_where_no_round_could_be_aggregated():
    # The case: 20 clients, C = 0.05 samples one client per round; its update went to the server
    # unmasked, no round was aggregated and the model never trained, silently.
    ds = data.load_dataset("digits", n_samples=400)
    parts = data.partition_iid(ds.y_train, 20)
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    with pytest.raises(ValueError, match=r"client_fraction=0.05 of 20 client\(s\) samples 1 client per round.*"
                                         r"client_fraction >= 0.075"):
        F.run_federated(model, ds, parts, rounds=2, client_fraction=0.05, secure_aggregation=True, random_state=0)
    # the bound the message gives is the real one: 0.075 x 20 = 1.5 rounds to 2 clients and trains
    h = F.run_federated(model, ds, parts, rounds=2, client_fraction=0.075, secure_aggregation=True, lr=0.1, random_state=0)
    assert [len(r.selected) for r in h.records] == [2, 2] and all(r.unmasked for r in h.records)
    assert h.records[-1].test_loss < h.initial_loss   # aggregated rounds train the model


def test_a_poisson_round_with_fewer_than_two_clients_is_skipped_before_any_update_leaves():
    # DP samples each client independently, so a round can draw one client: no client may train or send.
    strategy = F.SecAgg(F.DPFedAvg(F.FedAvg(client_fraction=0.05, lr=0.1), F.DPConfig(1.0, 0.5, 1e-3)))
    strategy.start(0, 20)
    w = np.zeros(4)
    seen = {}
    for t in range(1, 60):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            instructions = strategy.configure_fit(t, w, list(range(20)))
        sampled = len(strategy.strategy.strategy.sample(t, list(range(20))))
        seen[sampled < 2] = (t, instructions, caught)
        if sampled < 2:
            assert instructions == [], f"round {t}: {sampled} client(s) sampled yet instructions were sent"
            assert any("fewer than the 2 a masked sum needs" in str(c.message) and "client_fraction (now 0.05)"
                       in str(c.message) for c in caught)
            assert strategy.aggregate_fit(t, [], [])[1]["unmasked"] is False
        else:
            assert all("secagg" in ins.config for _, ins in instructions) and not caught
    assert set(seen) == {True, False}, "the seeds should give rounds of both kinds"


# -- secure aggregation with a threshold (Bonawitz et al. 2017) ------------------------------------
def test_shamir_any_t_shares_rebuild_fewer_do_not():
    rng = np.random.default_rng(1)
    shares = secagg.shamir_share(987654321, 3, range(6), rng)
    for subset in [(0, 1, 2), (3, 4, 5), (0, 2, 5), (1, 3, 4, 5)]:
        assert secagg.shamir_reconstruct({h: shares[h] for h in subset}, 3) == 987654321
    with pytest.raises(ValueError, match="2 share"):
        secagg.shamir_reconstruct({h: shares[h] for h in (0, 1)}, 3)


def test_shamir_by_hand_with_threshold_2():
    # f(x) = 5 + a x; with two shares the line through them meets x = 0 at 5.
    shares = secagg.shamir_share(5, 2, [0, 1], np.random.default_rng(0))
    a = (shares[1] - shares[0]) % secagg.PRIME  # f(2) - f(1)
    assert (shares[0] - a) % secagg.PRIME == 5


def test_threshold_protocol_sums_exactly_with_and_without_dropouts():
    rng = np.random.default_rng(2)
    xs = {k: rng.uniform(-5, 5, size=7) for k in range(6)}
    agg = secagg.SecureAggregation(range(6), threshold=4, value_bound=5.0, random_state=3)
    masked = {k: agg.mask(k, x) for k, x in xs.items()}
    np.testing.assert_allclose(agg.unmask(masked), sum(xs.values()), atol=1e-8)
    survivors = (0, 2, 3, 5)  # 2 dropped; the threshold of 4 is met
    np.testing.assert_allclose(agg.unmask({k: masked[k] for k in survivors}), sum(xs[k] for k in survivors),
                               atol=1e-8)
    # What the server sees of one client is noise, self-mask included.
    assert np.abs(secagg.decode(masked[0]) - xs[0]).min() > 1e3


def test_threshold_refuses_to_unmask_a_lone_survivor():
    agg = secagg.SecureAggregation([4, 7, 9], threshold=2, value_bound=1.0)
    masked = {4: agg.mask(4, np.ones(3))}
    with pytest.raises(ValueError, match="only 1 of 3 participants .* below the threshold 2"):
        agg.unmask(masked)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(participants=range(4), threshold=2, value_bound=1.0), ValueError, "more than half"),
    (dict(participants=range(4), threshold=5, value_bound=1.0), ValueError, "between 3"),
    (dict(participants=[1], threshold=1, value_bound=1.0), ValueError, "at least 2"),
    (dict(participants=range(4), threshold=3.0, value_bound=1.0), TypeError, "threshold"),
    (dict(participants=range(4), threshold=3, value_bound=float("nan")), ValueError, "value_bound=nan"),
    # 4 clients x 2**30 = 2**32 > 2**31: the 64-bit fixed-point sum would wrap.
    (dict(participants=range(4), threshold=3, value_bound=2.0**30), ValueError, "wrap silently"),
])
def test_bad_threshold_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        secagg.SecureAggregation(**kwargs)


def test_values_outside_the_declared_range_are_refused():
    agg = secagg.SecureAggregation(range(3), threshold=2, value_bound=1.0)
    with pytest.raises(ValueError, match="declared range"):
        agg.mask(0, np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="not a participant"):
        agg.mask(5, np.zeros(2))


def test_unmask_sum_with_participants_refuses_missing_seeds():
    xs = {k: np.full(3, float(k)) for k in range(3)}
    seeds = {k: {j: secagg.pair_seed(0, 1, k, j) for j in xs if j != k} for k in xs}
    masked = {k: secagg.mask_vector(secagg.encode(x), k, seeds[k]) for k, x in xs.items()}
    survivors = {k: masked[k] for k in (0, 1)}
    with pytest.raises(ValueError, match="participant 2 sent no vector and survivor 0 has not revealed"):
        secagg.unmask_sum(survivors, {1: {2: seeds[1][2]}}, participants=range(3))
    revealed = {k: {2: seeds[k][2]} for k in (0, 1)}
    np.testing.assert_allclose(secagg.unmask_sum(survivors, revealed, participants=range(3)), xs[0] + xs[1],
                               atol=1e-8)

"""plsim.comm.measure: alpha and beta fitted on some sizes, checked on held-out ones; the timed exchanges."""

import numpy as np
import pytest

from plsim.comm import LinkModel, comm_time
from plsim.comm.collectives import ring_exchange_chunks
from plsim.executor import Dask
from plsim.comm.measure import (ExchangeTimes, exchange_coefficients, fit_alpha_beta, fit_with_heldout,
                                measure_exchange, predict_exchange, split_heldout)

SIZES = [1e3, 2.5e3, 6e3, 1.6e4, 4e4, 1e5, 2.5e5, 6e5, 1.6e6, 4e6, 1e7]
TRUTH = LinkModel(alpha=2.5e-3, beta=1.6e-9)


def _times(seconds_of, algorithms=("send", "tree", "ring"), sizes=SIZES, p=2):
    """An ExchangeTimes whose every row took seconds_of(algorithm, n_bytes)."""
    rows = [{"algorithm": a, "n_bytes": float(n), "seconds": seconds_of(a, n), "all_seconds": [seconds_of(a, n)],
             "max_error": 0.0, "ranks": p, "chain": 3, "kind": "measured"} for a in algorithms for n in sizes]
    return ExchangeTimes(rows, n_ranks=p, n_workers=2)


def test_send_is_one_message_and_the_collectives_are_the_cost_models():
    assert exchange_coefficients("send", 2, 1e6) == (1.0, 1e6)
    assert predict_exchange("send", 4, 1e6, TRUTH) == pytest.approx(TRUTH.alpha + 1e6 * TRUTH.beta)
    for alg in ("ring", "tree", "parameter_server", "naive"):
        assert predict_exchange(alg, 4, 3e6, TRUTH) == pytest.approx(comm_time(alg, 4, 3e6, TRUTH), rel=1e-12)


@pytest.mark.parametrize("relative", [True, False])
def test_fit_recovers_alpha_and_beta_from_messages_and_collectives_exactly(relative):
    rows = [(a, n) for a in ("send", "tree", "ring") for n in SIZES]
    seconds = [predict_exchange(a, 2, n, TRUTH) for a, n in rows]
    link = fit_alpha_beta([n for _, n in rows], seconds, algorithm=[a for a, _ in rows], n_workers=2,
                          relative=relative)
    assert link.alpha == pytest.approx(TRUTH.alpha, rel=1e-9)
    assert link.beta == pytest.approx(TRUTH.beta, rel=1e-9)


def test_relative_fit_keeps_small_messages_in_view():
    # the largest message ran 30 % slow (a busy moment): a plain least-squares fit bends alpha and beta to it
    # and then misses every small message by about 11 %; the fit on relative errors misses them by about 1 %
    seconds = [(TRUTH.alpha + n * TRUTH.beta) * (1.3 if n == 1e7 else 1.0) for n in SIZES]
    small_miss = {}
    for relative in (True, False):
        link = fit_alpha_beta(SIZES, seconds, relative=relative)
        small_miss[relative] = max(abs(t / (link.alpha + n * link.beta) - 1) for n, t in zip(SIZES, seconds)
                                   if n <= 1e4)
    assert small_miss[True] < 0.02 < 0.1 < small_miss[False]
    with pytest.raises(ValueError, match="relative fit needs seconds > 0"):
        fit_alpha_beta([1e3, 1e4], [0.0, 1e-3])
    assert fit_alpha_beta([1e3, 1e4], [0.0, 1e-3], relative=False).beta > 0


def test_split_heldout_keeps_the_ends_and_spreads_the_rest():
    fit, held = split_heldout(SIZES, 3)
    assert held == [2.5e3, 1e5, 4e6]                      # indices 1, 5, 9 of 11: evenly spread, interior
    assert fit == [s for s in SIZES if s not in held] and len(fit) == 8
    assert fit[0] == min(SIZES) and fit[-1] == max(SIZES)
    assert split_heldout(list(reversed(SIZES)) + [1e3], 3) == (fit, held)   # order and duplicates do not matter
    assert split_heldout(SIZES, 0) == (sorted(SIZES), [])
    assert split_heldout([1.0, 2.0, 3.0], 1) == ([1.0, 3.0], [2.0])
    with pytest.raises(ValueError, match="n_heldout=2"):
        split_heldout([1.0, 2.0, 3.0], 2)
    with pytest.raises(ValueError, match="n_heldout=-1"):
        split_heldout(SIZES, -1)


def test_fit_with_heldout_fits_without_the_heldout_sizes_and_predicts_them():
    _, held = split_heldout(SIZES, 3)
    # the held-out sizes ran 20 % slower than the link: the fit must not see them, and must say so of them
    slow = _times(lambda a, n: predict_exchange(a, 2, n, TRUTH) * (1.2 if n in held else 1.0))
    fit = fit_with_heldout(slow, held)
    assert fit.link.alpha == pytest.approx(TRUTH.alpha, rel=1e-9) and fit.link.beta == pytest.approx(TRUTH.beta,
                                                                                                      rel=1e-9)
    assert fit.points == 8 * 3 and fit.fitted_sizes == [s for s in SIZES if s not in held]
    assert fit.heldout_sizes == held
    assert fit.heldout_median_ratio == pytest.approx(1.2)
    assert fit.ratios("fitted") == pytest.approx([1.0] * 24)
    assert fit.r2 == pytest.approx(1.0)
    assert {r["role"] for r in fit.rows if r["n_bytes"] in held} == {"held out"}
    # sizes asked for are measured rounded down to whole float64s: 2500 bytes asked, 2496 measured
    rounded = _times(lambda a, n: predict_exchange(a, 2, n, TRUTH), sizes=[8 * (int(s) // 8) for s in SIZES])
    assert fit_with_heldout(rounded, held).heldout_sizes == [2496.0, 1e5, 4e6]
    with pytest.raises(ValueError, match="were not measured"):
        fit_with_heldout(slow, [3e3])
    with pytest.raises(ValueError, match="ExchangeTimes with rows"):
        fit_with_heldout(ExchangeTimes([]), [])


def test_r2_is_on_log_time_and_falls_with_misfit():
    every_other = set(SIZES[::2])
    noisy = _times(lambda a, n: predict_exchange(a, 2, n, TRUTH) * (1.5 if n in every_other else 1.0))
    fit = fit_with_heldout(noisy, [])
    log_t = np.log([r["measured"] for r in fit.rows])
    log_f = np.log([r["predicted"] for r in fit.rows])
    by_hand = 1 - np.sum((log_t - log_f) ** 2) / np.sum((log_t - log_t.mean()) ** 2)
    assert 0 < fit.r2 < 1 and fit.r2 == pytest.approx(by_hand) and np.isnan(fit.heldout_median_ratio)


def test_measure_exchange_chains_and_bad_inputs(client):
    times = measure_exchange(executor=client, sizes=(1e3, 8e4), algorithms=("send", "tree", "ring"), repeats=2, chain=3)
    assert [r["algorithm"] for r in times.rows] == ["send", "send", "tree", "tree", "ring", "ring"]
    for row in times.rows:
        # every chain ends where it should: send returns rank 0's vector, the all-reduces every rank the mean
        assert row["max_error"] < 1e-12 and row["chain"] == 3 and len(row["all_seconds"]) == 2
        assert row["seconds"] == pytest.approx(float(np.median(row["all_seconds"])))
    assert times.sizes == [1e3, 8e4]
    with pytest.raises(ValueError, match="chain=0"):
        measure_exchange(executor=client, chain=0)
    with pytest.raises(ValueError, match="repeats=0"):
        measure_exchange(executor=client, repeats=0)


def test_ring_exchange_chunks_reduces_a_chunk_table(client):
    p = 3
    vectors = [np.random.default_rng(r).normal(size=11) for r in range(p)]
    addresses = sorted(client.nthreads())
    where = [addresses[r % len(addresses)] for r in range(p)]
    chunks = [client.scatter(np.array_split(v, p), workers=[where[r]], hash=False) for r, v in enumerate(vectors)]
    sizes = [len(c) * 8 for c in np.array_split(vectors[0], p)]
    table, per_rank = ring_exchange_chunks(chunks, where, sizes, executor=Dask(client), scale=1.0 / p)
    for row in table:
        np.testing.assert_allclose(np.concatenate(client.gather(row)), np.mean(vectors, axis=0), atol=1e-14)
    # in each of the 2 (p - 1) steps every rank sends a different chunk: the whole vector's bytes per step
    assert sum(per_rank) == 2 * (p - 1) * 11 * 8

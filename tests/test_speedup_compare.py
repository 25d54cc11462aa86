"""plsim.speedup.compare: paired timings, the two-sided sign test, the distribution-free range, time_paired."""

from __future__ import annotations

import math
import multiprocessing
import random
import time
import types

import numpy as np
import pytest

from plsim.speedup import PairedComparison, compare_paired, time_paired
from plsim.speedup import compare as compare_module

DIFFERENT = ("a_faster", "b_faster")


def _two_sided(k: int, m: int) -> float:
    """The exact two-sided sign-test p by hand: 2 * P(X >= max(k, m - k)), X ~ Binomial(m, 1/2), at most 1."""
    top = max(k, m - k)
    return min(1.0, 2 * sum(math.comb(m, i) for i in range(top, m + 1)) / 2**m)


def test_ratios_and_wins_by_hand():
    c = compare_paired([2.0, 4.0, 5.0], [3.0, 3.0, 5.0], name_a="plsim", name_b="joblib")
    assert isinstance(c, PairedComparison)
    assert c.ratios == (1.5, 0.75, 1.0)
    assert c.median_ratio == 1.0
    assert (c.wins_a, c.wins_b) == (1, 1)  # an exact tie counts for neither
    assert c.p_value == 1.0
    assert c.verdict == "too_few_pairs"
    assert "plsim faster in 1, joblib faster in 1" in c.summary()
    assert c.first == () and c.randomized is False  # order not recorded unless given


@pytest.mark.parametrize(("n", "verdict"), [(1, "too_few_pairs"), (3, "too_few_pairs"), (5, "too_few_pairs"),
                                            (6, "a_faster"), (7, "a_faster")])
def test_a_clean_sweep_is_a_two_sided_sign_test_at_twice_half_to_the_n(n, verdict):
    c = compare_paired([1.0] * n, [1.1] * n)
    assert c.wins_a == n
    assert c.p_value == pytest.approx(min(1.0, 2 * 0.5**n))
    assert c.verdict == verdict  # fewer than 6 pairs can never reach a two-sided p <= 0.05
    # Up to 7 pairs the interval is [min, max], covering the median with probability 1 - 2 * 0.5**n.
    assert c.median_interval == pytest.approx((1.1, 1.1, 1 - 2 * 0.5**n))


def test_min_pairs_is_the_fewest_that_can_reach_the_level():
    assert compare_module.MIN_PAIRS == min(n for n in range(1, 30) if _two_sided(n, n) <= 0.05) == 6
    assert _two_sided(5, 5) == 0.0625 and _two_sided(6, 6) == 0.03125


@pytest.mark.parametrize("n", range(6, 41))
def test_equally_fast_methods_are_called_different_at_most_5_percent_exactly(n):
    # Under the null every untied pair is a fair coin: sum the Binomial(n, 1/2) probability of the
    # split counts the verdict calls a difference. A two-sided test stays at or below 5 %.
    rate = sum(math.comb(n, k) / 2**n for k in range(n + 1)
               if compare_paired(*_split(k, n - k)).verdict in DIFFERENT)
    assert 0 < rate <= 0.05
    # The old rule (one-sided p <= 0.05 in whichever direction won) called a clean sweep either way
    # with 5 pairs: 2 / 32 = 6.25 % > 5 %. The two-sided test needs 6 pairs for that: 2 / 64.
    if n == 6:
        assert rate == pytest.approx(2 / 64)


def test_median_interval_uses_order_statistics_for_many_pairs():
    # 21 pairs: P(Binomial(21, 1/2) <= 5) = 27896 / 2**21, so the 6th smallest to the 6th largest
    # ratio cover the median with 1 - 2 * 0.0133 = 97.3 %; the 7th would give only 92.2 %.
    b = [1.0 + i / 100 for i in range(21)]  # ratios 1.00, 1.01, ..., 1.20
    low, high, cover = compare_paired([1.0] * 21, b).median_interval
    assert (low, high) == pytest.approx((1.05, 1.15))
    assert cover == pytest.approx(1 - 2 * 27896 / 2**21)
    # 8 pairs: k = 2 covers 1 - 2 * 9/256 = 93 % < 95 %, so the whole range (99.2 %).
    low, high, cover = compare_paired([1.0] * 8, [1.0 + i / 100 for i in range(8)]).median_interval
    assert (low, high, cover) == pytest.approx((1.0, 1.07, 1 - 2 / 256))


def _split(wins_a: int, wins_b: int, ties: int = 0) -> tuple[list[float], list[float]]:
    """Paired times in which A wins ``wins_a`` pairs, B ``wins_b`` and ``ties`` are exact ties."""
    b = [1.1] * wins_a + [0.9] * wins_b + [1.0] * ties
    return [1.0] * len(b), b


@pytest.mark.parametrize(("wins_a", "wins_b", "ties", "p", "verdict"), [
    # 6 of 7: 2 * P(X >= 6 | Binomial(7, 1/2)) = 2 * (7 + 1) / 128 = 0.125 > 0.05, not called.
    (1, 6, 0, 16 / 128, "no_consistent_difference"),
    # 21 pairs: 16 wins is the least that is called, 2 * P(X >= 16) = 2 * 27896 / 2**21 = 0.0266;
    # 15 wins give 2 * 82160 / 2**21 = 0.0784 (a one-sided test would have called that).
    (16, 5, 0, 2 * 27896 / 2**21, "a_faster"),
    (15, 6, 0, 2 * 82160 / 2**21, "no_consistent_difference"),
    (5, 16, 0, 2 * 27896 / 2**21, "b_faster"),
    # Exact ties count for neither side: 6 wins of 6 untied pairs, p = 2/64; 5 of 5 is not enough.
    (6, 0, 2, 2 / 64, "a_faster"),
    (5, 0, 2, 2 / 32, "no_consistent_difference"),
    (3, 3, 1, 1.0, "no_consistent_difference"),
])
def test_sign_test_by_hand(wins_a, wins_b, ties, p, verdict):
    c = compare_paired(*_split(wins_a, wins_b, ties))
    assert (c.wins_a, c.wins_b) == (wins_a, wins_b)
    assert c.p_value == pytest.approx(p)
    assert c.p_value == pytest.approx(_two_sided(wins_a, wins_a + wins_b))
    assert c.verdict == verdict


def test_all_ties_are_no_difference():
    c = compare_paired([1.0] * 7, [1.0] * 7)
    assert (c.wins_a, c.wins_b, c.p_value, c.verdict) == (0, 0, 1.0, "no_consistent_difference")


def test_summary_names_the_winner_and_the_two_sided_p_value():
    c = compare_paired([1.0] * 6, [0.9, 0.95, 0.97, 0.93, 0.99, 0.96], name_a="plsim", name_b="joblib")
    assert c.verdict == "b_faster"
    assert "joblib measurably faster (two-sided sign test p = 0.031)" in c.summary()
    assert c.median_ratio == pytest.approx(0.955)
    tie = compare_paired(*_split(5, 2))  # 2 * 29 / 128 = 0.453
    assert "no consistent difference (two-sided sign test p = 0.453)" in tie.summary()
    five = compare_paired([1.0] * 5, [0.9, 0.95, 0.97, 0.93, 0.99], name_a="plsim", name_b="joblib")
    assert five.verdict == "too_few_pairs"
    assert "too few pairs" in five.summary() and "at least 6 pairs" in five.summary()


def test_range_in_summary_and_html():
    c = compare_paired([4.0, 4.0, 4.0, 4.0, 4.0], [3.96, 4.04, 4.08, 3.92, 4.0], name_a="plsim", name_b="joblib")
    s = c.summary()
    assert "median" in s and "0.980 to 1.020" in s and "93.8% interval" in s
    html = c._repr_html_()
    assert html.count("<tr>") == 6 and "measured" in html and str(c) == s and "ran first" not in html
    single = compare_paired([1.0], [2.0])
    assert "one pair" in single.summary()


def test_the_printed_level_says_why_it_is_not_95_percent():
    # 7 pairs: the 2nd smallest to 2nd largest cover only 1 - 2 * 8/128 = 87.5 %, so the whole range,
    # 1 - 2/128 = 98.4 %: the lowest level of at least 95 % that exists for 7 pairs.
    seven = compare_paired([1.0] * 7, [1.0 + i / 100 for i in range(7)]).summary()
    assert "(98.4% interval for the median, the lowest level of at least 95 % that 7 pairs allow)" in seven
    five = compare_paired([1.0] * 5, [1.0 + i / 100 for i in range(5)]).summary()
    assert "(93.8% interval for the median: 5 pairs cannot reach 95 %)" in five
    # 17 pairs: the 5th order statistics cover 1 - 2 * P(Binomial(17, 1/2) <= 4) = 95.1 %: no excuse needed.
    seventeen = compare_paired([1.0] * 17, [1.0 + i / 100 for i in range(17)])
    assert seventeen.median_interval[2] == pytest.approx(1 - 2 * sum(math.comb(17, j) for j in range(5)) / 2**17)
    assert "(95.1% interval for the median)" in seventeen.summary()


def test_recorded_order_in_summary_and_html():
    a, b = _split(6, 0)
    c = compare_paired(a, b, name_a="plsim", name_b="joblib", first=list("abbaab"), randomized=True)
    assert c.first == ("a", "b", "b", "a", "a", "b") and c.randomized
    assert c.summary().startswith("plsim versus joblib, 6 paired run(s), order randomized per pair "
                                  "(plsim first in 3, joblib first in 3): ")
    assert "<th>ran first</th>" in c._repr_html_() and "<td>joblib</td>" in c._repr_html_()
    fixed = compare_paired(a, b, first=["a"] * 6)
    assert "randomized" not in fixed.summary() and "(A first in 6, B first in 0)" in fixed.summary()


def test_inputs_are_not_mutated_and_bad_inputs_are_named():
    a, b = [1.0, 2.0], [2.0, 2.0]
    compare_paired(a, b)
    assert a == [1.0, 2.0] and b == [2.0, 2.0]
    with pytest.raises(ValueError, match="same number"):
        compare_paired([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="seconds_a is empty"):
        compare_paired([], [])
    with pytest.raises(ValueError, match=r"seconds_b contains 0\.0"):
        compare_paired([1.0], [0.0])
    with pytest.raises(ValueError, match="seconds_a contains nan"):
        compare_paired([math.nan], [1.0])
    with pytest.raises(TypeError, match="seconds_b must be a sequence of seconds"):
        compare_paired([1.0], 3.0)
    with pytest.raises(ValueError, match=r"first=\['a', 'c'\] must give 'a' or 'b' for each of the 2 pairs"):
        compare_paired(a, b, first=["a", "c"])
    with pytest.raises(ValueError, match="for each of the 2 pairs"):
        compare_paired(a, b, first=["a"])
    with pytest.raises(TypeError, match="first must be a sequence"):
        compare_paired(a, b, first="ab")
    with pytest.raises(ValueError, match="randomized=True needs first="):
        compare_paired(a, b, randomized=True)


# ---------------------------------------------------------------------------
# time_paired
# ---------------------------------------------------------------------------
class _Recorder:
    """Two callables that log their calls, and a fake clock that notes how many calls preceded its first use."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.calls_before_first_clock: int | None = None
        self.now = 0.0

    def run(self, side: str):
        def call() -> None:
            self.log.append(side)
            self.now += 1.0 if side == "a" else 1.5
        return call

    def perf_counter(self) -> float:
        if self.calls_before_first_clock is None:
            self.calls_before_first_clock = len(self.log)
        return self.now


def test_time_paired_warms_up_then_records_a_random_order(monkeypatch):
    rec = _Recorder()
    monkeypatch.setattr(compare_module, "time", rec)
    c = time_paired(rec.run("a"), rec.run("b"), pairs=20, warmup=2, random_state=3, name_a="x", name_b="y")
    # Warm-up: A, B, A, B, untimed, all before the clock is first read.
    assert rec.calls_before_first_clock == 4 and rec.log[:4] == ["a", "b", "a", "b"]
    # Then each pair back to back, in the recorded order.
    timed = rec.log[4:]
    assert len(timed) == 40
    assert [timed[2 * i] for i in range(20)] == list(c.first)
    assert all({timed[2 * i], timed[2 * i + 1]} == {"a", "b"} for i in range(20))
    assert set(c.first) == {"a", "b"}  # both orders occur
    assert c.randomized and (c.name_a, c.name_b) == ("x", "y")
    assert c.seconds_a == (1.0,) * 20 and c.seconds_b == (1.5,) * 20  # each call timed on its own
    assert c.verdict == "a_faster" and "order randomized per pair" in c.summary()


def test_time_paired_same_seed_same_order(monkeypatch):
    rec = _Recorder()
    monkeypatch.setattr(compare_module, "time", rec)

    def order(seed):
        return time_paired(rec.run("a"), rec.run("b"), pairs=30, random_state=seed).first

    assert order(7) == order(7)
    assert order(7) != order(8)
    # a Generator gives the root one draw, as everywhere in plsim (plsim._random.check_random_state)
    assert order(np.random.default_rng(7)) == order(np.random.default_rng(7))
    rec.log.clear()
    time_paired(rec.run("a"), rec.run("b"), pairs=3, warmup=0, random_state=0)
    assert len(rec.log) == 6  # no warm-up asked, none run


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"run_a": 3}, TypeError, r"run_a must be a callable taking no arguments, got 3 \(int\)"),
    ({"run_b": "f"}, TypeError, "run_b must be a callable"),
    ({"pairs": 0}, ValueError, r"pairs=0 must be a positive integer \(>= 1\)"),
    ({"pairs": 2.5}, TypeError, r"pairs must be a positive integer, got 2.5 \(float\)"),
    ({"warmup": -1}, ValueError, r"warmup=-1 must be a non-negative integer \(>= 0\)"),
    ({"warmup": True}, TypeError, "warmup must be a non-negative integer, got True"),
    ({"random_state": "seed"}, ValueError, r"random_state='seed' \(str\) is not allowed: it must be None, a "
                                           "non-negative int"),
    ({"random_state": -1}, ValueError, r"random_state=-1 is not allowed: it must be None, a non-negative int"),
    ({"random_state": True}, ValueError, r"random_state=True \(bool\) is not allowed"),
    ({"name_a": 1}, TypeError, r"name_a must be a string, got 1 \(int\)"),
])
def test_time_paired_bad_inputs_are_named(kwargs, error, message):
    calls = []
    args = {"run_a": lambda: calls.append(1), "run_b": lambda: calls.append(1)} | kwargs
    with pytest.raises(error, match=message):
        time_paired(args.pop("run_a"), args.pop("run_b"), **args)
    assert calls == []  # nothing runs before the inputs are checked


# ---------------------------------------------------------------------------
# Order bias, simulated: the same code against itself must not come out "measurably faster"
# ---------------------------------------------------------------------------
class _BiasedMachine:
    """A fake machine and its clock, where a run's time depends on its position, not on the code.

    Every call costs 1 ms with 2 % noise; the very first call pays 50 ms of warm-up; and the first
    run of a back-to-back couple (calls 0, 2, 4, ...: both schemes call in twos) is 5 % slower
    than the second, which finds the caches warm.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.calls = 0
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def run(self) -> None:
        cost = 1e-3 * (1 + self.rng.gauss(0, 0.02))
        if self.calls % 2 == 0:
            cost *= 1.05
        if self.calls == 0:
            cost += 0.05
        self.calls += 1
        self.now += cost


def _fixed_order(machine: _BiasedMachine, pairs: int) -> PairedComparison:
    """The old scheme: no warm-up, A then B in every pair."""
    a, b = [], []
    for _ in range(pairs):
        for out in (a, b):
            start = machine.perf_counter()
            machine.run()
            out.append(machine.perf_counter() - start)
    return compare_paired(a, b)


def test_randomized_order_removes_the_order_bias_that_fixed_order_reports(monkeypatch):
    seeds = range(400)
    old = sum(_fixed_order(_BiasedMachine(s), pairs=7).verdict in DIFFERENT for s in seeds)
    # A always runs first, so B wins each pair unless the noise outweighs the 5 %: "B measurably
    # faster" in most comparisons (297 of these 400), though the code is the same.
    assert old >= 0.5 * len(seeds)
    new = 0
    for s in seeds:
        machine = _BiasedMachine(s)
        monkeypatch.setattr(compare_module, "time", machine)
        c = time_paired(machine.run, machine.run, pairs=7, random_state=s)
        new += c.verdict in DIFFERENT
    # Randomized order: each pair's winner is a fair coin, so at most 5 % (exactly 2/128 = 1.6 % expected).
    assert new <= 0.05 * len(seeds)


# ---------------------------------------------------------------------------
# Real timings on a loaded machine
# ---------------------------------------------------------------------------
def _spin(started, deadline: float) -> None:
    """Background load: say so, then burn one CPU until ``deadline`` (time.time()), or until terminated."""
    started.set()
    while time.time() < deadline:
        pass


def _python_loop() -> int:
    """About 1-2 ms of pure Python."""
    total = 0
    for i in range(15_000):
        total += i * i
    return total


@pytest.mark.slow
def test_same_code_is_rarely_called_different_on_a_loaded_machine():
    from scipy.stats import binom

    comparisons = 40
    # If the true rate of "measurably different" were 5 %, more than this many of 40 would happen
    # with probability < 0.1 %: binom.ppf gives the least k with P(X <= k) >= 0.999 (here 7).
    bound = int(binom.ppf(0.999, comparisons, 0.05))
    assert binom.sf(bound, comparisons, 0.05) < 0.001
    import psutil

    ctx = multiprocessing.get_context("spawn")
    started = ctx.Event()
    load = ctx.Process(target=_spin, args=(started, time.time() + 60), daemon=True)
    load.start()
    try:
        assert started.wait(30), "the background load did not start"
        spinning = psutil.Process(load.pid)
        cpu0, wall0 = sum(spinning.cpu_times()[:2]), time.perf_counter()
        verdicts = [time_paired(_python_loop, _python_loop, pairs=7, random_state=i).verdict
                    for i in range(comparisons)]
        # The machine really was loaded: the busy loop had a good share of a CPU meanwhile.
        assert sum(spinning.cpu_times()[:2]) - cpu0 >= 0.2 * (time.perf_counter() - wall0)
    finally:
        load.terminate()
        load.join(5)
    different = sum(v in DIFFERENT for v in verdicts)
    assert different <= bound, f"{different} of {comparisons} A-versus-A comparisons called different"
    assert set(verdicts) <= {"no_consistent_difference", *DIFFERENT}


@pytest.mark.parametrize(("wins_a", "wins_b"), [(0, 9), (2, 7), (4, 5), (7, 1), (12, 3), (20, 0)])
def test_p_value_is_scipys_exact_binomial_test(wins_a, wins_b):
    from scipy.stats import binomtest

    c = compare_paired([1.0] * wins_a + [1.2] * wins_b, [1.1] * (wins_a + wins_b))
    assert (c.wins_a, c.wins_b) == (wins_a, wins_b)
    assert c.p_value == pytest.approx(binomtest(wins_a, wins_a + wins_b, 0.5).pvalue)
    assert c.p_value == pytest.approx(_two_sided(wins_a, wins_a + wins_b))

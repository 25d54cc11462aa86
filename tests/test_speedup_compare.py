"""plsim.speedup.compare: paired timings, the sign test and the distribution-free range."""

from __future__ import annotations

import math

import pytest

from plsim.speedup import PairedComparison, compare_paired


def test_ratios_and_wins_by_hand():
    c = compare_paired([2.0, 4.0, 5.0], [3.0, 3.0, 5.0], name_a="plsim", name_b="joblib")
    assert isinstance(c, PairedComparison)
    assert c.ratios == (1.5, 0.75, 1.0)
    assert c.median_ratio == 1.0
    assert (c.wins_a, c.wins_b) == (1, 1)  # an exact tie counts for neither
    assert c.p_value == 1.0
    assert c.verdict == "too_few_pairs"
    assert "plsim faster in 1, joblib faster in 1" in c.summary()


@pytest.mark.parametrize(("n", "verdict"), [(1, "too_few_pairs"), (3, "too_few_pairs"), (4, "too_few_pairs"),
                                            (5, "a_faster"), (7, "a_faster")])
def test_a_clean_sweep_is_a_sign_test_at_half_to_the_n(n, verdict):
    c = compare_paired([1.0] * n, [1.1] * n)
    assert c.wins_a == n
    assert c.p_value == pytest.approx(0.5**n)
    assert c.verdict == verdict  # fewer than 5 pairs can never reach p <= 0.05
    # Up to 7 pairs the interval is [min, max], covering the median with probability 1 - 2 * 0.5**n.
    assert c.median_interval == pytest.approx((1.1, 1.1, 1 - 2 * 0.5**n))


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
    # 6 of 7: P(X >= 6 | Binomial(7, 1/2)) = (7 + 1) / 128 = 0.0625 > 0.05, not called.
    (1, 6, 0, 8 / 128, "no_consistent_difference"),
    # 21 pairs: 15 wins is the least that is called, P(X >= 15) = 82160 / 2**21 = 0.0392; 14 is 0.0946.
    (15, 6, 0, 82160 / 2**21, "a_faster"),
    (14, 7, 0, 198440 / 2**21, "no_consistent_difference"),
    (6, 15, 0, 82160 / 2**21, "b_faster"),
    # Exact ties count for neither side: 5 wins of 5 untied pairs, p = 1/32.
    (5, 0, 2, 1 / 32, "a_faster"),
    (3, 3, 1, 1.0, "no_consistent_difference"),
])
def test_sign_test_by_hand(wins_a, wins_b, ties, p, verdict):
    c = compare_paired(*_split(wins_a, wins_b, ties))
    assert (c.wins_a, c.wins_b) == (wins_a, wins_b)
    assert c.p_value == pytest.approx(p)
    assert c.verdict == verdict


def test_summary_names_the_winner_and_the_p_value():
    c = compare_paired([1.0] * 5, [0.9, 0.95, 0.97, 0.93, 0.99], name_a="plsim", name_b="joblib")
    assert c.verdict == "b_faster"
    assert "joblib measurably faster (sign test p = 0.031)" in c.summary()
    assert c.median_ratio == pytest.approx(0.95)
    tie = compare_paired(*_split(4, 3))
    assert "no consistent difference (sign test p = 0.500)" in tie.summary()
    three = compare_paired([1.0] * 3, [0.9, 0.95, 0.97], name_a="plsim", name_b="joblib")
    assert three.verdict == "too_few_pairs"
    assert "too few pairs" in three.summary() and "at least 5 pairs" in three.summary()


def test_range_in_summary_and_html():
    c = compare_paired([4.0, 4.0, 4.0, 4.0, 4.0], [3.96, 4.04, 4.08, 3.92, 4.0], name_a="plsim", name_b="joblib")
    s = c.summary()
    assert "median" in s and "0.980 to 1.020" in s and "93.8% interval" in s
    html = c._repr_html_()
    assert html.count("<tr>") == 6 and "measured" in html and str(c) == s
    single = compare_paired([1.0], [2.0])
    assert "one pair" in single.summary()


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

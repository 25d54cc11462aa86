"""plsim.accuracy: two classifiers compared on the same test rows (exact McNemar), checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import beta, binom, binomtest

from plsim.accuracy import AccuracyComparison, accuracy_interval, compare_accuracy


def _case(only_a: int, only_b: int, both: int, neither: int):
    """Labels and two prediction vectors with the given counts of each kind of row (3 classes)."""
    n = only_a + only_b + both + neither
    y = np.arange(n) % 3
    wrong = (y + 1) % 3
    a = np.concatenate([y[:only_a], wrong[only_a:only_a + only_b], y[only_a + only_b:only_a + only_b + both],
                        wrong[only_a + only_b + both:]])
    b = np.concatenate([wrong[:only_a], y[only_a:only_a + only_b], y[only_a + only_b:only_a + only_b + both],
                        (y[only_a + only_b + both:] + 2) % 3])  # wrong too, and differently from a
    return y, a, b


def test_counts_accuracies_and_difference_by_hand():
    y, a, b = _case(only_a=31, only_b=22, both=700, neither=147)
    c = compare_accuracy(y, a, b, name_a="vote", name_b="svm")
    assert (c.n, c.only_a, c.only_b, c.discordant) == (900, 31, 22, 53)
    assert (c.correct_a, c.correct_b) == (731, 722)
    assert c.accuracy_a == pytest.approx(731 / 900) and c.difference == pytest.approx(9 / 900)


def test_p_value_is_the_exact_binomial_test_on_the_discordant_rows():
    y, a, b = _case(only_a=31, only_b=22, both=700, neither=147)
    c = compare_accuracy(y, a, b)
    # Two-sided exact test of 31 successes in 53 fair coin flips: twice the upper tail, by hand.
    assert c.p_value == pytest.approx(2 * binom.sf(30, 53, 0.5))
    assert c.p_value == pytest.approx(binomtest(31, 53, 0.5).pvalue)


def test_interval_is_clopper_pearson_of_the_share_won_scaled_to_points():
    y, a, b = _case(only_a=31, only_b=22, both=700, neither=147)
    c = compare_accuracy(y, a, b)
    # Clopper-Pearson bounds of 31 / 53 from the beta distribution, then m / n * (2 pi - 1).
    lo, hi = beta.ppf(0.025, 31, 23), beta.ppf(0.975, 32, 22)
    assert c.interval == pytest.approx((53 / 900 * (2 * lo - 1), 53 / 900 * (2 * hi - 1)))
    assert c.interval[0] < c.difference < c.interval[1]
    assert c.verdict == "no_clear_difference" and c.relation == "is about as good as"
    assert "on this test set" in str(c) and "exact McNemar p = " in str(c)


@pytest.mark.parametrize("m", [1, 5, 6, 9, 17, 40, 101])
def test_beats_exactly_when_the_interval_excludes_zero_and_p_is_below_five_percent(m):
    for won in range(m + 1):
        y, a, b = _case(only_a=won, only_b=m - won, both=50, neither=10)
        c = compare_accuracy(y, a, b)
        low, high = c.interval
        assert (low > 0 or high < 0) == (c.p_value < 0.05), (won, m, c.p_value, c.interval)
        assert c.verdict == ("a_better" if low > 0 else "b_better" if high < 0 else "no_clear_difference")


def test_a_clear_loss_and_a_clear_win():
    y, a, b = _case(only_a=2, only_b=40, both=800, neither=58)
    lost = compare_accuracy(y, a, b, name_a="poor team", name_b="knn")
    assert lost.verdict == "b_better" and lost.relation == "is beaten by" and lost.interval[1] < 0
    assert str(lost).startswith("Poor team 0.891 against knn 0.933") and "Poor team is beaten by knn." in str(lost)
    won = compare_accuracy(y, b, a, name_a="knn", name_b="poor team")
    assert won.verdict == "a_better" and "Knn beats poor team." in str(won)
    assert "-4.2 points" in lost.evidence() and "2 of them right only for poor team and 40 only for knn" in lost.evidence()


def test_identical_predictions_are_about_as_good():
    y, a, _ = _case(only_a=0, only_b=0, both=90, neither=10)
    c = compare_accuracy(y, a, a.copy())
    assert (c.discordant, c.p_value, c.interval, c.verdict) == (0, 1.0, (0.0, 0.0), "no_clear_difference")


def test_accuracy_interval_is_clopper_pearson():
    y = np.zeros(900, dtype=int)
    pred = np.r_[np.zeros(720, dtype=int), np.ones(180, dtype=int)]
    acc, low, high = accuracy_interval(y, pred)
    assert acc == pytest.approx(0.8)
    assert (low, high) == pytest.approx((beta.ppf(0.025, 720, 181), beta.ppf(0.975, 721, 180)))
    _, low90, high90 = accuracy_interval(y, pred, level=0.9)
    assert low < low90 < acc < high90 < high


def test_bad_inputs_are_named_and_inputs_not_mutated():
    y, a, b = _case(only_a=3, only_b=1, both=5, neither=1)
    keep = (y.copy(), a.copy(), b.copy())
    compare_accuracy(y, a, b)
    assert all(np.array_equal(x, k) for x, k in zip((y, a, b), keep))
    with pytest.raises(ValueError, match="pred_b has 9 predictions for 10 test rows"):
        compare_accuracy(y, a, b[:-1])
    with pytest.raises(ValueError, match="y_true must be a non-empty 1-d"):
        compare_accuracy([], [], [])
    with pytest.raises(TypeError, match="name_a must be a string"):
        compare_accuracy(y, a, b, name_a=1)
    with pytest.raises(ValueError, match="level=1.5 must be between 0 and 1"):
        compare_accuracy(y, a, b, level=1.5)
    with pytest.raises(TypeError, match="level must be a number"):
        accuracy_interval(y, a, level="95%")
    with pytest.raises(ValueError, match="y_true has 10 labels and y_pred 9"):
        accuracy_interval(y, a[:-1])
    assert isinstance(compare_accuracy(list(y), list(a), list(b)), AccuracyComparison)

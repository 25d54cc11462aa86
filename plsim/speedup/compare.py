"""Is A faster than B? Paired, interleaved timings and a verdict that respects the noise.

Two ways of doing the same work (plsim on Dask and joblib, say) are timed in
*pairs*: run ``i`` of A and run ``i`` of B happen back to back, so a slow
moment of a shared machine hits both. Each pair gives one ratio
``r_i = B_i / A_i`` (> 1: A was faster in that pair). Two medians compared on
their own flip between "A faster" and "B faster" from one run to the next when
the two are equally fast; the pairs say whether the difference is real:

* the median ratio, and an interval for it from the sorted ratios (the
  ``k``-th smallest to the ``k``-th largest) that holds the true median ratio
  with probability ``1 - 2 * P(Binomial(n, 1/2) < k)`` whatever the noise's
  distribution: ``k`` is the largest that keeps this at 95 % or more, or 1
  (the whole range) when ``n`` is too small for 95 % (94 % for 5 pairs);
* the verdict of a **two-sided sign test**: the two are called measurably
  different (the side that won more pairs faster) only if equally fast
  methods would split the pairs at least this unevenly, *in either
  direction*, less than 1 time in 20 (two-sided p <= 0.05; with 6 pairs that
  takes all 6, with 7 pairs all 7, with 21 pairs 16). Exact ties count for
  neither side. Fewer than 6 pairs can never reach that, and are reported as
  too few to tell. (A test one-sided in whichever direction happened to win
  would call a difference between two equally fast methods up to twice as
  often as it claims.)

The test assumes that, with equal speed, each pair is a fair coin. Running A
first in every pair breaks that: the second run of a back-to-back pair often
profits from warm caches and the very first run pays for imports and
warm-up, so the *same* code timed against itself can be called "measurably
faster". :func:`time_paired` removes both biases: it warms both up, then
flips a seeded coin for which runs first in each pair.

Taught in ``notebooks/01_speedup.ipynb`` (why one timing is not a result).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from plsim._random import task_rng
from plsim.i18n import _
from plsim.validation import check_nonneg_int as _nonneg_int, check_positive_int as _positive_int

__all__ = ["PairedComparison", "compare_paired", "time_paired"]

A_FASTER = "a_faster"
B_FASTER = "b_faster"
NO_CONSISTENT_DIFFERENCE = "no_consistent_difference"
TOO_FEW_PAIRS = "too_few_pairs"
SIGNIFICANCE = 0.05
"""Two-sided sign-test level: the two are called measurably different only if p <= this."""
MIN_PAIRS = 6
"""Fewest pairs that can reach SIGNIFICANCE two-sided (2 * 0.5**6 = 0.031; 5 pairs give at best 0.0625)."""


@dataclass(frozen=True)
class PairedComparison:
    """Measured wall-clock seconds of A and B in interleaved pairs, and what they show.

    ``first`` records which ran first in each pair (``"a"`` or ``"b"``), when
    known; ``randomized`` says whether that order was drawn at random per pair
    (as :func:`time_paired` does).
    """

    name_a: str
    name_b: str
    seconds_a: tuple[float, ...]
    seconds_b: tuple[float, ...]
    first: tuple[str, ...] = ()
    randomized: bool = False

    @property
    def ratios(self) -> tuple[float, ...]:
        """``B_i / A_i`` for each pair: > 1 where A was faster."""
        return tuple(b / a for a, b in zip(self.seconds_a, self.seconds_b, strict=True))

    @property
    def median_ratio(self) -> float:
        return float(statistics.median(self.ratios))

    @property
    def wins_a(self) -> int:
        """Pairs in which A was strictly faster."""
        return sum(r > 1.0 for r in self.ratios)

    @property
    def wins_b(self) -> int:
        """Pairs in which B was strictly faster."""
        return sum(r < 1.0 for r in self.ratios)

    @property
    def median_interval(self) -> tuple[float, float, float]:
        """``(low, high, coverage)``: a distribution-free interval for the median ratio.

        The ``k``-th smallest and ``k``-th largest ratio hold the true median
        with probability ``coverage = 1 - 2 * P(Binomial(n, 1/2) <= k - 1)``;
        ``k`` is the largest with coverage >= 95 %, or 1 if none reaches it.
        """
        from scipy.stats import binom

        ratios = sorted(self.ratios)
        n = len(ratios)

        def coverage(k: int) -> float:
            return float(1.0 - 2.0 * binom.cdf(k - 1, n, 0.5))

        k = 1
        while k + 1 <= (n + 1) // 2 and coverage(k + 1) >= 0.95:
            k += 1
        return ratios[k - 1], ratios[n - k], coverage(k)

    @property
    def p_value(self) -> float:
        """Two-sided exact sign-test p-value (1.0 when both sides won equally many pairs).

        The chance that equally fast methods split the untied pairs at least
        this unevenly in *either* direction: ``P(X >= k) + P(X <= m - k)`` for
        ``X ~ Binomial(m, 1/2)``, ``k`` the leader's wins and ``m`` the pairs
        that were not exact ties (``scipy.stats.binomtest``, two-sided).
        """
        m = self.wins_a + self.wins_b
        if self.wins_a == self.wins_b:  # also m == 0: every pair an exact tie
            return 1.0
        from scipy.stats import binomtest

        return float(binomtest(self.wins_a, m, 0.5, alternative="two-sided").pvalue)

    @property
    def verdict(self) -> str:
        """Who is measurably faster.

        ``"a_faster"`` / ``"b_faster"``: that side won more pairs and the
        two-sided sign test's p <= 0.05; ``"no_consistent_difference"``:
        p > 0.05; ``"too_few_pairs"``: fewer than 6 pairs, which can never
        reach a two-sided p <= 0.05.
        """
        if len(self.ratios) < MIN_PAIRS:
            return TOO_FEW_PAIRS
        if self.p_value > SIGNIFICANCE:
            return NO_CONSISTENT_DIFFERENCE
        return A_FASTER if self.wins_a > self.wins_b else B_FASTER

    def _level(self, cover: float) -> str:
        """The interval's exact level, and why it is not 95 % when it is not (only some levels exist for n pairs)."""
        n = len(self.ratios)
        if cover < 0.95:
            return _("{cover:.1%} interval for the median: {n} pairs cannot reach 95 %").format(cover=cover, n=n)
        if cover < 0.955:
            return _("{cover:.1%} interval for the median").format(cover=cover)
        return _("{cover:.1%} interval for the median, the lowest level of at least 95 % that {n} pairs "
                 "allow").format(cover=cover, n=n)

    def _order(self) -> str:
        """``", order randomized per pair (A first in 4)"``, the recorded order, or ``""``."""
        if not self.first:
            return ""
        a_first = sum(f == "a" for f in self.first)
        counts = _("{a} first in {a_first}, {b} first in {b_first}").format(
            a=self.name_a, a_first=a_first, b=self.name_b, b_first=len(self.first) - a_first)
        return _(", order randomized per pair ({counts})").format(counts=counts) if self.randomized else f" ({counts})"

    def summary(self) -> str:
        """One sentence: median ratio, range, run order, who won how many pairs, verdict."""
        n = len(self.ratios)
        head = _("{a} versus {b}, {n} paired run(s){order}: {b} time / {a} time = {ratio:.3f} median").format(
            a=self.name_a, b=self.name_b, n=n, order=self._order(), ratio=self.median_ratio)
        if n == 1:
            return head + _(" (one pair: run more repeats to tell a difference from noise).")
        low, high, cover = self.median_interval
        head += _(", {low:.3f} to {high:.3f} ({level})").format(low=low, high=high, level=self._level(cover))
        wins = _("{a} faster in {wins_a}, {b} faster in {wins_b}").format(
            a=self.name_a, wins_a=self.wins_a, b=self.name_b, wins_b=self.wins_b)
        verdict = self.verdict
        if verdict == TOO_FEW_PAIRS:
            return _("{head}; {wins}: too few pairs to tell a difference from noise "
                     "(time at least {min_pairs} pairs).").format(head=head, wins=wins, min_pairs=MIN_PAIRS)
        test = _("two-sided sign test p = {p:.3f}").format(p=self.p_value)
        if verdict in (A_FASTER, B_FASTER):
            return _("{head}; {wins}: {name} measurably faster ({test}).").format(
                head=head, wins=wins, name=self.name_a if verdict == A_FASTER else self.name_b, test=test)
        return _("{head}; {wins}: no consistent difference ({test}), a tie within this machine's noise.").format(
            head=head, wins=wins, test=test)

    def _repr_html_(self) -> str:
        names = {"a": self.name_a, "b": self.name_b}
        first = [names[f] for f in self.first] if self.first else [""] * len(self.seconds_a)
        order_head = "<th>" + _("ran first") + "</th>" if self.first else ""
        rows = "".join(
            f"<tr><td>{i + 1}</td>" + (f"<td>{who}</td>" if self.first else "")
            + f"<td>{a:.3f}</td><td>{b:.3f}</td><td>{b / a:.3f}</td></tr>"
            for i, (who, a, b) in enumerate(zip(first, self.seconds_a, self.seconds_b, strict=True)))
        measured, pair, ratio = _("{name} (s, measured)"), _("pair"), _("ratio")
        return (f"<table><thead><tr><th>{pair}</th>{order_head}<th>{measured.format(name=self.name_a)}</th>"
                f"<th>{measured.format(name=self.name_b)}</th><th>{ratio}</th></tr></thead>"
                f"<tbody>{rows}</tbody></table><p>{self.summary()}</p>")

    def __str__(self) -> str:
        return self.summary()


def _seconds(name: str, values: Any) -> tuple[float, ...]:
    try:
        seconds = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of seconds, got {values!r}") from None
    if not seconds:
        raise ValueError(f"{name} is empty; give at least one timed run")
    bad = [v for v in seconds if not (math.isfinite(v) and v > 0)]
    if bad:
        raise ValueError(f"{name} contains {bad[0]!r}; every run must take a finite, positive number of seconds")
    return seconds


def compare_paired(seconds_a: Sequence[float], seconds_b: Sequence[float], *, name_a: str = "A",
                   name_b: str = "B", first: Sequence[str] | None = None,
                   randomized: bool = False) -> PairedComparison:
    """Compare two methods timed in interleaved pairs (run ``i`` of each back to back).

    Parameters
    ----------
    seconds_a, seconds_b : sequences of float
        Measured wall-clock seconds, pair ``i`` at index ``i``; same length.
    name_a, name_b : str
        Labels used in the summary.
    first : sequence of {"a", "b"}, optional
        Which of the two ran first in each pair, if recorded.
    randomized : bool
        Whether ``first`` was drawn at random per pair (the summary says so).
        To time two callables that way, use :func:`time_paired`.

    Returns
    -------
    PairedComparison

    Examples
    --------
    >>> c = compare_paired([4.0, 4.1, 4.2, 4.0, 4.1, 4.0], [4.4, 4.3, 4.5, 4.2, 4.4, 4.3],
    ...                    name_a="plsim", name_b="joblib")
    >>> c.verdict, c.wins_a, round(c.p_value, 3)
    ('a_faster', 6, 0.031)
    """
    a = _seconds("seconds_a", seconds_a)
    b = _seconds("seconds_b", seconds_b)
    if len(a) != len(b):
        raise ValueError(f"seconds_a has {len(a)} runs and seconds_b {len(b)}; paired runs need the same number")
    order: tuple[str, ...] = ()
    if first is not None:
        if isinstance(first, str):
            raise TypeError(f"first must be a sequence of 'a' / 'b', one per pair, got the string {first!r}")
        order = tuple(first)
        if len(order) != len(a) or any(f not in ("a", "b") for f in order):
            raise ValueError(f"first={list(order)!r} must give 'a' or 'b' for each of the {len(a)} pairs")
    if randomized and not order:
        raise ValueError("randomized=True needs first=, the order that was drawn for each pair")
    return PairedComparison(str(name_a), str(name_b), a, b, first=order, randomized=bool(randomized))


def time_paired(run_a: Callable[[], Any], run_b: Callable[[], Any], *, pairs: int = 7, warmup: int = 1,
                random_state: int | Any | None = None, name_a: str = "A", name_b: str = "B") -> PairedComparison:
    """Time two callables in pairs, in a random order per pair, after a warm-up, and compare them.

    Each callable is first called ``warmup`` times untimed (A, B, A, B, ...):
    imports, caches and process pools are set up before anything is timed.
    Then, for each pair, a seeded coin decides which runs first and the two
    run back to back, each timed with :func:`time.perf_counter`. With the
    order random, whatever favours the first or the second run of a pair
    (warm caches, a clock speeding up) falls on A and on B alike, so two
    equally fast callables are called "measurably different" at most 5 % of
    the time (:attr:`PairedComparison.verdict`, a two-sided sign test).
    Taught in ``notebooks/01_speedup.ipynb`` (comparing two ways in pairs).

    Parameters
    ----------
    run_a, run_b : callable
        Called with no arguments; each call is timed end to end.
    pairs : int
        Timed pairs (>= 1); at least 6 are needed for a verdict, 7 by default.
    warmup : int
        Untimed calls of each callable before the first pair (>= 0).
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator
        Root of the coin that orders each pair (branch ``"order"`` of
        :mod:`plsim._random`'s seed tree); the same seed gives the same order.
    name_a, name_b : str
        Labels used in the summary.

    Returns
    -------
    PairedComparison
        The measured seconds, the order (``first``, ``randomized=True``),
        the verdict and the summary.

    Examples
    --------
    >>> c = time_paired(lambda: sum(range(2000)), lambda: sum(range(2000)), pairs=6, random_state=0)
    >>> len(c.seconds_a), c.first, c.randomized
    (6, ('a', 'a', 'a', 'b', 'b', 'b'), True)
    """
    for name, fn in (("run_a", run_a), ("run_b", run_b)):
        if not callable(fn):
            raise TypeError(f"{name} must be a callable taking no arguments, got {fn!r} ({type(fn).__name__})")
    pairs = _positive_int("pairs", pairs)
    warmup = _nonneg_int("warmup", warmup)
    for name, label in (("name_a", name_a), ("name_b", name_b)):
        if not isinstance(label, str):
            raise TypeError(f"{name} must be a string, got {label!r} ({type(label).__name__})")
    rng = task_rng(random_state, "order")

    for _ in range(warmup):
        run_a()
        run_b()
    seconds: dict[str, list[float]] = {"a": [], "b": []}
    runs = {"a": run_a, "b": run_b}
    first = []
    for _ in range(pairs):
        order = ("a", "b") if rng.random() < 0.5 else ("b", "a")
        first.append(order[0])
        for side in order:
            start = time.perf_counter()
            runs[side]()
            seconds[side].append(time.perf_counter() - start)
    return compare_paired(seconds["a"], seconds["b"], name_a=name_a, name_b=name_b, first=first, randomized=True)

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
* the verdict of a **sign test**: the side that won more pairs is called
  faster only if equally fast methods would give such a lopsided count less
  than 1 time in 20 (one-sided p <= 0.05; with 5 pairs that takes all 5, with
  7 pairs all 7, with 21 pairs 15). Exact ties count for neither side. Fewer
  than 5 pairs can never reach that, and are reported as too few to tell.

Taught in ``notebooks/01_speedup.ipynb`` (why one timing is not a result).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PairedComparison", "compare_paired"]

A_FASTER = "a_faster"
B_FASTER = "b_faster"
NO_CONSISTENT_DIFFERENCE = "no_consistent_difference"
TOO_FEW_PAIRS = "too_few_pairs"
SIGNIFICANCE = 0.05
"""One-sided sign-test level: a side is called faster only if p <= this."""
MIN_PAIRS = 5
"""Fewest pairs that can reach SIGNIFICANCE (0.5**5 = 0.031)."""


@dataclass(frozen=True)
class PairedComparison:
    """Measured wall-clock seconds of A and B in interleaved pairs, and what they show."""

    name_a: str
    name_b: str
    seconds_a: tuple[float, ...]
    seconds_b: tuple[float, ...]

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
        ratios = sorted(self.ratios)
        n = len(ratios)

        def coverage(k: int) -> float:
            return 1.0 - 2.0 * sum(math.comb(n, i) for i in range(k)) / 2.0**n

        k = 1
        while k + 1 <= (n + 1) // 2 and coverage(k + 1) >= 0.95:
            k += 1
        return ratios[k - 1], ratios[n - k], coverage(k)

    @property
    def p_value(self) -> float:
        """One-sided sign-test p-value for the side that won more pairs (1.0 when they won equally many).

        The chance that equally fast methods split the untied pairs at least
        this unevenly in that direction: ``P(X >= k)`` for ``X ~ Binomial(m, 1/2)``,
        ``k`` the leader's wins and ``m`` the pairs that were not exact ties.
        """
        k, m = max(self.wins_a, self.wins_b), self.wins_a + self.wins_b
        if self.wins_a == self.wins_b:
            return 1.0
        return sum(math.comb(m, i) for i in range(k, m + 1)) / 2.0**m

    @property
    def verdict(self) -> str:
        """Who is measurably faster.

        ``"a_faster"`` / ``"b_faster"``: that side won more pairs and the sign
        test's p <= 0.05; ``"no_consistent_difference"``: p > 0.05;
        ``"too_few_pairs"``: fewer than 5 pairs, which can never reach p <= 0.05.
        """
        if len(self.ratios) < MIN_PAIRS:
            return TOO_FEW_PAIRS
        if self.p_value > SIGNIFICANCE:
            return NO_CONSISTENT_DIFFERENCE
        return A_FASTER if self.wins_a > self.wins_b else B_FASTER

    def summary(self) -> str:
        """One sentence: median ratio, range, who won how many pairs, verdict."""
        n = len(self.ratios)
        head = (f"{self.name_a} versus {self.name_b}, {n} paired run(s): {self.name_b} time / {self.name_a} time "
                f"= {self.median_ratio:.3f} median")
        if n == 1:
            return head + " (one pair: run more repeats to tell a difference from noise)."
        low, high, cover = self.median_interval
        head += f", {low:.3f} to {high:.3f} ({cover:.1%} interval for the median)"
        wins = f"{self.name_a} faster in {self.wins_a}, {self.name_b} faster in {self.wins_b}"
        verdict = self.verdict
        if verdict == TOO_FEW_PAIRS:
            return (f"{head}; {wins}: too few pairs to tell a difference from noise "
                    f"(time at least {MIN_PAIRS} pairs).")
        test = f"sign test p = {self.p_value:.3f}"
        if verdict == A_FASTER:
            return f"{head}; {wins}: {self.name_a} measurably faster ({test})."
        if verdict == B_FASTER:
            return f"{head}; {wins}: {self.name_b} measurably faster ({test})."
        return f"{head}; {wins}: no consistent difference ({test}), a tie within this machine's noise."

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{i + 1}</td><td>{a:.3f}</td><td>{b:.3f}</td><td>{b / a:.3f}</td></tr>"
                       for i, (a, b) in enumerate(zip(self.seconds_a, self.seconds_b, strict=True)))
        return (f"<table><thead><tr><th>pair</th><th>{self.name_a} (s, measured)</th>"
                f"<th>{self.name_b} (s, measured)</th><th>ratio</th></tr></thead><tbody>{rows}</tbody></table>"
                f"<p>{self.summary()}</p>")

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
                   name_b: str = "B") -> PairedComparison:
    """Compare two methods timed in interleaved pairs (run ``i`` of each back to back).

    Parameters
    ----------
    seconds_a, seconds_b : sequences of float
        Measured wall-clock seconds, pair ``i`` at index ``i``; same length.
    name_a, name_b : str
        Labels used in the summary.

    Returns
    -------
    PairedComparison

    Examples
    --------
    >>> c = compare_paired([4.0, 4.1, 4.2, 4.0, 4.1], [4.4, 4.3, 4.5, 4.2, 4.4], name_a="plsim", name_b="joblib")
    >>> c.verdict, c.wins_a, round(c.p_value, 3)
    ('a_faster', 5, 0.031)
    """
    a = _seconds("seconds_a", seconds_a)
    b = _seconds("seconds_b", seconds_b)
    if len(a) != len(b):
        raise ValueError(f"seconds_a has {len(a)} runs and seconds_b {len(b)}; paired runs need the same number")
    return PairedComparison(str(name_a), str(name_b), a, b)

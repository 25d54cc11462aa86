"""Is classifier A more accurate than B? Paired on the same test rows, with an interval for the difference.

Two test accuracies measured on the same rows differ by a point or two from
luck alone: 900 test rows give an accuracy of 0.80 a 95 % interval of about
±2.6 points. Comparing the two numbers says nothing until the noise is stated.
Because both classifiers answered the *same* rows, only the rows on which
they disagree about being right carry information (McNemar):

* ``only_a``: rows A gets right and B wrong; ``only_b``: the reverse;
* if A and B were equally accurate, each such *discordant* row would be a fair
  coin, so ``only_a ~ Binomial(only_a + only_b, 1/2)``: the **exact McNemar
  test** is ``scipy.stats.binomtest`` on the discordant rows;
* the difference in accuracy is ``(only_a - only_b) / n``, and its interval
  comes from the exact (Clopper-Pearson) interval of the share of discordant
  rows that A won: ``m / n * (2 * share - 1)`` with ``m`` discordant rows.

The interval excludes 0 exactly when the two-sided test's p-value is below
``1 - level`` (for a fair coin the exact two-sided test is twice the smaller
tail, and the Clopper-Pearson interval is the set of shares that tail test
keeps), so "A beats B" is said only then; otherwise the two are "about as
good as" each other on this test set.

:func:`accuracy_interval` gives the exact interval of one accuracy on its own.

Taught in ``notebooks/02_ensembles.ipynb`` (does an ensemble beat its best member?).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from plsim.i18n import _

__all__ = ["AccuracyComparison", "compare_accuracy", "accuracy_interval", "LEVEL"]

LEVEL = 0.95
"""Default confidence level of the intervals (and 1 - the test's significance level)."""

A_BETTER = "a_better"
B_BETTER = "b_better"
NO_CLEAR_DIFFERENCE = "no_clear_difference"


def _level(level: Any) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)):
        raise TypeError(f"level must be a number between 0 and 1, got {level!r} ({type(level).__name__})")
    if not 0 < float(level) < 1:
        raise ValueError(f"level={level!r} must be between 0 and 1 (exclusive), e.g. 0.95")
    return float(level)


def _labels(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d sequence of labels, got shape {array.shape}")
    return array


def _sentence(text: str) -> str:
    """The text with its first letter upper-cased (names such as "the top-5 vote" start sentences)."""
    return text[:1].upper() + text[1:]


def accuracy_interval(y_true: Any, y_pred: Any, *, level: float = LEVEL) -> tuple[float, float, float]:
    """``(accuracy, low, high)``: one test accuracy with its exact (Clopper-Pearson) interval.

    Parameters
    ----------
    y_true, y_pred : 1-d sequences of labels
        True and predicted labels of the same test rows.
    level : float
        Confidence level of the interval (default 0.95).
    """
    level = _level(level)
    y_true, y_pred = _labels("y_true", y_true), _labels("y_pred", y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels and y_pred {y_pred.size}; give one prediction per row")
    from scipy.stats import binomtest

    correct, n = int(np.sum(y_true == y_pred)), int(y_true.size)
    ci = binomtest(correct, n).proportion_ci(confidence_level=level, method="exact")
    return correct / n, float(ci.low), float(ci.high)


@dataclass(frozen=True)
class AccuracyComparison:
    """Two classifiers' test accuracy on the same rows, the paired difference and its interval (measured)."""

    name_a: str
    name_b: str
    n: int
    """Test rows both were scored on."""
    correct_a: int
    correct_b: int
    only_a: int
    """Rows A got right and B wrong."""
    only_b: int
    """Rows B got right and A wrong."""
    level: float = LEVEL

    @property
    def accuracy_a(self) -> float:
        return self.correct_a / self.n

    @property
    def accuracy_b(self) -> float:
        return self.correct_b / self.n

    @property
    def difference(self) -> float:
        """Accuracy of A minus accuracy of B (``(only_a - only_b) / n``)."""
        return (self.only_a - self.only_b) / self.n

    @property
    def discordant(self) -> int:
        """Rows on which exactly one of the two was right: the only rows that tell them apart."""
        return self.only_a + self.only_b

    @property
    def p_value(self) -> float:
        """Exact McNemar test, two-sided: ``binomtest(only_a, only_a + only_b, 1/2)`` (1.0 with no discordant row)."""
        if self.discordant == 0:
            return 1.0
        from scipy.stats import binomtest

        return float(binomtest(self.only_a, self.discordant, 0.5).pvalue)

    @property
    def interval(self) -> tuple[float, float]:
        """``(low, high)`` of :attr:`difference` at :attr:`level`, from the exact interval of A's share of the discordant rows."""
        m = self.discordant
        if m == 0:
            return 0.0, 0.0
        from scipy.stats import binomtest

        ci = binomtest(self.only_a, m).proportion_ci(confidence_level=self.level, method="exact")
        return m / self.n * (2 * float(ci.low) - 1), m / self.n * (2 * float(ci.high) - 1)

    @property
    def verdict(self) -> str:
        """``"a_better"`` / ``"b_better"`` when the interval excludes 0 on that side, else ``"no_clear_difference"``."""
        low, high = self.interval
        if low > 0:
            return A_BETTER
        if high < 0:
            return B_BETTER
        return NO_CLEAR_DIFFERENCE

    @property
    def relation(self) -> str:
        """How A compares with B in words: ``"beats"``, ``"is beaten by"`` or ``"is about as good as"``."""
        return {A_BETTER: "beats", B_BETTER: "is beaten by"}.get(self.verdict, "is about as good as")

    def evidence(self) -> str:
        """The difference in points, its interval and the rows behind it, as one clause to quote after a colon."""
        low, high = self.interval
        return (_("{value:+.1f} points, {level:.0%} interval {value2:+.1f} to {value3:+.1f} on "
                   "the same {n} test rows, {only_a} of them right only for {name_a} and "
                   "{only_b} only for {name_b}, exact McNemar p = {p_value:.3f}").format(value=self.difference * 100, level=self.level, value2=low * 100, value3=high * 100, n=self.n, only_a=self.only_a, name_a=self.name_a, only_b=self.only_b, name_b=self.name_b, p_value=self.p_value))

    def summary(self) -> str:
        """Two sentences: both accuracies, the paired difference with its interval; the verdict."""
        first = (_("{name_a} {accuracy_a:.3f} against {name_b} {accuracy_b:.3f} (test "
                    "accuracy, measured): {evidence}.").format(name_a=self.name_a, accuracy_a=self.accuracy_a, name_b=self.name_b, accuracy_b=self.accuracy_b, evidence=self.evidence()))
        second = {"beats": _("{name_a} beats {name_b}."), "is beaten by": _("{name_a} is beaten by {name_b}.")}.get(
            self.relation, _("{name_a} is about as good as {name_b} on this test set.")).format(
            name_a=self.name_a, name_b=self.name_b)
        return f"{_sentence(first)} {_sentence(second)}"

    def __str__(self) -> str:
        return self.summary()


def compare_accuracy(y_true: Any, pred_a: Any, pred_b: Any, *, name_a: str = "A", name_b: str = "B",
                     level: float = LEVEL) -> AccuracyComparison:
    """Compare two classifiers' predictions on the same labelled test rows (paired, exact McNemar).

    Parameters
    ----------
    y_true : 1-d sequence of labels
        The test rows' true labels.
    pred_a, pred_b : 1-d sequences of labels
        Each classifier's predictions for the same rows, in the same order.
    name_a, name_b : str
        Labels used in the summary.
    level : float
        Confidence level of the interval for the difference (default 0.95).

    Returns
    -------
    AccuracyComparison
        Accuracies, discordant rows, the difference with its interval, the
        p-value and the verdict; ``str()`` of it is the sentence to print.

    Examples
    --------
    >>> y = [0] * 100
    >>> a = [0] * 90 + [1] * 10          # 90 % right
    >>> b = [0] * 80 + [1] * 20          # 80 % right, wrong wherever a is
    >>> c = compare_accuracy(y, a, b, name_a="vote", name_b="tree")
    >>> c.only_a, c.only_b, c.verdict
    (10, 0, 'a_better')
    """
    level = _level(level)
    y = _labels("y_true", y_true)
    a, b = _labels("pred_a", pred_a), _labels("pred_b", pred_b)
    for name, pred in (("pred_a", a), ("pred_b", b)):
        if pred.shape != y.shape:
            raise ValueError(f"{name} has {pred.size} predictions for {y.size} test rows; give one per row, same order")
    for name, label in (("name_a", name_a), ("name_b", name_b)):
        if not isinstance(label, str):
            raise TypeError(f"{name} must be a string, got {label!r} ({type(label).__name__})")
    right_a, right_b = a == y, b == y
    return AccuracyComparison(name_a, name_b, int(y.size), int(right_a.sum()), int(right_b.sum()),
                              int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a)), level)


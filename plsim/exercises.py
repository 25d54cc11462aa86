"""Feedback for the exercises in the notebooks.

An exercise cell ships with ``answer = None``; the student replaces ``None``
and runs the check cell below it, which prints feedback instead of raising, so
an unanswered notebook still runs top to bottom (and under nbval in CI).
The test suite calls the same checks with the worked answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = ["check", "Feedback"]


class Feedback(str):
    """The printed message; ``.correct`` is True/False, or None if unanswered."""

    correct: bool | None

    def __new__(cls, text: str, correct: bool | None) -> Feedback:
        obj = super().__new__(cls, text)
        obj.correct = correct
        return obj

    def _ipython_display_(self) -> None:
        # check() already printed the message; showing the return value too would repeat it.
        pass


def check(
    name: str,
    answer: Any,
    expected: Any,
    *,
    rel_tol: float = 1e-2,
    abs_tol: float = 1e-9,
    hint: str = "",
    compare: Callable[[Any, Any], bool] | None = None,
    quiet: bool = False,
) -> Feedback:
    """Compare a student's answer with the expected one and print friendly feedback.

    Numbers are compared with ``math.isclose(rel_tol, abs_tol)``, anything else
    with ``==`` unless ``compare(answer, expected)`` is given.
    """
    if answer is None or answer is Ellipsis:
        fb = Feedback(f"[{name}] not answered yet. {hint}".rstrip(), None)
    else:
        try:
            if compare is not None:
                ok = bool(compare(answer, expected))
            elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
                ok = math.isclose(float(answer), float(expected), rel_tol=rel_tol, abs_tol=abs_tol)
            else:
                ok = answer == expected
        except (TypeError, ValueError):
            ok = False
        if ok:
            fb = Feedback(f"[{name}] correct!", True)
        else:
            fb = Feedback(f"[{name}] not quite: you gave {answer!r}. {hint}".rstrip(), False)
    if not quiet:
        print(fb)
    return fb

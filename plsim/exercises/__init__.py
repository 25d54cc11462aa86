"""Feedback for the notebooks' exercises, with the answers kept out of sight.

A notebook cell reads ``answer = None`` (the student replaces ``None``) and the
check below it is ``check("waves", answer)``: the expected value lives in the
topic module that registered the exercise, not in the notebook. See
:mod:`plsim.exercises._core` for the three kinds (answer, predict -> run ->
explain, code) and how worked solutions are loaded on demand.
"""

from plsim.exercises._core import (
    Exercise,
    Feedback,
    check,
    check_code,
    exercise,
    predict,
    register,
    registered,
    reveal,
)

__all__ = ["check", "predict", "reveal", "check_code", "Feedback", "Exercise", "register", "registered",
           "exercise"]

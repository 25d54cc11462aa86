"""Running a worked solution (``notebooks/solutions/<name>.py``) as the notebook would, in tests.

``exec_solution(name, **namespace)`` runs the file with the exercise helpers
(quiet) and the names the notebook provides; the returned namespace holds what
the solution defined and ``_feedback``, every Feedback its checks returned.
``no_predictions_left`` is an autouse fixture once imported into a test module:
predictions recorded by one test do not leak into the next. ``on_clusters``
parametrizes a test over the session's 1-worker cluster (Binder's size,
``one_worker_client`` in tests/conftest.py) and its 2-worker one: the Dask-code
exercises must pass on both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plsim.exercises import _core, check, check_code, predict, reveal

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "solutions"


def exec_solution(name: str, **namespace) -> dict:
    feedback = []

    def record(fn):
        def wrapped(*args, **kwargs):
            fb = fn(*args, quiet=True, **kwargs)
            feedback.append(fb)
            return fb
        return wrapped

    ns = dict(np=np, check=record(check), check_code=record(check_code), predict=record(predict),
              reveal=record(reveal), **namespace)
    exec(compile((SOLUTIONS / f"{name}.py").read_text(), f"{name}.py", "exec"), ns)
    ns["_feedback"] = feedback
    return ns


@pytest.fixture(autouse=True)
def no_predictions_left():
    yield
    _core._PREDICTIONS.clear()


on_clusters = pytest.mark.parametrize("cluster", ["one_worker_client", "client"], ids=["1-worker", "2-workers"])

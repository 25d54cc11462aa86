"""Running a worked solution (``notebooks/solutions/<name>.py``) as the notebook would, in tests.

``exec_solution(name, **namespace)`` runs the file with the exercise helpers
(quiet) and the names the notebook provides; the returned namespace holds what
the solution defined and ``_feedback``, every Feedback its checks returned.
``no_predictions_left`` is an autouse fixture once imported into a test module:
predictions recorded by one test do not leak into the next. ``one_worker_client``
is a 1-worker cluster (Binder's size) for the Dask-code exercises, which must
pass there as on the session's 2 workers; ``on_clusters`` parametrizes a test
over both.
"""

from __future__ import annotations

from contextlib import closing
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


@pytest.fixture(scope="module")
def one_worker_client():
    """A 1-worker, 1-thread LocalCluster for one test module, closed at its end."""
    import plsim

    with closing(plsim.start_cluster(n_workers=1, threads_per_worker=1, memory_limit=2 * 2**30, processes=True,
                                     quiet=True, set_as_default=False)) as c:
        yield c


on_clusters = pytest.mark.parametrize("cluster", ["one_worker_client", "client"], ids=["1-worker", "2-workers"])

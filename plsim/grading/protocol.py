"""What crosses the sandbox's wall: the grader's cases in, the student's answers out, as plain JSON data.

The hidden part of a graded test cell calls :func:`send`; under the grader it calls the student's code on the
cases the grader drew at grading time and displays their return values as one output of mimetype
:data:`MIMETYPE`. Nothing in those values is executed or unpickled by the grader: :func:`to_plain` turns numbers,
strings, lists, tuples, dicts and numpy arrays into JSON, and :func:`from_plain` turns that JSON back into plain
Python and numpy values in the grader's own process. Anything else (a fitted model, a Dask future) is refused:
the probe in the test cell must reduce it to data first (predictions, counts, keys).

Outside the grader (the instructor's own kernel, ``pytest notebooks/assignments``) :func:`send` draws cases
itself and runs the registered check in the same process, so the solution copies stay self-testing.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MIMETYPE", "CASES_ENV", "Raised", "to_plain", "from_plain", "answer_of", "send", "answers_in"]

MIMETYPE = "application/vnd.plsim.grading.v1+json"
# The grader names its cases file in this variable of the sandboxed kernel's environment.
CASES_ENV = "PLSIM_GRADING_CASES"
# One answer message larger than this is refused (a probe should return a few numbers per case).
MAX_MESSAGE_BYTES = 2_000_000


@dataclass(frozen=True)
class Raised:
    """The student's code raised an exception of this class (by name) for a case: data, not an error."""

    name: str
    bases: tuple[str, ...] = ()  # the names of its classes, itself first (its MRO)

    def is_a(self, name: str) -> bool:
        """Whether the exception was a ``name`` (or a subclass of one), like ``isinstance`` by name."""
        return name == self.name or name in self.bases

    def __str__(self) -> str:
        return f"raised {self.name}"


def to_plain(value: Any) -> Any:
    """``value`` as JSON-able data; raises TypeError for anything that is not plain data."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"only numeric arrays can be sent to the grader, not dtype {value.dtype}")
        return {"__ndarray__": [to_plain(v) for v in value.ravel().tolist()], "shape": list(value.shape),
                "dtype": value.dtype.kind}
    if isinstance(value, Raised):
        return {"__raised__": value.name, "bases": list(value.bases)}
    if isinstance(value, tuple):
        return {"__tuple__": [to_plain(v) for v in value]}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[to_plain(k), to_plain(v)] for k, v in value.items()]}
    raise TypeError(f"{type(value).__name__} cannot be sent to the grader: reduce it to numbers, strings, "
                    "lists, tuples, dicts or numpy arrays in the test's probe")


def from_plain(data: Any) -> Any:
    """The inverse of :func:`to_plain`, run by the grader on JSON it parsed itself."""
    if isinstance(data, list):
        return [from_plain(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "__ndarray__" in data:
        kind = {"b": bool, "i": np.int64, "u": np.uint64}.get(data.get("dtype"), float)
        flat = [from_plain(v) for v in data["__ndarray__"]]
        return np.asarray(flat, dtype=kind).reshape([int(n) for n in data["shape"]])
    if "__float__" in data:
        return float(data["__float__"])
    if "__raised__" in data:
        return Raised(str(data["__raised__"]), tuple(str(b) for b in data.get("bases", [])[:50]))
    if "__tuple__" in data:
        return tuple(from_plain(v) for v in data["__tuple__"])
    if "__dict__" in data:
        return {_hashable(from_plain(k)): from_plain(v) for k, v in data["__dict__"]}
    raise ValueError(f"not an answer encoding: keys {sorted(data)}")


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def answer_of(probe: Callable[[Any], Any], case: Any) -> Any:
    """``probe(case)`` as plain data; an exception (or a value that is not data) is an answer too."""
    try:
        value = probe(case)
    except Exception as exc:  # the student's code raising is an answer ("it raised ValueError")
        return to_plain(Raised(type(exc).__name__, tuple(c.__name__ for c in type(exc).__mro__)))
    try:
        return to_plain(value)
    except (TypeError, RecursionError):
        return to_plain(Raised("NotPlainData", ("NotPlainData",)))


def send(grade_id: str, probe: Callable[[Any], Any], *, assignment: str | None = None) -> None:
    """Answer the grader's cases for ``grade_id``: ``probe(case)`` for each, sent out of the kernel as data.

    Called by the hidden part of a graded test cell. ``probe`` is the instructor's code: it calls the student's
    function on one case and returns plain data (see :func:`to_plain`). Under the grader this only *displays*
    the answers; whether they are right is decided outside the kernel. Elsewhere it checks them here with the
    registered check of ``assignment`` (needed when several assignments have a cell ``grade_id``):
    AssertionError when wrong, so a solution copy tests itself.
    """
    if not isinstance(grade_id, str) or not callable(probe):
        raise TypeError(f"send(grade_id: str, probe: callable), got {type(grade_id).__name__} and "
                        f"{type(probe).__name__}")
    path = os.environ.get(CASES_ENV)
    if not path and os.environ.get("NBGRADER_EXECUTION") == "autograde":
        # nbgrader is grading, but not through plsim.grading (its nbgrader_config.py did not load, or lacks the
        # sandbox): checking here would let the student's kernel decide. Fail loudly instead.
        raise RuntimeError("this notebook is being autograded without plsim.grading's sandbox: check that the "
                           "course's nbgrader_config.py loads (see docs/instructors.md)")
    if path:
        with open(path, encoding="utf-8") as file:
            cases = json.load(file).get(grade_id, [])
        answers = [answer_of(probe, case) for case in cases]
        message = {"grade_id": grade_id, "answers": answers}
        from IPython.display import display
        display({MIMETYPE: message, "text/plain": f"{len(answers)} answer(s) for {grade_id} sent to the grader"},
                raw=True)
        return
    from plsim.grading.checks import run_here
    run_here(grade_id, probe, assignment=assignment)


def answers_in(outputs: list[dict]) -> list[dict]:
    """The answer messages among a cell's outputs (display_data with :data:`MIMETYPE`), parsed by the grader."""
    found = []
    for output in outputs:
        data = output.get("data", {}) if output.get("output_type") in ("display_data", "execute_result") else {}
        if MIMETYPE not in data:
            continue
        raw = data[MIMETYPE]
        text = raw if isinstance(raw, str) else json.dumps(raw)
        if len(text) > MAX_MESSAGE_BYTES:
            found.append({"grade_id": None, "error": f"an answer message of {len(text)} bytes (limit "
                                                     f"{MAX_MESSAGE_BYTES})"})
            continue
        message = json.loads(text) if isinstance(raw, str) else raw
        if not (isinstance(message, dict) and isinstance(message.get("grade_id"), str)
                and isinstance(message.get("answers"), list)):
            found.append({"grade_id": None, "error": "a malformed answer message"})
            continue
        found.append(message)
    return found

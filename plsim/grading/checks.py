"""Grader-side checks: the reference each graded test cell's answers are compared with, in a clean process.

A module ``plsim.grading.<assignment>_checks`` (and ``plsim.grading.dask_checks``) registers one check per
graded code cell::

    from plsim.grading import Failed, check

    def _cases(rng):                           # drawn by the grader at grading time; JSON-able
        return [{"t1": float(rng.uniform(1, 100)), "tp": 2.0, "p": 4}]

    @check("a1", "q1-properties", cases=_cases)
    def _(ctx):                                # ctx.cases, ctx.answers, ctx.record, ctx.window
        ...
        raise Failed("what is wrong, in words a student learns from")

The kernel never sees the reference; it only gets ``cases(rng)`` and sends back what the student's code
returned (:func:`plsim.grading.protocol.send`). ``docs/instructors.md`` has the whole design.
"""

from __future__ import annotations

import importlib
import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from plsim.grading.record import RecordedRun

__all__ = ["Failed", "CheckContext", "Check", "check", "load_checks", "registered", "run_here", "close",
           "same_array"]

# Every module whose checks are loaded for an assignment: its own, then the Dask questions' (all assignments).
_MODULES = ("plsim.grading.{assignment}_checks", "plsim.grading.dask_checks")


class Failed(Exception):
    """A check's verdict: the answers are wrong. The message is shown to the student in the feedback."""


@dataclass
class CheckContext:
    """What a check judges: the cases the kernel got, the answers it sent back, and the cluster's record."""

    assignment: str
    grade_id: str
    cases: list[Any]
    answers: list[Any]
    record: RecordedRun | None = None  # what the grader's Dask cluster saw (checks with needs_record)
    window: tuple[float, float] | None = None  # time.time() when the grader sent the cell / got its reply
    rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def pairs(self) -> list[tuple[Any, Any]]:
        """``(case, answer)`` for every case; Failed unless the kernel answered each case exactly once."""
        if len(self.answers) != len(self.cases):
            raise Failed(f"the grader sent {len(self.cases)} case(s) and got {len(self.answers)} answer(s) back")
        return list(zip(self.cases, self.answers))


@dataclass(frozen=True)
class Check:
    """One graded cell's check: how to draw its cases, and how to judge the answers."""

    assignment: str
    grade_id: str
    verify: Callable[[CheckContext], None]
    cases: Callable[[np.random.Generator], list[Any]] | None = None
    needs_record: bool = False

    def draw(self, rng: np.random.Generator) -> list[Any]:
        """The cases for one grading (``[{}]`` when the check takes no inputs)."""
        return [{}] if self.cases is None else list(self.cases(rng))

    def judge(self, ctx: CheckContext) -> str | None:
        """None if the answers pass, else the reason (for the feedback). Never raises for bad answers."""
        if self.needs_record and ctx.record is None:
            return "the grader has no record of the Dask cluster for this question"
        try:
            self.verify(ctx)
        except Failed as exc:
            return str(exc) or "wrong answer"
        except Exception as exc:  # odd answers (wrong types, shapes) that trip the reference comparison
            return f"the answers could not be checked ({type(exc).__name__}: {exc})"[:500]
        return None


_REGISTRY: dict[tuple[str, str], Check] = {}


def check(assignment: str, grade_id: str, *, cases: Callable[[np.random.Generator], list[Any]] | None = None,
          needs_record: bool = False) -> Callable[[Callable[[CheckContext], None]], Callable[[CheckContext], None]]:
    """Register the decorated ``verify(ctx)`` as the check of graded cell ``grade_id`` of ``assignment``."""
    for name, value in (("assignment", assignment), ("grade_id", grade_id)):
        if not isinstance(value, str) or not value:
            raise TypeError(f"{name} must be a non-empty string, got {value!r}")
    if cases is not None and not callable(cases):
        raise TypeError(f"cases must be a function of a numpy Generator, got {type(cases).__name__}")

    def register(verify: Callable[[CheckContext], None]) -> Callable[[CheckContext], None]:
        key = (assignment, grade_id)
        if key in _REGISTRY and _REGISTRY[key].verify.__qualname__ != verify.__qualname__:
            raise ValueError(f"a check for {assignment} {grade_id} is already registered "
                             f"({_REGISTRY[key].verify.__module__})")
        _REGISTRY[key] = Check(assignment, grade_id, verify, cases, needs_record)
        return verify

    return register


def load_checks(assignment: str) -> dict[str, Check]:
    """``{grade_id: Check}`` of ``assignment``, importing its check modules (missing modules are fine)."""
    for pattern in _MODULES:
        name = pattern.format(assignment=assignment)
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but something it imports does not: a real error
                raise
    return registered(assignment)


def registered(assignment: str) -> dict[str, Check]:
    return {gid: c for (a, gid), c in _REGISTRY.items() if a == assignment}


def _find(grade_id: str, assignment: str | None) -> Check:
    if assignment is not None:
        found = load_checks(assignment).get(grade_id)
        if found is None:
            raise LookupError(f"no check registered for {assignment} {grade_id!r}")
        return found
    matches = [c for (_, gid), c in _REGISTRY.items() if gid == grade_id]
    if not matches:
        for name in ("a1", "a2", "a3"):
            load_checks(name)
        matches = [c for (_, gid), c in _REGISTRY.items() if gid == grade_id]
    if len(matches) != 1:
        raise LookupError(f"{len(matches)} checks registered for grade id {grade_id!r}; name the assignment")
    return matches[0]


def run_here(grade_id: str, probe: Callable[[Any], Any], *, assignment: str | None = None,
             seed: int | None = None) -> None:
    """Check ``probe``'s answers in this process (no grader): AssertionError with the check's message if wrong.

    What :func:`plsim.grading.send` does outside the grader, so ``pytest notebooks/assignments`` runs every
    hidden test of the solution copies. A Dask check gets the record of this kernel's default cluster.
    """
    import time

    from plsim.grading.protocol import answer_of, from_plain

    found = _find(grade_id, assignment)
    rng = np.random.default_rng(secrets.randbits(64) if seed is None else seed)
    cases = found.draw(rng)
    record = None
    start = time.time()
    if found.needs_record:  # record what this kernel's cluster runs while the probe runs, as the grader does
        from plsim.cluster import current_client
        from plsim.exercises.scheduler_record import watch_scheduler
        from plsim.grading.record import RecordedRun
        client = current_client()
        if client is None:
            raise AssertionError(f"{grade_id} is checked on a Dask cluster: start one (plsim.start_cluster())")
        with watch_scheduler(client) as seen:
            answers = [from_plain(answer_of(probe, case)) for case in cases]
        record = RecordedRun.from_watch(seen)
    else:
        answers = [from_plain(answer_of(probe, case)) for case in cases]
    window = (start, time.time())
    reason = found.judge(CheckContext(found.assignment, grade_id, cases, answers, record, window, rng))
    if reason is not None:
        raise AssertionError(reason)


# -- small comparisons the checks share ----------------------------------------------------------------

def close(got: Any, expected: float, *, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    """``got`` is a real number (not bool) within tolerance of ``expected``."""
    if isinstance(got, bool) or not isinstance(got, (int, float, np.integer, np.floating)):
        return False
    return math.isclose(float(got), float(expected), rel_tol=rel, abs_tol=abs_)


def same_array(got: Any, expected: Sequence[float] | np.ndarray, *, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    """``got`` is numeric with ``expected``'s shape and values within tolerance."""
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return False
    expected = np.asarray(expected, dtype=float)
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=rel, atol=abs_))

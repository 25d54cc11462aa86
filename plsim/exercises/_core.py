"""The machinery behind the notebooks' exercises: a registry, checks, predictions.

Three kinds of exercise, all registered by name in the topic modules
(:mod:`plsim.exercises.speedup`, ``.ensembles``, ``.federated``, ...):

* **answer** -- ``check(name, answer, **context)``. The expected value is computed
  here, by the library, from ``context`` (what the notebook ran), so the cell the
  student fills in never shows it.
* **predict -> run -> explain** -- ``predict(name, guess)`` before a measurement,
  ``reveal(name, measured, **context)`` after it: the feedback compares the two
  and says what usually explains the gap. The student then writes their own
  explanation in the cell below (read by the instructor, not graded here).
* **code** -- ``check_code(name, function, **context)`` runs the student's Dask
  code and compares its result with plsim's own implementation.

Every check prints feedback instead of raising, so an unanswered notebook still
runs top to bottom (and under nbval in CI). Worked solutions live next to the
notebooks in ``notebooks/solutions/<name>.py``; a notebook loads one on demand
with ``%load solutions/<name>.py`` (as dask-tutorial does), and the test suite
checks that every solution passes its own check.
"""

from __future__ import annotations

import importlib
import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Feedback", "Exercise", "register", "check", "predict", "reveal", "check_code", "exercise",
           "registered", "TOPIC_MODULES"]

# The modules that register exercises; imported on the first lookup.
TOPIC_MODULES = ("speedup", "ensembles", "federated", "training", "collectives", "scaling")


class Feedback(str):
    """The printed message; ``.correct`` is True/False, or None if unanswered."""

    correct: bool | None

    def __new__(cls, text: str, correct: bool | None) -> Feedback:
        obj = super().__new__(cls, text)
        obj.correct = correct
        return obj

    def _ipython_display_(self) -> None:
        # The check already printed the message; showing the return value too would repeat it.
        pass


@dataclass(frozen=True)
class Exercise:
    """One registered exercise.

    ``expected(**context)`` computes the right answer (``kind="answer"``);
    ``explain(prediction, measured, **context)`` says what explains the gap
    (``kind="predict"``); ``run(function, **context)`` returns ``(ok, message)``
    for the student's code (``kind="code"``).
    """

    name: str
    kind: str
    hint: str = ""
    expected: Callable[..., Any] | None = None
    compare: Callable[[Any, Any], bool] | None = None
    rel_tol: float = 1e-2
    abs_tol: float = 1e-9
    explain: Callable[..., str] | None = None
    run: Callable[..., tuple[bool, str]] | None = None
    misconception: str = ""
    notebook: str = ""
    # What ``reveal`` compares the prediction with: "measured" on the cluster, or e.g.
    # "predicted by the cost model" when the notebook can only simulate it.
    outcome: str = "measured"
    context: tuple[str, ...] = field(default=())


_REGISTRY: dict[str, Exercise] = {}
_PREDICTIONS: dict[str, Any] = {}
_LOADED = False


def register(ex: Exercise) -> Exercise:
    """Add an exercise to the registry (a duplicate name is a programming error)."""
    if ex.kind not in ("answer", "predict", "code"):
        raise ValueError(f"kind={ex.kind!r} must be 'answer', 'predict' or 'code'")
    if ex.name in _REGISTRY and _REGISTRY[ex.name] != ex:
        raise ValueError(f"exercise {ex.name!r} is registered twice")
    _REGISTRY[ex.name] = ex
    return ex


def _load_topics() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for mod in TOPIC_MODULES:
            try:
                importlib.import_module(f"plsim.exercises.{mod}")
            except ModuleNotFoundError as exc:
                if exc.name != f"plsim.exercises.{mod}":
                    raise


def registered() -> dict[str, Exercise]:
    """All exercises by name (a copy)."""
    _load_topics()
    return dict(_REGISTRY)


def exercise(name: str, kind: str | None = None) -> Exercise:
    """The registered exercise called ``name`` (``ValueError`` naming the known ones if absent)."""
    if not isinstance(name, str):
        raise TypeError(f"name={name!r} must be a str naming an exercise")
    _load_topics()
    ex = _REGISTRY.get(name)
    if ex is None:
        raise ValueError(f"name={name!r} is not an exercise; known: {', '.join(sorted(_REGISTRY))}")
    if kind is not None and ex.kind != kind:
        helper = {"answer": "check", "predict": "predict/reveal", "code": "check_code"}[ex.kind]
        raise ValueError(f"exercise {name!r} is checked with {helper}(), not this function")
    return ex


def _emit(fb: Feedback, quiet: bool) -> Feedback:
    if not quiet:
        print(fb)
    return fb


def _unanswered(value: Any) -> bool:
    return value is None or value is Ellipsis


def _close(answer: Any, expected: Any, ex: Exercise) -> bool:
    if ex.compare is not None:
        return bool(ex.compare(answer, expected))
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return math.isclose(float(answer), float(expected), rel_tol=ex.rel_tol, abs_tol=ex.abs_tol)
    return bool(answer == expected)


def check(name: str, answer: Any, *, quiet: bool = False, **context: Any) -> Feedback:
    """Compare ``answer`` with the value the library computes for exercise ``name``.

    ``context`` passes what the notebook ran (a fitted model, a measured time)
    when the expected value depends on it. The expected value is never printed.
    """
    ex = exercise(name, "answer")
    if _unanswered(answer):
        return _emit(Feedback(f"[{name}] not answered yet. {ex.hint}".rstrip(), None), quiet)
    expected = ex.expected(**context)
    try:
        ok = _close(answer, expected, ex)
    except (TypeError, ValueError):
        ok = False
    if ok:
        return _emit(Feedback(f"[{name}] correct!", True), quiet)
    return _emit(Feedback(f"[{name}] not quite: you gave {answer!r}. {ex.hint}".rstrip(), False), quiet)


def predict(name: str, prediction: Any, *, quiet: bool = False) -> Feedback:
    """Record a prediction before the measurement that ``reveal`` compares it with."""
    ex = exercise(name, "predict")
    if _unanswered(prediction):
        _PREDICTIONS.pop(name, None)
        return _emit(Feedback(f"[{name}] write your prediction first, then run the next cells. {ex.hint}"
                              .rstrip(), None), quiet)
    try:
        value = float(prediction)
    except (TypeError, ValueError):
        return _emit(Feedback(f"[{name}] a prediction is a number; you gave {prediction!r}.", False), quiet)
    if not math.isfinite(value):
        return _emit(Feedback(f"[{name}] a prediction is a finite number; you gave {prediction!r}.", False), quiet)
    _PREDICTIONS[name] = value
    return _emit(Feedback(f"[{name}] prediction recorded: {value:g}. Now run the measurement.", True), quiet)


def reveal(name: str, measured: float, *, quiet: bool = False, **context: Any) -> Feedback:
    """Compare the recorded prediction with ``measured`` and explain the gap.

    ``.correct`` is True when the prediction was within the exercise's tolerance,
    False when it was not, None when no prediction was recorded.
    """
    ex = exercise(name, "predict")
    measured = float(measured)
    why = ex.explain(_PREDICTIONS.get(name), measured, **context) if ex.explain else ""
    if name not in _PREDICTIONS:
        text = (f"[{name}] {ex.outcome}: {measured:.3g}. You did not record a prediction: next time write one "
                f"down before you run, then compare. {why}")
        return _emit(Feedback(text.rstrip(), None), quiet)
    guess = _PREDICTIONS[name]
    close = math.isclose(guess, measured, rel_tol=ex.rel_tol, abs_tol=ex.abs_tol)
    verdict = "close" if close else ("too high" if guess > measured else "too low")
    text = (f"[{name}] you predicted {guess:.3g}; {ex.outcome}: {measured:.3g}: your prediction was {verdict}. "
            f"{why}")
    return _emit(Feedback(text.rstrip(), close), quiet)


def plsim_tasks(task_stream: Any) -> int:
    """How many tasks of a recorded task stream plsim itself submitted (their keys start ``plsim-``).

    A code exercise asks the student to write with ``client.submit`` what a plsim function does; calling that
    function gives exactly the reference result, and these tasks give it away.
    """
    return sum("plsim-" in str(t.get("key", "")) for t in task_stream)


def check_code(name: str, function: Any, *, quiet: bool = False, **context: Any) -> Feedback:
    """Run the student's ``function`` and compare what it computes with plsim's own implementation."""
    ex = exercise(name, "code")
    if _unanswered(function):
        return _emit(Feedback(f"[{name}] not written yet. {ex.hint}".rstrip(), None), quiet)
    if not callable(function):
        return _emit(Feedback(f"[{name}] pass your function itself, not {type(function).__name__}.", False),
                     quiet)
    try:
        ok, message = ex.run(function, **context)
    except NotImplementedError:
        return _emit(Feedback(f"[{name}] not written yet (NotImplementedError). {ex.hint}".rstrip(), None), quiet)
    except Exception as exc:  # the student's code raised: show where, keep the notebook running
        tb = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return _emit(Feedback(f"[{name}] your code raised {tb}. {ex.hint}".rstrip(), False), quiet)
    prefix = "correct! " if ok else "not quite: "
    return _emit(Feedback(f"[{name}] {prefix}{message}".rstrip(), bool(ok)), quiet)

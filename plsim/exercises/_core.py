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
  code and compares its result with plsim's own implementation, then judges
  where the work ran from what the scheduler recorded during the call
  (:func:`cluster_work`, :mod:`plsim.exercises.scheduler_record`): every part of
  the answer must be the result of a task the cluster computed, not work done in
  the notebook's process.

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

from plsim.i18n import N_, _

__all__ = ["Feedback", "Exercise", "register", "check", "predict", "reveal", "check_code", "exercise",
           "registered", "TOPIC_MODULES", "ClusterWork", "cluster_work", "plsims_own", "values_in"]

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
    outcome: str = N_("measured")
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
        return _emit(Feedback(_("[{name}] not answered yet. {hint}").format(name=name, hint=_(ex.hint) if ex.hint else "").rstrip(), None), quiet)
    expected = ex.expected(**context)
    try:
        ok = _close(answer, expected, ex)
    except (TypeError, ValueError):
        ok = False
    if ok:
        return _emit(Feedback(_("[{name}] correct!").format(name=name), True), quiet)
    return _emit(Feedback(_("[{name}] not quite: you gave {answer!r}. {hint}").format(name=name, answer=answer, hint=_(ex.hint) if ex.hint else "").rstrip(), False), quiet)


def predict(name: str, prediction: Any, *, quiet: bool = False) -> Feedback:
    """Record a prediction before the measurement that ``reveal`` compares it with."""
    ex = exercise(name, "predict")
    if _unanswered(prediction):
        _PREDICTIONS.pop(name, None)
        return _emit(Feedback(_("[{name}] write your prediction first, then run the next "
                                 "cells. {hint}").format(name=name, hint=_(ex.hint) if ex.hint else "")
                              .rstrip(), None), quiet)
    try:
        value = float(prediction)
    except (TypeError, ValueError):
        return _emit(Feedback(_("[{name}] a prediction is a number; you gave {prediction!r}.").format(name=name, prediction=prediction), False), quiet)
    if not math.isfinite(value):
        return _emit(Feedback(_("[{name}] a prediction is a finite number; you gave "
                                 "{prediction!r}.").format(name=name, prediction=prediction), False), quiet)
    _PREDICTIONS[name] = value
    return _emit(Feedback(_("[{name}] prediction recorded: {value:g}. Now run the measurement.").format(name=name, value=value), True), quiet)


def reveal(name: str, measured: float, *, quiet: bool = False, **context: Any) -> Feedback:
    """Compare the recorded prediction with ``measured`` and explain the gap.

    ``.correct`` is True when the prediction was within the exercise's tolerance,
    False when it was not, None when no prediction was recorded.
    """
    ex = exercise(name, "predict")
    measured = float(measured)
    why = ex.explain(_PREDICTIONS.get(name), measured, **context) if ex.explain else ""
    if name not in _PREDICTIONS:
        text = (_("[{name}] {outcome}: {measured:.3g}. You did not record a prediction: next "
                   "time write one down before you run, then compare. {why}").format(name=name, outcome=_(ex.outcome), measured=measured, why=why))
        return _emit(Feedback(text.rstrip(), None), quiet)
    guess = _PREDICTIONS[name]
    close = math.isclose(guess, measured, rel_tol=ex.rel_tol, abs_tol=ex.abs_tol)
    verdict = _("close") if close else (_("too high") if guess > measured else _("too low"))
    text = (_("[{name}] you predicted {guess:.3g}; {outcome}: {measured:.3g}: your prediction "
               "was {verdict}. {why}").format(name=name, guess=guess, outcome=_(ex.outcome), measured=measured, verdict=verdict, why=why))
    return _emit(Feedback(text.rstrip(), close), quiet)


def values_in(value: Any, depth: int = 2) -> list[Any]:
    """``value`` and what it holds, ``depth`` levels down: items of tuples/lists/dicts, fields of dataclasses.

    A task's result is matched with an expected part wherever the student put it: a tree, ``(tree, rows)``,
    a ``LocalUpdate`` whose ``.delta`` is the update, a list of batch results.
    """
    out = [value]
    if depth <= 0 or isinstance(value, (str, bytes)):
        return out
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, (tuple, list)):
        items = list(value)
    elif hasattr(value, "__dataclass_fields__"):
        items = [getattr(value, f, None) for f in value.__dataclass_fields__]
    else:
        return out
    for item in items[:64]:
        out.extend(values_in(item, depth - 1))
    return out


def plsims_own(seen: Any, *, own: str, how: str, own_modules: tuple[str, ...] = ()) -> str:
    """"" unless some recorded tasks were plsim's own implementation's (then the feedback that says so).

    plsim's executor names its tasks ``plsim-...``; ``own_modules`` adds plsim modules whose functions, as
    tasks, mean the student called plsim's implementation (e.g. ``"plsim.comm."`` for the ring all-reduce).
    Step 1 of :func:`cluster_work`; a check that must say it before anything else calls it first.
    """
    from plsim.exercises.scheduler_record import plsim_own

    tasks = list(seen.record.tasks)
    mine = plsim_own(tasks) + sum(any(t.function.startswith(m) for m in own_modules)
                                  for t in tasks if not t.key.startswith("plsim-"))
    if not mine:
        return ""
    return (_("{mine} of the {n_tasks} tasks were plsim's own ({own}'s): the exercise is to "
               "write it yourself with client.submit, not to call {own}; {how}.").format(mine=mine, n_tasks=len(tasks), own=own, how=how))


@dataclass(frozen=True)
class ClusterWork:
    """What the scheduler saw of a code exercise's work (:func:`cluster_work`).

    ``problem`` is "" when every expected part was computed by a task on the cluster (and, if asked, two of
    those tasks were in flight at once), otherwise the feedback that says what was wrong. ``tasks`` are the
    tasks that computed the parts; ``in_flight`` the most of them submitted before the code asked for any of
    their results (:func:`~plsim.exercises.scheduler_record.most_outstanding`), ``running`` the most computing
    at one instant (scheduler clock).
    """

    problem: str
    tasks: tuple = ()
    in_flight: int = 0
    running: int = 0


TOGETHER = N_("Submit them all before you wait for any result (client.map, or client.submit in a loop, then "
            "client.gather).")


def cluster_work(seen: Any, parts: Any, same: Callable[[Any, Any], bool], *, what: str, how: str, own: str,
                 own_modules: tuple[str, ...] = (), concurrent: bool = True, together: str = TOGETHER
                 ) -> ClusterWork:
    """Judge where a code exercise's work ran, from what the scheduler recorded during the student's call.

    Every check of a "write the Dask code yourself" exercise runs the student's function inside
    ``with watch_scheduler(client) as seen:`` (:mod:`plsim.exercises.scheduler_record`) and then asks here,
    in this order:

    1. were any tasks plsim's own (keys ``plsim-...``, or functions of ``own_modules``)? Calling plsim's
       implementation of the exercise is not writing it;
    2. did any task run on the cluster at all?
    3. was every expected part (a member's predictions, a party's update, a gradient, a batch's results, a
       chunk's sum) the result of a task the cluster computed? ``same(result, part)`` says whether a task's
       result is that part. Work done in the notebook's process, plus dummy tasks for show, fails here;
    4. if ``concurrent``: were two of those tasks in flight at once, i.e. submitted before the code asked for
       either's result (the scheduler sees every gather)? Code that waits for each result before submitting
       the next never lets the workers run side by side. This holds on one worker too, and however short the
       tasks are.

    The feedback names what went wrong and how to do it (``what``: the parts, plural, e.g. "members' trees";
    ``how``: the Dask way, e.g. "submit one fit per member with client.submit"; ``own``: plsim's function that
    does it all; ``together``: how to let the tasks run side by side), never the expected values.
    """
    from plsim.exercises.scheduler_record import most_outstanding, most_running, producers

    problem = plsims_own(seen, own=own, how=how, own_modules=own_modules)
    if problem:
        return ClusterWork(problem)
    record = seen.record
    computed = record.computed()
    if not computed:
        return ClusterWork(_("no task ran on the cluster while your function ran: {how}.").format(how=how))
    parts = list(parts)
    found = producers(computed, seen.results, parts, same)
    missing = sum(not f for f in found)
    if missing:
        kinds = sorted({t.result_type or "?" for t in computed})
        return ClusterWork(
            _("{missing} of the {n_parts} {what} your answer needs were not computed by any "
               "task on the cluster: the {n_computed} task(s) that ran while your function ran "
               "returned {join}, not those. Work done in this process does not count, even with "
               "other tasks sent alongside: {how}.").format(missing=missing, n_parts=len(parts), what=what, n_computed=len(computed), join=', '.join(kinds), how=how))
    used = tuple({t.key: t for f in found for t in f[:1]}.values())
    flight, running = most_outstanding(used, record.gathers, until=record.stop), most_running(used)
    if concurrent and len(used) >= 2 and flight < 2:
        return ClusterWork(
            _("the {n_used} tasks that computed your {what} ran one at a time: you asked for "
               "each one's result before you submitted the next (the scheduler saw every result "
               "gathered before the next task arrived), so the workers could not run them side "
               "by side. {together}").format(n_used=len(used), what=what, together=_(together)), used, flight, running)
    return ClusterWork("", used, flight, running)


def check_code(name: str, function: Any, *, quiet: bool = False, **context: Any) -> Feedback:
    """Run the student's ``function`` and compare what it computes with plsim's own implementation."""
    ex = exercise(name, "code")
    if _unanswered(function):
        return _emit(Feedback(_("[{name}] not written yet. {hint}").format(name=name, hint=_(ex.hint) if ex.hint else "").rstrip(), None), quiet)
    if not callable(function):
        return _emit(Feedback(_("[{name}] pass your function itself, not {name2}.").format(name=name, name2=type(function).__name__), False),
                     quiet)
    try:
        ok, message = ex.run(function, **context)
    except NotImplementedError:
        return _emit(Feedback(_("[{name}] not written yet (NotImplementedError). {hint}").format(name=name, hint=_(ex.hint) if ex.hint else "").rstrip(), None), quiet)
    except Exception as exc:  # the student's code raised: show where, keep the notebook running
        tb = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return _emit(Feedback(_("[{name}] your code raised {tb}. {hint}").format(name=name, tb=tb, hint=_(ex.hint) if ex.hint else "").rstrip(), False), quiet)
    text = (_("[{name}] correct! {message}") if ok else _("[{name}] not quite: {message}")).format(name=name, message=message)
    return _emit(Feedback(text.rstrip(), bool(ok)), quiet)

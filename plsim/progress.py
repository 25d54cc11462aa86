"""One progress-and-stop protocol for every long-running function and every widget.

This module is the protocol; :class:`plsim.executor.Run` is the one context every
run lives in that applies it (the refusal below, stop, interrupt, the partial
result's reason and warning).

Every function that runs for long -- an ensemble ``fit``, ``run_federated``,
``sync_sgd`` / ``local_sgd`` / ``async_sgd``, ``measure_speedup``, ... -- takes
``callback=``. It is called in the caller's process (never on a worker) with one
:class:`Progress` event each time a unit of work finishes: a member fitted, a
round aggregated, a step applied, a task timed.

* **Stop**: a *truthy* return value asks the run to stop. It stops at once,
  cancels what is still running, and returns what finished, marked
  ``stopped_reason="stopped"`` (an ensemble keeps its finished members,
  ``partial_`` is True). No warning: the caller asked.
* **Interrupt**: a ``KeyboardInterrupt`` (the kernel's interrupt button, or
  raised by the callback) cancels the outstanding tasks; functions that return
  a history return the finished part, ``stopped_reason="interrupted"``, with a
  :class:`PartialResultWarning`; an ensemble ``fit`` keeps its
  finished members and re-raises so the cell stops. The cluster stays usable.
  A later run in the same notebook cell (a student's loop) does not start, so
  one press ends the cell (:func:`refuse_if_cell_interrupted`).
* **Any other exception** raised by the callback cancels the run and propagates.
* **Divergence**: a run whose loss leaves every sane range (:func:`has_diverged`)
  stops with ``stopped_reason="diverged"`` and a ``RuntimeWarning`` naming the
  learning rate.

Widgets use the same protocol: their Stop button makes the callback return True.

One press of the interrupt button stops the whole notebook cell, as it does for
any other code: a run that returned its partial history lets the cell go on, so
every later run *in the same cell* (the next learning rate of the student's loop)
refuses to start with a KeyboardInterrupt. The next cell runs normally.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Progress", "Callback", "check_callback", "notify", "stop_if_asked", "StopRequested",
           "PartialResultWarning", "DIVERGED_LOSS_FACTOR", "has_diverged", "note_interrupted",
           "refuse_if_cell_interrupted"]


@dataclass(frozen=True)
class Progress:
    """One unit of work finished.

    Attributes
    ----------
    done, total : int
        Units finished so far and units asked for (``done <= total``).
    unit : str
        What a unit is: ``"member"``, ``"round"``, ``"step"``, ``"update"``, ``"task"``...
    loss : float or None
        The loss (or test loss) after this unit, when the run tracks one.
    record : object
        The unit's full record when there is one (a federated ``RoundRecord``,
        an ensemble member's ``TaskResult``), else None.
    message : str
        A short human-readable line ("round 3 of 20: test accuracy 0.81").
    """

    done: int
    total: int
    unit: str
    loss: float | None = None
    record: Any = None
    message: str = ""

    @property
    def fraction(self) -> float:
        """``done / total`` (1.0 for an empty run)."""
        return self.done / self.total if self.total else 1.0


Callback = Callable[[Progress], Any]


def check_callback(callback: Any, name: str = "callback") -> Callback | None:
    """``callback`` if it is None or callable, else a ``TypeError`` (checked before any work)."""
    if callback is not None and not callable(callback):
        raise TypeError(f"{name}={callback!r} ({type(callback).__name__}) is not allowed: it must be None or "
                        "a callable receiving a plsim.progress.Progress event (return True to stop)")
    return callback


def notify(callback: Callback | None, event: Progress) -> bool:
    """Send ``event`` to ``callback``; True when the run must stop (a truthy return)."""
    if callback is None:
        return False
    return bool(callback(event))


class StopRequested(Exception):
    """The callback asked a run to stop (a truthy return) from deep inside it, e.g. an executor's map.

    :class:`plsim.executor.Run` catches it: the run ends, keeps what finished and
    reports ``stopped_reason="stopped"``. It never reaches the caller.
    """


def stop_if_asked(callback: Callback | None, event: Progress) -> None:
    """Send ``event`` to ``callback``; raise :class:`StopRequested` if it asks the run to stop."""
    if notify(callback, event):
        raise StopRequested


class PartialResultWarning(UserWarning):
    """A run was interrupted: the result holds only the part that finished (``partial`` is True)."""


DIVERGED_LOSS_FACTOR = 100.0
"""A run has diverged when its loss is not finite or exceeds this many times the untrained model's
(floored at 1): a cross-entropy 100x that of the initial guess means confidently wrong everywhere."""


def has_diverged(loss: float, initial_loss: float) -> bool:
    """True when ``loss`` is not finite or above ``DIVERGED_LOSS_FACTOR * max(initial_loss, 1)``."""
    return not math.isfinite(loss) or loss > DIVERGED_LOSS_FACTOR * max(initial_loss, 1.0)


_interrupted_request: str | None = None  # the execute request (notebook cell) whose run was interrupted


def _cell_request() -> str | None:
    """The id of the notebook cell being executed, or None (a script, a widget's button, a terminal IPython).

    ipykernel keeps the message it is handling as the shell's ``parent_header``: an ``execute_request`` is
    a cell; a widget's click arrives as a ``comm_msg`` and must never be refused for a cell's interrupt.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    parent = getattr(shell, "parent_header", None)
    header = (parent or {}).get("header", parent or {})
    return header.get("msg_id") if header.get("msg_type") == "execute_request" else None


def note_interrupted() -> None:
    """Call where a run is interrupted: the rest of this cell starts no run (see the module docstring)."""
    global _interrupted_request
    _interrupted_request = _cell_request()


def refuse_if_cell_interrupted(what: str) -> None:
    """Raise KeyboardInterrupt if an earlier run in this notebook cell was interrupted (see the module docstring)."""
    cell = _cell_request()
    if cell is not None and cell == _interrupted_request:
        raise KeyboardInterrupt(f"{what} did not start: this cell was interrupted during an earlier run, "
                                "which returned what it had finished")

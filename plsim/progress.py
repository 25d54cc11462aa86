"""One progress-and-stop protocol for every long-running function and every widget.

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
  :class:`plsim.stopping.PartialResultWarning`; an ensemble ``fit`` keeps its
  finished members and re-raises so the cell stops. The cluster stays usable.
  A later run in the same notebook cell (a student's loop) does not start, so
  one press ends the cell (:mod:`plsim.stopping`).
* **Any other exception** raised by the callback cancels the run and propagates.

Widgets use the same protocol: their Stop button makes the callback return True.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Progress", "Callback", "check_callback", "notify"]


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

"""How a run that ends early says so, the same way in every topic.

A run ends early for one of three reasons, recorded as ``stopped_reason``:
``"interrupted"`` (the kernel's interrupt button: outstanding tasks are cancelled,
what finished is kept and a :class:`PartialResultWarning` says how much),
``"stopped"`` (a callback or a widget's Stop asked: no warning, the caller knows),
``"diverged"`` (the loss left every sane range: a ``RuntimeWarning`` names the
learning rate). An ensemble's ``fit`` keeps its finished members on the estimator
and re-raises the interrupt; functions that return a history return it, flagged.

One press of the interrupt button stops the whole notebook cell, as it does for
any other code: a run that returned its partial history lets the cell go on, so
every later run *in the same cell* (the next learning rate of the student's loop)
refuses to start with a KeyboardInterrupt. The next cell runs normally.
"""

from __future__ import annotations

import math
import sys

__all__ = ["PartialResultWarning", "DIVERGED_LOSS_FACTOR", "has_diverged", "note_interrupted",
           "refuse_if_cell_interrupted"]

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
    """Call where a run turns a KeyboardInterrupt into a partial result: the rest of this cell starts no run."""
    global _interrupted_request
    _interrupted_request = _cell_request()


def refuse_if_cell_interrupted(what: str) -> None:
    """Raise KeyboardInterrupt if an earlier run in this notebook cell was interrupted (see the module docstring)."""
    cell = _cell_request()
    if cell is not None and cell == _interrupted_request:
        raise KeyboardInterrupt(f"{what} did not start: this cell was interrupted during an earlier run, "
                                "which returned what it had finished")


class PartialResultWarning(UserWarning):
    """A run was interrupted: the result holds only the part that finished (``partial`` is True)."""


DIVERGED_LOSS_FACTOR = 100.0
"""A run has diverged when its loss is not finite or exceeds this many times the untrained model's
(floored at 1): a cross-entropy 100x that of the initial guess means confidently wrong everywhere."""


def has_diverged(loss: float, initial_loss: float) -> bool:
    """True when ``loss`` is not finite or above ``DIVERGED_LOSS_FACTOR * max(initial_loss, 1)``."""
    return not math.isfinite(loss) or loss > DIVERGED_LOSS_FACTOR * max(initial_loss, 1.0)

"""How a run that ends early says so, the same way in every topic.

A run ends early for one of three reasons, recorded as ``stopped_reason``:
``"interrupted"`` (the kernel's interrupt button: outstanding tasks are cancelled,
what finished is kept and a :class:`PartialResultWarning` says how much),
``"stopped"`` (a callback or a widget's Stop asked: no warning, the caller knows),
``"diverged"`` (the loss left every sane range: a ``RuntimeWarning`` names the
learning rate). An ensemble's ``fit`` keeps its finished members on the estimator
and re-raises the interrupt; functions that return a history return it, flagged.
"""

from __future__ import annotations

import math

__all__ = ["PartialResultWarning", "DIVERGED_LOSS_FACTOR", "has_diverged"]


class PartialResultWarning(UserWarning):
    """A run was interrupted: the result holds only the part that finished (``partial`` is True)."""


DIVERGED_LOSS_FACTOR = 100.0
"""A run has diverged when its loss is not finite or exceeds this many times the untrained model's
(floored at 1): a cross-entropy 100x that of the initial guess means confidently wrong everywhere."""


def has_diverged(loss: float, initial_loss: float) -> bool:
    """True when ``loss`` is not finite or above ``DIVERGED_LOSS_FACTOR * max(initial_loss, 1)``."""
    return not math.isfinite(loss) or loss > DIVERGED_LOSS_FACTOR * max(initial_loss, 1.0)

"""The one context every ``fit``, ``run_*`` and measurement lives in: refuse, guard, stop, interrupt.

::

    ex = resolve_executor(executor)
    with Run("run_federated", ex) as run:      # once, at the top of the work
        ...                                    # tasks through ex; stop_if_asked(callback, event) anywhere
    if run.interrupted:                        # KeyboardInterrupt: keep what finished
        ...
        run.warn_partial("run_federated was interrupted after 3 of 20 rounds: ...")

On entry it refuses to start when an earlier run in this notebook cell was
interrupted (:func:`plsim.progress.refuse_if_cell_interrupted`), then enters
the executor's :meth:`~plsim.executor.Executor.running` block (tasks
cancelled on interrupt or error; a worker lost to its memory limit explained).
On exit it ends a run the callback asked to stop
(:class:`plsim.progress.StopRequested`: ``run.reason == "stopped"``), and
notes an interrupt for the rest of the cell: with ``keeps_partial=True`` (the
default) the ``KeyboardInterrupt`` stops there, ``run.interrupted`` holds it
and ``run.reason == "interrupted"``, so the caller can return what finished,
flagged, with :meth:`Run.warn_partial`; with ``keeps_partial=False`` it goes on.
Any other exception goes on unchanged. The protocol itself is
:mod:`plsim.progress`. Taught in ``notebooks/02_ensembles.ipynb`` (Stop) and
``notebooks/03_federated_learning.ipynb`` (interrupt).
"""

from __future__ import annotations

import contextlib
import warnings
from types import TracebackType

from plsim.executor.core import Executor
from plsim.progress import PartialResultWarning, StopRequested, note_interrupted, refuse_if_cell_interrupted

__all__ = ["Run"]


class Run:
    """The context of one run; see the module docstring.

    Parameters
    ----------
    what : str
        The run as the user knows it (``"sync_sgd"``, ``"ParallelBaggingClassifier.fit"``), for messages.
    executor : Executor, optional
        Its tasks' executor, already resolved; None for a run that sends no tasks.
    keeps_partial : bool
        Whether the caller keeps what finished when interrupted (default True);
        False: the ``KeyboardInterrupt`` goes on once noted.

    Attributes
    ----------
    reason : {None, "stopped", "interrupted"}
        Why the block ended early, if it did.
    interrupted : KeyboardInterrupt or None
        The interrupt that ended it (re-raise it when there is nothing to keep).
    """

    def __init__(self, what: str, executor: Executor | None = None, *, keeps_partial: bool = True) -> None:
        if not isinstance(what, str) or not what:
            raise TypeError(f"what must be a non-empty string naming the run, got {what!r}")
        if executor is not None and not isinstance(executor, Executor):
            raise TypeError(f"executor={executor!r} is not a plsim.executor.Executor; resolve it first "
                            "(plsim.executor.resolve_executor)")
        self.what = what
        self.executor = executor
        self.keeps_partial = keeps_partial
        self.reason: str | None = None
        self.interrupted: KeyboardInterrupt | None = None
        self._stack = contextlib.ExitStack()

    def __repr__(self) -> str:
        return f"Run({self.what!r}, {self.executor!r}, reason={self.reason!r})"

    def __enter__(self) -> Run:
        refuse_if_cell_interrupted(self.what)
        if self.executor is not None:
            self._stack.enter_context(self.executor.running(self.what))
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        raised = exc
        try:  # the executor's block first: it cancels the run's tasks and explains a worker lost to memory
            if self._stack.__exit__(kind, exc, tb):
                return True
        except KeyboardInterrupt as again:  # pressed again while the run's tasks were being cancelled
            exc = again
        if isinstance(exc, StopRequested):
            self.reason = "stopped"
            return True
        if not isinstance(exc, KeyboardInterrupt):
            return False
        note_interrupted()
        if not self.keeps_partial:
            if exc is not raised:
                raise exc
            return False
        self.reason, self.interrupted = "interrupted", exc
        return True

    @property
    def stopped(self) -> bool:
        """True when the callback asked the run to stop."""
        return self.reason == "stopped"

    def warn_partial(self, message: str, *, stacklevel: int = 2) -> None:
        """A :class:`plsim.progress.PartialResultWarning` with ``message`` (``stacklevel`` as seen by the caller)."""
        warnings.warn(message, PartialResultWarning, stacklevel=stacklevel + 1)

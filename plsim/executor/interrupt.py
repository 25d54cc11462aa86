"""An interrupted run cancels what it submitted, so the workers are free at once; the cluster survives.

Taught in ``notebooks/00_start_here.ipynb``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # importing distributed takes ~1 s; do it only when a cluster is needed
    from dask.distributed import Client

__all__ = ["cancel_on_interrupt"]


@contextlib.contextmanager
def _interrupt_deferred() -> Iterator[None]:
    """Hold a first KeyboardInterrupt back until the block ends; a second one goes through at once.

    Only the main thread receives KeyboardInterrupt, so elsewhere this does nothing.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    held: list[Any] = []

    def hold(signum: int, frame: Any) -> None:
        if held:  # pressed again: the block may be stuck (a scatter waiting for workers)
            previous(signum, frame)
        held.append(frame)

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        previous(signal.SIGINT, held[0])


class _Recording:
    """``client``, remembering (weakly) the futures made through it; everything else passes through.

    ``submit``, ``map`` and ``scatter`` run with a first interrupt held back
    until they return: interrupted inside ``scatter``, distributed has already
    registered the data for this client but made no future for it yet, so
    nothing could ever release it (seen in tests/test_interrupt.py: an
    interrupted ensemble fit left its training data on every worker).
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self.futures: weakref.WeakSet = weakref.WeakSet()

    def _record(self, method: str, args: tuple, kwargs: dict) -> Any:
        from distributed.client import futures_of

        with _interrupt_deferred():
            made = getattr(self._client, method)(*args, **kwargs)
            self.futures.update(futures_of(made))
        return made

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        return self._record("submit", args, kwargs)

    def map(self, *args: Any, **kwargs: Any) -> Any:
        return self._record("map", args, kwargs)

    def scatter(self, *args: Any, **kwargs: Any) -> Any:
        return self._record("scatter", args, kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@contextlib.contextmanager
def cancel_on_interrupt(client: Client | None) -> Iterator[Any]:
    """Cancel the futures made in this block when it is interrupted, so the workers are free at once.

    ``with cancel_on_interrupt(client) as client:`` yields a stand-in for the
    client that notes every future its ``submit``, ``map`` and ``scatter``
    make. If the block raises -- a KeyboardInterrupt from the kernel's
    interrupt button, or an error -- those still alive are cancelled before the
    exception goes on. Without this, the traceback IPython keeps of the
    interrupted cell holds the futures, and the workers go on computing the
    abandoned run before the next cell's tasks. (A task already running on a
    worker finishes; its result is dropped.) An interrupt that arrives inside
    ``submit``, ``map`` or ``scatter`` takes effect when the call returns, so
    what it made is cancelled too; pressing interrupt twice does not wait.
    Futures made in other threads (a widget's run) are not touched.
    ``client=None`` (sequential) yields ``None``.
    """
    if client is None:
        yield None
        return
    recording = _Recording(client)
    try:
        yield recording
    except BaseException:
        futures = list(recording.futures)
        if futures and client.status == "running":
            # Best effort: an error here must not replace the exception being raised.
            with contextlib.suppress(Exception):
                client.cancel(futures)
        raise

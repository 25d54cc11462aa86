"""Task timelines from Dask's task stream, for the Gantt chart in :mod:`plsim.plots.speedup`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

# ---------------------------------------------------------------------------
# timeline from Dask's task stream
# ---------------------------------------------------------------------------
class TaskRecord(NamedTuple):
    """One span of one task on one worker (seconds since the epoch, worker clock)."""

    worker: str
    start: float
    stop: float
    key: str
    action: str = "compute"


def timeline_from_task_stream(records: Sequence[Mapping[str, Any]], *, actions: Sequence[str] = ("compute",)
                              ) -> list[TaskRecord]:
    """Turn Dask task-stream dicts (``client.get_task_stream()`` / ``get_task_stream().data``) into records.

    Each stream entry has ``worker``, ``key`` and ``startstops`` (spans such as
    ``compute`` or ``transfer``); one :class:`TaskRecord` is made per span whose
    action is in ``actions``, sorted by start time.
    """
    out = []
    for rec in records:
        if not isinstance(rec, Mapping) or "startstops" not in rec:
            raise TypeError(f"not a task-stream record (needs 'startstops'): {rec!r}")
        worker = str(rec.get("worker", "?"))
        key = rec.get("key", "?")
        key = str(key[0] if isinstance(key, tuple) and len(key) == 1 else key)
        for span in rec["startstops"]:
            if span.get("action") in actions:
                out.append(TaskRecord(worker, float(span["start"]), float(span["stop"]), key,
                                      str(span["action"])))
    return sorted(out, key=lambda r: (r.start, r.worker))


@contextlib.contextmanager
def record_timeline(*, executor: Any = "auto", actions: Sequence[str] = ("compute", "transfer")
                    ) -> Iterator[list[TaskRecord]]:
    """Collect the timeline of everything the cluster runs inside the ``with`` block.

    >>> with record_timeline(executor=client) as timeline:
    ...     run_parallel(client, python_work, [10**5] * 8)
    >>> timeline[0]
    TaskRecord(worker='tcp://127.0.0.1:...', start=..., stop=..., key='plsim-speedup-task-...', action='compute')

    The list is filled when the block ends. ``executor`` (resolved with
    :func:`plsim.executor.resolve_executor`) is the cluster whose scheduler records the
    tasks; an executor without a scheduler (sequential, joblib) records none: the list
    stays empty.
    """
    from plsim.executor import resolve_executor

    ex = resolve_executor(executor)
    timeline: list[TaskRecord] = []
    with ex.task_stream() as stream:
        yield timeline
    timeline.extend(timeline_from_task_stream(stream, actions=actions))

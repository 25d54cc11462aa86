"""What the Dask scheduler saw during a graded run, as the grader receives it: :class:`RecordedRun`.

The grader starts the submission's cluster itself (:mod:`plsim.grading.cluster_host`) and records the whole
run there with the course's one recorder, :func:`plsim.exercises.scheduler_record.watch_scheduler` (the lessons'
by-hand exercises use the same one): every task with its times, worker, payload and dependencies, the data
that reached the cluster without being computed (scattered), and the values the computed tasks returned. The
host sends it as JSON (values through :func:`plsim.grading.protocol.to_plain`); the grader never unpickles
anything from the cluster. Dask checks read it as ``ctx.record`` (``.record`` and ``.results``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from plsim.exercises.scheduler_record import SchedulerRecord, TaskSeen

__all__ = ["RecordedRun", "MAX_RESULT_BYTES"]

# Results larger than this (as JSON) are not sent to the grader; the checks compare small results
# (predictions, parameter vectors), and a submission must not be able to flood the grader.
MAX_RESULT_BYTES = 1 << 20


@dataclass
class RecordedRun:
    """The scheduler's record of one graded run and the results of its computed tasks (``{key: value}``)."""

    record: SchedulerRecord
    results: dict[str, Any] = field(default_factory=dict)

    def between(self, t0: float, t1: float) -> list[TaskSeen]:
        """Tasks submitted within ``[t0, t1]`` (a cell's window, ``time.time()`` on this machine)."""
        return [t for t in self.record.tasks if t.submitted is not None and t0 <= t.submitted <= t1]

    def window(self, t0: float, t1: float) -> RecordedRun:
        """This record cut to one cell: the tasks submitted within ``[t0, t1]`` and their results.

        What a check of that cell sees, as if :func:`watch_scheduler` had been around the cell alone.
        """
        tasks = tuple(self.between(t0, t1))
        keys = {t.key for t in tasks}
        # Every other field (data, the clients' gathers, ...) is kept whole: it is looked up by the tasks' keys.
        record = dataclasses.replace(self.record, start=t0, stop=t1, tasks=tasks)
        return RecordedRun(record, {k: v for k, v in self.results.items() if k in keys})

    def to_json(self) -> str:
        from plsim.grading.protocol import to_plain

        results = {}
        for key, value in self.results.items():
            try:
                plain = to_plain(value)
            except (TypeError, RecursionError):
                continue  # not plain data (a fitted model, say): no check compares it
            if len(json.dumps(plain)) <= MAX_RESULT_BYTES:
                results[key] = plain
        return json.dumps({"record": json.loads(self.record.to_json()), "results": results})

    @classmethod
    def from_json(cls, text: str | bytes) -> RecordedRun:
        """Parse the host's JSON (it comes from a sandboxed process: only plain data comes out)."""
        from plsim.grading.protocol import from_plain

        raw = json.loads(text)
        if not isinstance(raw, dict) or not isinstance(raw.get("record"), dict):
            raise ValueError("not a recorded run")
        record = SchedulerRecord.from_json(json.dumps(raw["record"]))
        results = {str(k): from_plain(v) for k, v in dict(raw.get("results", {})).items()}
        return cls(record, results)

    @classmethod
    def from_watch(cls, seen: Any) -> RecordedRun:
        """From a finished :func:`~plsim.exercises.scheduler_record.watch_scheduler` block."""
        return cls(seen.record, dict(seen.results))

"""What the Dask scheduler saw during a graded run: which tasks ran where and when, and what was scattered.

The grader starts the submission's cluster itself (:mod:`plsim.grading.cluster_host`); a
:class:`RecorderPlugin` runs in its scheduler from the start. After the last cell the host sends the record
to the grader as JSON, which becomes a :class:`SchedulerRecord` that Dask checks
(``plsim.grading.dask_checks``) read through ``ctx.record``: where the work ran is taken from the scheduler,
not from what the student's kernel says.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["TaskRun", "Scattered", "SchedulerRecord", "RecorderPlugin"]

# Cap on what one record holds, so a submission that floods the scheduler cannot flood the grader.
MAX_ENTRIES = 20_000


@dataclass(frozen=True)
class TaskRun:
    """One task that finished (or erred) on a worker."""

    key: str
    prefix: str      # dask.utils.key_split(key): the function name for client.submit/map keys
    worker: str
    start: float     # time.time() on the worker: compute start and stop
    stop: float
    nbytes: int      # size of the result (0 when it erred)
    status: str      # "memory" or "erred"
    type: str        # the result's type name


@dataclass(frozen=True)
class Scattered:
    """Data that reached the cluster without being computed there (``client.scatter``)."""

    key: str
    nbytes: int
    time: float
    workers: tuple[str, ...]


@dataclass
class SchedulerRecord:
    """The scheduler's account of one graded run (all times are ``time.time()``)."""

    tasks: list[TaskRun] = field(default_factory=list)
    transitions: list[tuple[str, str, str, str, float]] = field(default_factory=list)
    scattered: list[Scattered] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)
    spec_nbytes: dict[str, int] = field(default_factory=dict)  # pickled size of each task's function + args

    def between(self, t0: float, t1: float) -> list[TaskRun]:
        """Tasks that started and stopped within ``[t0, t1]`` (a cell's window)."""
        return [t for t in self.tasks if t.start >= t0 and t.stop <= t1]

    def by_prefix(self, prefix: str) -> list[TaskRun]:
        return [t for t in self.tasks if t.prefix == prefix]

    @staticmethod
    def max_concurrency(tasks: Iterable[TaskRun]) -> int:
        """The most tasks of ``tasks`` that were running at the same moment."""
        events = sorted([(t.start, 1) for t in tasks] + [(t.stop, -1) for t in tasks], key=lambda e: (e[0], e[1]))
        running = best = 0
        for _, step in events:
            running += step
            best = max(best, running)
        return best

    def to_json(self) -> dict[str, Any]:
        return {"tasks": [asdict(t) for t in self.tasks], "transitions": [list(t) for t in self.transitions],
                "scattered": [asdict(s) for s in self.scattered], "workers": list(self.workers),
                "spec_nbytes": dict(self.spec_nbytes)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SchedulerRecord:
        """Build from the host's JSON, checking every field's type (it comes from a sandboxed process)."""
        def text(v: Any) -> str:
            if not isinstance(v, str):
                raise ValueError(f"expected a string in the scheduler record, got {type(v).__name__}")
            return v

        def number(v: Any) -> float:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"expected a number in the scheduler record, got {type(v).__name__}")
            return float(v)

        tasks = [TaskRun(text(t["key"]), text(t["prefix"]), text(t["worker"]), number(t["start"]),
                         number(t["stop"]), int(number(t["nbytes"])), text(t["status"]), text(t["type"]))
                 for t in data.get("tasks", [])[:MAX_ENTRIES]]
        transitions = [(text(k), text(a), text(b), text(s), number(w))
                       for k, a, b, s, w in data.get("transitions", [])[:MAX_ENTRIES]]
        scattered = [Scattered(text(s["key"]), int(number(s["nbytes"])), number(s["time"]),
                               tuple(text(w) for w in s["workers"])) for s in data.get("scattered", [])[:MAX_ENTRIES]]
        workers = [text(w) for w in data.get("workers", [])]
        spec = {text(k): int(number(v)) for k, v in list(data.get("spec_nbytes", {}).items())[:MAX_ENTRIES]}
        return cls(tasks, transitions, scattered, workers, spec)

    @classmethod
    def from_scheduler(cls, scheduler: Any, plugin: RecorderPlugin | None = None) -> SchedulerRecord:
        """The record of a running scheduler (in its own process): the plugin's notes, else its task stream."""
        if plugin is None:
            plugin = scheduler.plugins.get(RecorderPlugin.name)
        if plugin is None:  # no recorder (an instructor's own kernel): rebuild what the scheduler still holds
            plugin = RecorderPlugin()
            stream = scheduler.plugins.get("task-stream")
            for entry in list(stream.buffer) if stream is not None else []:
                plugin._note_run(entry["key"], entry)
            for transition in list(scheduler.transition_log):
                key, start, finish, _recommendations, stimulus_id, when = transition[:6]
                plugin._note_transition(scheduler, key, start, finish, stimulus_id, when)
            for key, ts in list(scheduler.tasks.items()):  # data held without a task: scattered
                if ts.run_spec is None and ts.state == "memory":
                    plugin.scattered[str(key)] = Scattered(str(key), int(ts.nbytes or 0), 0.0,
                                                           tuple(sorted(ws.address for ws in ts.who_has or ())))
        return cls(list(plugin.tasks), list(plugin.transitions), list(plugin.scattered.values()),
                   sorted(scheduler.workers), dict(plugin.spec_nbytes))

    @classmethod
    def from_client(cls, client: Any) -> SchedulerRecord:
        """The record of ``client``'s scheduler (outside the grader only: it runs code in that scheduler)."""
        data = client.run_on_scheduler(lambda dask_scheduler: SchedulerRecord.from_scheduler(dask_scheduler).to_json())
        return cls.from_json(data)


class RecorderPlugin:
    """Scheduler plugin (duck-typed SchedulerPlugin) that notes every task run, transition and scatter."""

    name = "plsim-grading-recorder"
    idempotent = False

    def __init__(self) -> None:
        self.tasks: list[TaskRun] = []
        self.transitions: list[tuple[str, str, str, str, float]] = []
        self.scattered: dict[str, Scattered] = {}
        self.spec_nbytes: dict[str, int] = {}
        self.scheduler: Any = None

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        # Scattered data never transitions: the scheduler learns of it through update_data (called by its
        # scatter handler, or by the client directly), so note it there.
        original = scheduler.update_data

        def update_data(*, who_has: dict, nbytes: dict, client: str | None = None) -> None:
            original(who_has=who_has, nbytes=nbytes, client=client)
            now = time.time()
            for key, workers in list(who_has.items())[:MAX_ENTRIES]:
                self.scattered[str(key)] = Scattered(str(key), int(nbytes.get(key, -1)), now,
                                                     tuple(sorted(str(w) for w in workers)))

        scheduler.update_data = update_data
        scheduler.handlers["update_data"] = update_data

    def transition(self, key: Any, start: str, finish: str, *args: Any, stimulus_id: str = "", **kwargs: Any) -> None:
        now = time.time()
        if start == "processing" and finish in ("memory", "erred") and kwargs.get("startstops"):
            self._note_run(key, {**kwargs, "status": finish})
        if self.scheduler is not None:
            self._note_transition(self.scheduler, key, start, finish, stimulus_id, now)

    def _note_run(self, key: Any, info: dict[str, Any]) -> None:
        from dask.utils import key_split
        if len(self.tasks) >= MAX_ENTRIES:
            return
        computes = [s for s in info.get("startstops", ()) if s.get("action") == "compute"] or info["startstops"]
        self.tasks.append(TaskRun(str(key), key_split(key), str(info.get("worker", "")),
                                  float(min(s["start"] for s in computes)), float(max(s["stop"] for s in computes)),
                                  int(info.get("nbytes") or 0), str(info.get("status", "memory")),
                                  str(info.get("typename") or info.get("type") or "")))

    def _note_transition(self, scheduler: Any, key: Any, start: str, finish: str, stimulus_id: str,
                         when: float) -> None:
        if len(self.transitions) < MAX_ENTRIES:
            self.transitions.append((str(key), str(start), str(finish), str(stimulus_id), float(when)))
        ts = scheduler.tasks.get(key)
        if ts is None:
            return
        if finish == "waiting" and str(key) not in self.spec_nbytes and len(self.spec_nbytes) < MAX_ENTRIES:
            self.spec_nbytes[str(key)] = _pickled_size(ts.run_spec)


def _pickled_size(spec: Any) -> int:
    try:
        return len(pickle.dumps(spec, protocol=5))
    except Exception:  # something that does not pickle plainly (cloudpickled lambdas do below)
        try:
            import cloudpickle
            return len(cloudpickle.dumps(spec, protocol=5))
        except Exception:
            return -1

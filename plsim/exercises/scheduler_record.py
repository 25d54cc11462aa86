"""What the Dask scheduler saw while some code ran: which tasks, where, when, carrying what.

A check of a student's Dask code cannot trust what the code returns: the work
could have been done in the notebook's process, with a few dummy tasks sent to
the cluster for show. The scheduler knows better. Two halves:

* **Recording** (needs the cluster): ``with watch_scheduler(client) as seen:``
  installs a :class:`~distributed.diagnostics.plugin.SchedulerPlugin` for the
  block. It notes every task submitted meanwhile (its function, the bytes it
  carries, its dependencies, when it was submitted, started and finished, on
  which worker) on the **scheduler's clock**, and pins each result (a
  pseudo-client wants its key, as :func:`distributed.fire_and_forget` does), so
  the results are still on the cluster when the block ends even if the code
  dropped its futures. At the end ``seen.record`` is a :class:`SchedulerRecord`
  (plain data) and ``seen.results`` the values of the tasks computed in the block.
* **Judging** (pure functions of a record, no cluster): :func:`most_in_flight`,
  :func:`most_outstanding`, :func:`most_running`, :func:`plsim_own`, :func:`producers`, :func:`inputs_of`,
  :func:`data_sent`.

The scheduler needs plsim importable (the plugin is this module's class), as
every course cluster has. Used by the exercises' code checks
(:func:`plsim.exercises._core.cluster_work`) and by the assignments' grader.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

__all__ = ["TaskSeen", "DataSeen", "SchedulerRecord", "watch_scheduler", "most_in_flight", "most_outstanding",
           "most_running", "plsim_own", "producers", "inputs_of", "data_sent"]

# A task is "in flight" from its submission until it leaves these states (scattered data never is).
IN_FLIGHT = ("waiting", "queued", "processing", "no-worker")


@dataclass(frozen=True)
class TaskSeen:
    """One task submitted while the scheduler was watched. Times are the scheduler's clock (seconds)."""

    key: str
    name: str                      # the key's prefix, e.g. "fit_member" (Dask's key_split)
    function: str                  # module.qualname of the task's function ("" if unknown)
    client: str                    # id of the client that submitted it
    submitted: float
    processing: float | None       # first sent to a worker
    started: float | None          # compute start on the worker
    stopped: float | None          # compute stop on the worker
    finished: float | None         # left the in-flight states (memory, erred, released)
    state: str                     # last state seen in the block
    worker: str | None             # the worker that computed it
    payload_bytes: int             # the task itself, pickled: its function and inline arguments
    dependencies: tuple[str, ...]  # keys of its inputs that were futures
    result_bytes: int | None       # the result's size as the worker measured it
    result_type: str | None        # the result's type name
    reused: bool = False           # already computed when submitted (a pure key seen before the block)
    restricted_to: tuple[str, ...] = ()  # the workers it was allowed on (client.submit(..., workers=[...]))

    @property
    def computed(self) -> bool:
        """True if a worker computed it inside the block (its result, or its error, came back)."""
        return self.worker is not None and not self.reused and self.state in ("memory", "erred")


@dataclass(frozen=True)
class DataSeen:
    """An input of a watched task that was not computed in the block: scattered data, or an older result."""

    key: str
    nbytes: int
    scattered: bool                # True for client.scatter (no task computes it)
    replicas: int                  # how many workers held it when the task was submitted


@dataclass(frozen=True)
class SchedulerRecord:
    """Everything the scheduler saw from ``start`` to ``stop`` (its clock): plain data, JSON-able."""

    start: float
    stop: float
    tasks: tuple[TaskSeen, ...] = ()
    data: dict[str, DataSeen] = field(default_factory=dict)
    # Each time a client asked the scheduler for results (Client.gather, Future.result): (time, keys).
    gathers: tuple[tuple[float, tuple[str, ...]], ...] = ()

    def computed(self) -> list[TaskSeen]:
        """The tasks a worker computed inside the window, in submission order."""
        return [t for t in self.tasks if t.computed]

    def task(self, key: Any) -> TaskSeen | None:
        """The task of ``key`` (a key or a Future), or None if it was not submitted in the window."""
        key = str(getattr(key, "key", key))
        return next((t for t in self.tasks if t.key == key), None)

    def to_json(self) -> str:
        """The record as JSON (for a grader that must not unpickle anything)."""
        return json.dumps({"start": self.start, "stop": self.stop, "tasks": [asdict(t) for t in self.tasks],
                           "data": {k: asdict(d) for k, d in self.data.items()},
                           "gathers": [[t, list(keys)] for t, keys in self.gathers]})

    @classmethod
    def from_json(cls, text: str) -> SchedulerRecord:
        raw = json.loads(text)
        tasks = tuple(TaskSeen(**{**t, "dependencies": tuple(t["dependencies"]),
                                  "restricted_to": tuple(t.get("restricted_to", ()))}) for t in raw["tasks"])
        gathers = tuple((t, tuple(keys)) for t, keys in raw.get("gathers", ()))
        return cls(raw["start"], raw["stop"], tasks, {k: DataSeen(**d) for k, d in raw["data"].items()}, gathers)


# -- judging: pure functions of a record ---------------------------------------------------------------

def most_in_flight(tasks: Iterable[TaskSeen], until: float | None = None) -> int:
    """The most of ``tasks`` submitted and not yet finished at one instant (scheduler clock).

    Two in flight means the code let the cluster run them side by side, whatever the number of workers; code
    that waits for each result before submitting the next never has more than one. A task still unfinished
    counts until ``until`` (the end of the window).
    """
    events = []
    for t in tasks:
        if t.reused:
            continue
        end = t.finished if t.finished is not None else until
        events.append((t.submitted, 1))
        if end is not None:
            events.append((end, -1))
    most = now = 0
    for _, step in sorted(events):  # at equal times -1 sorts first: a hand-over is not an overlap
        now += step
        most = max(most, now)
    return most


def most_outstanding(tasks: Iterable[TaskSeen], gathers: Iterable[tuple[float, Sequence[str]]],
                     until: float | None = None) -> int:
    """The most of ``tasks`` submitted before the code asked for any of their results (scheduler clock).

    A task is outstanding from its submission until a client first gathers its result (``Future.result``,
    ``Client.gather``: ``gathers`` of a :class:`SchedulerRecord`), or until ``until`` if nobody did. Code that
    waits for each result before submitting the next task never has two outstanding, however short the tasks;
    code that submits them all and then gathers has all of them, even when each task ends before the next
    arrives (which :func:`most_in_flight` would count as one at a time). A client that gathers straight from
    the workers (``direct_to_workers=True``) is not seen gathering: its tasks stay outstanding.
    """
    first: dict[str, float] = {}
    for when, keys in sorted(gathers):
        for k in keys:
            first.setdefault(str(k), when)
    events = []
    for t in tasks:
        if t.reused:
            continue
        end = first.get(t.key, until)
        events.append((t.submitted, 1))
        if end is not None:
            events.append((max(end, t.submitted), -1))
    most = now = 0
    for _, step in sorted(events):
        now += step
        most = max(most, now)
    return most


def most_running(tasks: Iterable[TaskSeen]) -> int:
    """The most of ``tasks`` computing at the same instant on the workers (needs >= 2 worker threads)."""
    events = [e for t in tasks if t.started is not None and t.stopped is not None
              for e in ((t.started, 1), (t.stopped, -1))]
    most = now = 0
    for _, step in sorted(events):
        now += step
        most = max(most, now)
    return most


def plsim_own(tasks: Iterable[TaskSeen]) -> int:
    """How many of ``tasks`` plsim's own executor submitted (its keys start ``plsim-``)."""
    return sum(t.key.startswith("plsim-") for t in tasks)


def producers(tasks: Iterable[TaskSeen], results: dict[str, Any], parts: Sequence[Any],
              same: Callable[[Any, Any], bool]) -> list[list[TaskSeen]]:
    """For each expected part, the computed tasks whose result ``same(result, part)``.

    ``results`` maps keys to the values the watched tasks returned (``watch_scheduler``'s ``seen.results``).
    An empty list at position ``i`` means no task on the cluster computed part ``i``: it came from elsewhere.
    """
    computed = [t for t in tasks if t.computed and t.state == "memory" and t.key in results]
    out = []
    for part in parts:
        found = []
        for t in computed:
            try:
                ok = bool(same(results[t.key], part))
            except Exception:  # a result of another shape or type is simply not this part
                ok = False
            if ok:
                found.append(t)
        out.append(found)
    return out


def inputs_of(record: SchedulerRecord, key: Any) -> set[str]:
    """The keys of the data a task's result was computed from: its inputs, their inputs, and so on.

    Follows the dependencies through the tasks of the window down to data that was not computed in it
    (scattered data, or results from before). A result that must combine given inputs (a chunk summed over
    every rank, a member fitted on the scattered training data) has them all here; one made in the notebook's
    process and passed through a task does not.
    """
    by_key = {t.key: t for t in record.tasks}
    todo, seen, found = [str(getattr(key, "key", key))], set(), set()
    while todo:
        k = todo.pop()
        if k in seen:
            continue
        seen.add(k)
        t = by_key.get(k)
        if t is None:
            found.add(k)
        else:
            todo.extend(t.dependencies)
    return found


def data_sent(record: SchedulerRecord, tasks: Iterable[TaskSeen]) -> tuple[list[int], int]:
    """(bytes each task carried inline, bytes of the distinct data keys the tasks depend on).

    Data scattered once and shared by every task counts once in the second number; the same array passed
    to every task as an argument counts in every task's inline bytes.
    """
    tasks = list(tasks)
    keys = {d for t in tasks for d in t.dependencies if d in record.data}
    return [t.payload_bytes for t in tasks], sum(record.data[k].nbytes for k in keys)


# -- recording -----------------------------------------------------------------------------------------

def _function_name(func: Any) -> str:
    func = getattr(func, "__func__", func)  # a bound method: its function
    module = getattr(func, "__module__", None) or ""
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or type(func).__name__
    return f"{module}.{name}" if module else str(name)


def _payload_bytes(run_spec: Any) -> int:
    """The size of the task as the scheduler holds it (function and inline arguments), pickled; -1 if unknown."""
    from distributed.protocol.pickle import dumps

    try:
        return len(dumps(run_spec))
    except Exception:
        return -1


class Recorder(SchedulerPlugin):
    """The scheduler side of :func:`watch_scheduler` (runs in the scheduler; notes plain dicts)."""

    def __init__(self, name: str, clients: tuple[str, ...] | None = None) -> None:
        self.name = name
        self.clients = clients  # record only the tasks these clients submit (None: every client's)
        self.tasks: dict[str, dict[str, Any]] = {}
        self.data: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, Any] = {}  # the record's str(key) -> the scheduler's key (a tuple for collections)
        self.gathers: list[tuple[float, tuple[str, ...]]] = []
        self.active = True
        self.start_time = 0.0

    async def start(self, scheduler: Any) -> None:
        from distributed.metrics import time

        self.start_time = time()
        # A client's gather (Future.result, Client.gather) is a request to the scheduler's "gather" handler:
        # note it on the way through. No plugin hook sees it.
        self._delegate = scheduler.handlers.get("gather")
        if self._delegate is not None:
            scheduler.handlers["gather"] = self._gather

    async def _gather(self, keys: Any, serializers: Any = None) -> Any:
        if self.active:
            from distributed.metrics import time

            self.gathers.append((time(), tuple(str(k) for k in keys)))
        return await self._delegate(keys=keys, serializers=serializers)

    def stop(self, scheduler: Any) -> None:
        """Stop recording; hand the gather handler back (if another watch wrapped it since, ours just passes on)."""
        self.active = False
        if getattr(self, "_delegate", None) is not None and scheduler.handlers.get("gather") == self._gather:
            scheduler.handlers["gather"] = self._delegate

    def update_graph(self, scheduler: Any, *, client: str, keys: Any, tasks: Any, **kwargs: Any) -> None:
        from dask.utils import key_split
        from distributed.metrics import time

        if self.clients is not None and str(client) not in self.clients:
            return  # another notebook's work on a shared session cluster is not the student's
        now, new = time(), []
        for key in tasks:
            ts = scheduler.tasks.get(key)
            if ts is None or ts.run_spec is None or str(key) in self.tasks:
                continue
            spec = ts.run_spec
            self.tasks[str(key)] = dict(
                key=str(key), name=key_split(key), function=_function_name(getattr(spec, "func", spec)),
                client=str(client), submitted=now, processing=None, started=None, stopped=None, finished=None,
                state=ts.state, worker=None, payload_bytes=_payload_bytes(spec),
                dependencies=tuple(str(d.key) for d in ts.dependencies), result_bytes=None, result_type=None,
                reused=ts.state == "memory", restricted_to=tuple(sorted(ts.worker_restrictions or ())))
            new.append(key)
            self.keys[str(key)] = key
            for d in ts.dependencies:
                if str(d.key) not in self.tasks and str(d.key) not in self.data:
                    self.data[str(d.key)] = dict(key=str(d.key), nbytes=int(d.nbytes), scattered=d.run_spec is None,
                                                 replicas=len(d.who_has or ()))
        if new:
            # Keep every result until the check has read it, even if the student's code drops its futures.
            scheduler.client_desires_keys(keys=new, client=self.name)

    def transition(self, key: Any, start: str, finish: str, *args: Any, stimulus_id: str = "",
                   **kwargs: Any) -> None:
        t = self.tasks.get(str(key))
        if t is None:
            return
        from distributed.metrics import time

        now = time()
        if finish == "processing" and t["processing"] is None:
            t["processing"] = now
        if start == "processing" and finish == "memory":
            t["worker"], t["result_bytes"] = kwargs.get("worker"), kwargs.get("nbytes")
            t["result_type"] = kwargs.get("typename")
            compute = [s for s in kwargs.get("startstops", ()) if s.get("action") == "compute"]
            if compute:
                t["started"], t["stopped"] = compute[0]["start"], compute[-1]["stop"]
        if start == "processing" and finish == "erred":
            t["worker"] = kwargs.get("worker")
        if start in IN_FLIGHT and finish not in IN_FLIGHT and t["finished"] is None:
            t["finished"] = now
        t["state"] = finish

    def snapshot(self) -> dict[str, Any]:
        return {"start": self.start_time, "tasks": [dict(t) for t in self.tasks.values()],
                "data": {k: dict(d) for k, d in self.data.items()}, "gathers": list(self.gathers)}


async def _finish(dask_scheduler: Any = None, *, name: str, fetch: bool, max_bytes: int) -> dict[str, Any]:
    """Stop recording, read the pinned results (up to ``max_bytes`` in all), release them."""
    from distributed.metrics import time

    plugin = dask_scheduler.plugins.get(name)
    stop = time()
    snap = plugin.snapshot() if plugin is not None else {"start": stop, "tasks": [], "data": {}, "gathers": []}
    real_keys = plugin.keys if plugin is not None else {}
    if plugin is not None:
        plugin.stop(dask_scheduler)
        dask_scheduler.remove_plugin(name=name)
    values: dict[str, Any] = {}
    try:
        if fetch:
            keys, total = [], 0
            for t in snap["tasks"]:
                ts = dask_scheduler.tasks.get(real_keys.get(t["key"], t["key"]))
                if ts is not None and ts.state == "memory" and total + (ts.nbytes or 0) <= max_bytes:
                    keys.append(ts.key)
                    total += ts.nbytes or 0
            if keys:
                got = await dask_scheduler.gather(keys)
                if got.get("status") == "OK":
                    values = {str(k): v for k, v in got["data"].items()}
    finally:
        cs = dask_scheduler.clients.get(name)
        if cs is not None:
            pinned = [ts.key for ts in cs.wants_what]
            if pinned:
                dask_scheduler.client_releases_keys(keys=pinned, client=name, stimulus_id=f"{name}-release")
            del dask_scheduler.clients[name]
    return {"stop": stop, "values": values, **snap}


class watch_scheduler:  # noqa: N801 -- used as a context manager, like Dask's get_task_stream
    """Record what the scheduler sees inside a ``with`` block; ``.record`` and ``.results`` after it.

    >>> with watch_scheduler(client) as seen:          # doctest: +SKIP
    ...     futures = client.map(abs, range(4), pure=False)
    ...     total = sum(client.gather(futures))
    >>> len(seen.record.computed()), sorted(seen.results.values())   # doctest: +SKIP
    (4, [0, 1, 2, 3])

    Parameters
    ----------
    client : distributed.Client
        The client whose cluster to watch (tasks from any client of that scheduler are recorded, unless
        ``only_this_client``).
    results : bool
        Read the values of the tasks computed in the block (kept on the cluster until then).
    max_result_bytes : int
        Read at most this many bytes of results (the first tasks' first); the record itself is complete.
    only_this_client : bool
        Record only the tasks ``client`` submits (what an exercise check wants: on a session cluster
        shared by several notebooks, another notebook's tasks are not the student's answer).
    """

    def __init__(self, client: Any, *, results: bool = True, max_result_bytes: int = 64 * 2**20,
                 only_this_client: bool = False) -> None:
        from plsim.executor import check_client

        check_client(client, what="watch_scheduler")
        self.client = client
        self.fetch = bool(results)
        self.max_result_bytes = int(max_result_bytes)
        self.clients = (str(client.id),) if only_this_client else None
        self.name = f"plsim-watch-{uuid.uuid4().hex}"
        self.record: SchedulerRecord | None = None
        self.results: dict[str, Any] = {}

    def __enter__(self) -> watch_scheduler:
        self.client.register_plugin(Recorder(self.name, self.clients), name=self.name)
        return self

    def __exit__(self, *exc: Any) -> None:
        out = self.client.run_on_scheduler(_finish, name=self.name, fetch=self.fetch and exc[0] is None,
                                           max_bytes=self.max_result_bytes)
        tasks = tuple(TaskSeen(**t) for t in out["tasks"])
        self.record = SchedulerRecord(start=out["start"], stop=out["stop"], tasks=tasks,
                                      data={k: DataSeen(**d) for k, d in out["data"].items()},
                                      gathers=tuple((t, tuple(keys)) for t, keys in out["gathers"]))
        self.results = {k: v for k, v in ((k, _deserialized(v)) for k, v in out["values"].items())
                        if v is not _UNREADABLE}


_UNREADABLE = object()


def _deserialized(value: Any) -> Any:
    """A result as the scheduler gathered it (still serialized, as the workers sent it), made a value here."""
    from distributed.protocol import deserialize
    from distributed.protocol.serialize import Serialized

    if not isinstance(value, Serialized):
        return value
    try:
        return deserialize(value.header, value.frames)
    except Exception:  # e.g. a type this process cannot import: that result simply cannot be compared
        return _UNREADABLE

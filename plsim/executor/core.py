"""Who runs what where: one small interface under all three topics.

Every ensemble fit, federated run, training loop and speedup measurement runs
its work through an *executor*, resolved once at the top of the call with
:func:`resolve_executor` from what the user passed (``None``, ``"auto"``, a
``dask.distributed.Client``, a ``joblib.Parallel`` or an executor):

=====================  ========================================================
:class:`Sequential`    every task here, one after the other (the baseline)
:class:`Dask`          tasks on the workers of a ``dask.distributed.Client``
:class:`Joblib`        independent tasks through a ``joblib.Parallel`` (for
                       comparing Dask with joblib on the very same fit)
=====================  ========================================================

The interface is four verbs:

* :meth:`~Executor.place` -- shared data, placed **once** per run; tasks refer
  to it. On Dask it is placed as a deterministic task (its *lineage*), not
  scattered: when a worker holding it dies, the scheduler recomputes it on
  another worker instead of failing the run with "lost dependencies"
  (scattered data has no lineage, and Dask's Active Memory Manager drops the
  extra replicas a broadcast made, so it cannot be relied on either).
  :meth:`~Executor.place_each` places several groups at once (the shards of a
  data-parallel run, the parties of a federation), spread over the idle workers.
* :meth:`~Executor.map` -- a pure function over many small independent tasks,
  timed where they run, results in task order, with progress and stop.
* :meth:`~Executor.submit` / :meth:`~Executor.gather` -- one task whose result
  can feed the next task; :meth:`~Executor.as_completed` hands results back as
  they finish (the asynchronous parameter server).
* :meth:`~Executor.running` -- the block a run lives in: an interrupt or error
  cancels every task made inside it, and a worker lost to its memory limit
  becomes a :class:`plsim.cluster.WorkerMemoryError` that says what to shrink
  (:mod:`plsim.executor.memory`, :mod:`plsim.executor.interrupt`).

Because every task is deterministic and seeded from the task's index (see
:mod:`plsim._random`), a task that Dask re-runs after a worker is lost returns
exactly what it would have: a lost worker changes no result.

Tasks are never pinned to a worker. Dask already runs a task where its largest
inputs are (a replica's step where its shard is), and a restriction would be a
trap: in distributed 2026.8 a task whose allowed workers have all died stays in
"no-worker" for good, even with ``allow_other_workers=True``, because a newly
joining worker is only offered unrestricted tasks
(``Scheduler.bulk_schedule_unrunnable_after_adding_worker``). On Binder's one
worker, a single memory restart would hang the run. Only :meth:`Executor.map`'s
``restrict_to`` (measuring 1, 2, ... workers of one cluster) and :meth:`Executor.submit` /
:meth:`Executor.send` with ``worker=`` (measuring messages between named workers) restrict,
on purpose.

Code above this layer never asks which kind of executor it holds: it asks the
executor. :attr:`~Executor.concurrent` (can tasks run at the same time?),
:attr:`~Executor.on_cluster` (do they run in a cluster's worker processes?),
:meth:`~Executor.workers` / :meth:`~Executor.threads`, :attr:`~Executor.cpus` (the
CPUs those workers really share) and :attr:`~Executor.parallelism` (how many tasks
can really run at once), :meth:`~Executor.require_cluster` (refuse, clearly, a
measurement that needs a cluster), :meth:`~Executor.wait` and
:meth:`~Executor.task_stream` (what the workers ran, for timelines).

Taught in ``notebooks/01_speedup.ipynb`` and ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

import collections
import contextlib
import operator
import os
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from plsim.cluster import current_client
from plsim.executor.client import check_client, worker_threads
from plsim.executor.interrupt import cancel_on_interrupt
from plsim.executor.memory import check_data_fits, memory_guard
from plsim.i18n import _

__all__ = ["Executor", "Sequential", "Dask", "Joblib", "TaskResult", "resolve_executor", "LOCAL"]

LOCAL = "local"
"""Worker name recorded for tasks that ran in this process."""

ProgressHook = Callable[[int, int], Any]


@dataclass(frozen=True)
class TaskResult:
    """What one task of :meth:`Executor.map` returned, how long it took (measured where it ran) and where."""

    value: Any
    seconds: float
    worker: str


# -- task wrappers (module level: they are pickled to the workers) -----------------------
def _identity(value: Any) -> Any:
    """The task that produces placed data: re-running it (lineage) gives the same data anywhere."""
    return value


def _timed(func: Callable[..., Any], data: Mapping[str, Any], task: Mapping[str, Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = func(**data, **task)
    return value, time.perf_counter() - start


def _run_one(func: Callable[..., Any], data: Mapping[str, Any], task: Mapping[str, Any]) -> TaskResult:
    """``func(**data, **task)`` here or on a Dask worker, timed, naming the worker."""
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = LOCAL
    return TaskResult(*_timed(func, data, task), worker)


def _run_in_process(func: Callable[..., Any], data: Mapping[str, Any], task: Mapping[str, Any],
                    caller_pid: int, label: str) -> TaskResult:
    """Task wrapper for joblib: names the process that ran it; notes which task raised.

    Unlike :func:`_run_one` it never imports ``distributed``: a loky worker
    would pay that import (~0.35 s) for a worker name it cannot have.
    """
    try:
        value, seconds = _timed(func, data, task)
    except Exception as exc:
        exc.add_note(f"plsim: raised while running {label} through joblib (process {os.getpid()})")
        raise
    pid = os.getpid()
    return TaskResult(value, seconds, LOCAL if pid == caller_pid else f"pid {pid}")


# -- handles of the sequential executor ---------------------------------------------------
class Done:
    """The result of a task that already ran in this process (the sequential twin of a Dask future)."""

    __slots__ = ("_value", "key")

    def __init__(self, value: Any, key: str) -> None:
        self._value, self.key = value, key

    def result(self) -> Any:
        return self._value

    def done(self) -> bool:
        return True

    def cancel(self) -> None:
        pass

    def release(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<Done {self.key}>"


def _unwrap(value: Any) -> Any:
    """Replace :class:`Done` handles (top level, or inside a list/tuple/dict) by their values, as Dask does."""
    if isinstance(value, Done):
        return value.result()
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


class _InOrder:
    """``as_completed`` for tasks that finished when they were submitted: first in, first out."""

    def __init__(self, handles: Iterable[Done] = ()) -> None:
        self._queue = collections.deque(handles)

    def add(self, handle: Done) -> None:
        self._queue.append(handle)

    @property
    def futures(self) -> list[Done]:
        return list(self._queue)

    def __iter__(self) -> Iterator[Done]:
        while self._queue:
            yield self._queue.popleft()


# -- the interface ------------------------------------------------------------------------
class Executor:
    """Runs a run's tasks: in this process, on a Dask cluster or through joblib. See the module docstring."""

    kind: str = "executor"
    #: Whether tasks can run at the same time (a cluster, a process pool); False: one after the other.
    concurrent: bool = False
    #: Whether tasks run in the worker processes of a Dask cluster (so bytes travel between processes,
    #: a scheduler records a task stream, and :meth:`map`'s ``restrict_to`` can pick workers).
    on_cluster: bool = False

    def workers(self) -> list[str]:
        """Where tasks can run, in a fixed (sorted) order."""
        return sorted(self.threads())

    def threads(self) -> dict[str, int]:
        """``{worker: threads}`` of the workers, asked now (this process: one)."""
        return {LOCAL: 1}

    @property
    def n_workers(self) -> int:
        return len(self.workers())

    @property
    def cpus(self) -> int:
        """CPUs the workers really share (:func:`plsim.speedup.cluster_cpus`); this process alone: 1."""
        return 1

    @property
    def parallelism(self) -> int:
        """Tasks that can really run at once: the workers' threads, at most the CPUs they share (>= 1)."""
        return max(1, min(sum(self.threads().values()), self.cpus))

    def require_cluster(self, what: str, *, instead: str | None = None) -> None:
        """Refuse, with a clear error, to run ``what`` (a measurement of the cluster itself) off a cluster."""
        if not self.on_cluster:
            alternative = f", or use {instead}" if instead else ""
            raise ValueError(f"the executor runs {self.describe()}; {what} runs on the workers of a Dask cluster: "
                             f"pass executor=<the client from plsim.start_cluster()> (or 'auto' once one is "
                             f"running){alternative}")

    def wait(self, handles: Iterable[Any], *, timeout: float | None = None) -> None:
        """Return when every task of ``handles`` has finished (``TimeoutError`` after ``timeout`` seconds)."""

    @contextlib.contextmanager
    def task_stream(self) -> Iterator[list[dict[str, Any]]]:
        """Dask's task-stream records of what the workers ran in the block (filled when it ends); else none."""
        yield []

    def send(self, value: Any, *, worker: str | None = None) -> Any:
        """``value`` put on ``worker`` directly, as it is (no lineage: to time the move itself); a handle."""
        return Done(value, "plsim-sent")

    def describe(self) -> str:
        """One line for histories and errors ("sequential", "2 Dask workers", ...), in English."""
        return self.kind

    def describe_text(self) -> str:
        """:meth:`describe` in the student's language (:mod:`plsim.i18n`), for what a run prints."""
        return _(self.describe())

    @contextlib.contextmanager
    def running(self, what: str = "the run") -> Iterator[Executor]:
        """The block a run lives in (see the module docstring); yields the executor."""
        yield self

    def check_fits(self, nbytes: int | Sequence[int], *, what: str, where: Sequence[str] | None = None) -> None:
        """Refuse data too large for a worker before anything is sent (no-op outside Dask)."""

    @contextlib.contextmanager
    def shared(self, **values: Any) -> Iterator[dict[str, Any]]:
        """:meth:`place` the ``values`` for a block; released when it ends."""
        handles = self.place(**values)
        try:
            yield handles
        finally:
            self.release(list(handles.values()))

    def place(self, **values: Any) -> dict[str, Any]:
        """Shared data, placed once: ``{name: handle}`` that tasks receive instead of the value."""
        return dict(values)

    def place_each(self, groups: Sequence[Mapping[str, Any]], *, name: str = "part",
                   what: str | None = None) -> list[dict[str, Any]]:
        """Place several groups of shared data (a shard's X and y, a party's data) spread over the workers.

        Group ``i`` stays together, and the groups go out in one graph update,
        so idle workers each take one (Dask gives root tasks to the least busy
        worker): parallel units start on different workers without being
        pinned there. Returns one ``{name: handle}`` per group.

        ``what`` names the data (e.g. ``"the training data X, y"``): before
        anything is sent, the groups, spread round-robin over the workers as
        they will be, are checked against the workers' memory (:meth:`check_fits`;
        a group's size is the sum of its values' ``nbytes``).
        """
        groups = [dict(group) for group in groups]
        if what is not None:
            addresses = self.workers()
            self.check_fits([sum(int(getattr(v, "nbytes", 0)) for v in group.values()) for group in groups],
                            what=what, where=[addresses[i % len(addresses)] for i in range(len(groups))])
        return groups

    def release(self, handles: Iterable[Any]) -> None:
        """Forget handles a run no longer needs (their data can leave the workers)."""

    def submit(self, func: Callable[..., Any], *args: Any, name: str = "plsim-task", worker: str | None = None) -> Any:
        """Run ``func(*args)`` (handles in ``args`` are replaced by their values); returns a handle.

        ``worker``: run it on that worker (one of :meth:`workers`) and nowhere else, so
        that its inputs travel there -- for measuring communication; see the module
        docstring for why nothing else pins tasks.
        """
        raise NotImplementedError

    def gather(self, handles: Sequence[Any]) -> list[Any]:
        """The values of ``handles``, in order (waits for them)."""
        return [h.result() for h in handles]

    def cancel(self, handles: Iterable[Any]) -> None:
        """Cancel tasks that are no longer wanted."""

    def as_completed(self, handles: Iterable[Any] = ()) -> Any:
        """An iterator over ``handles`` as they finish, to which more can be ``add``-ed."""
        return _InOrder(handles)

    def map(self, func: Callable[..., Any], data: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]], *,
            name: str = "plsim-task", progress: ProgressHook | None = None,
            describe: Callable[[int], str] | None = None, finished: dict[int, TaskResult] | None = None,
            restrict_to: Sequence[str] | None = None, embed: Mapping[str, Any] | None = None) -> list[TaskResult]:
        """Run ``func(**data, **task)`` for every task; :class:`TaskResult`\\ s in task order.

        Parameters
        ----------
        func : callable
            A module-level function (it is pickled to the workers).
        data : mapping
            From :meth:`place`: shared values (or their handles).
        tasks : sequence of mappings
            Small per-task keyword arguments (an unfitted estimator, a seed, indices).
        name : str
            Task-name prefix in the Dask dashboard and task stream.
        progress : callable, optional
            ``progress(done, total)`` here as each task finishes; an exception
            it raises stops the map (pending tasks are cancelled).
        describe : callable, optional
            ``describe(i)`` names task ``i`` in the note added to its exception.
        finished : dict, optional
            Filled with ``{i: TaskResult}`` as tasks finish, so a caller that
            is interrupted or stopped keeps what came back.
        restrict_to : sequence of str, optional
            Run only on these workers (Dask; used to measure 1, 2, ... workers
            of one cluster). Other executors refuse it.
        embed : mapping, optional
            Values every task receives *in itself*, like ``data`` but not placed:
            on Dask each task is then sent in its own graph update, carrying its
            own copy (the slow way, kept to show its cost; in one update, pickle
            would send a value shared by all the tasks only once).
        """
        raise NotImplementedError


def _label(describe: Callable[[int], str] | None) -> Callable[[int], str]:
    return describe or (lambda i: f"task {i}")


def _in_order(results: Iterator[TaskResult], total: int, progress: ProgressHook | None,
              finished: dict[int, TaskResult] | None) -> list[TaskResult]:
    """Collect results that arrive in task order, noting each in ``finished`` and reporting progress."""
    finished = {} if finished is None else finished
    out: list[TaskResult] = []
    for result in results:
        finished[len(out)] = result
        out.append(result)
        if progress is not None:
            progress(len(out), total)
    return out


class Sequential(Executor):
    """Every task in this process, one after the other, at the moment it is submitted."""

    kind = "sequential"

    def __init__(self) -> None:
        self._count = 0

    def __repr__(self) -> str:
        return "Sequential()"

    def submit(self, func: Callable[..., Any], *args: Any, name: str = "plsim-task", worker: str | None = None) -> Done:
        self._count += 1
        return Done(func(*_unwrap(args)), f"{name}-{self._count}")

    def map(self, func, data, tasks, *, name="plsim-task", progress=None, describe=None, finished=None,
            restrict_to=None, embed=None):
        if restrict_to is not None:
            raise ValueError("restrict_to is only for a Dask executor: a sequential run has one worker, this process")
        label = _label(describe)
        data = {**data, **(embed or {})}

        def one_by_one() -> Iterator[TaskResult]:
            for i, task in enumerate(tasks):
                try:
                    yield _run_one(func, data, task)
                except Exception as exc:
                    exc.add_note(f"plsim: raised while running {label(i)} (sequentially, in this process)")
                    raise

        return _in_order(one_by_one(), len(tasks), progress, finished)


class Joblib(Executor):
    """Independent tasks through a ``joblib.Parallel`` (maps only: joblib has no futures to chain)."""

    kind = "joblib"

    def __init__(self, parallel: Any) -> None:
        from joblib import Parallel

        if not isinstance(parallel, Parallel):
            raise TypeError(f"parallel={parallel!r} is not a joblib.Parallel")
        if parallel.return_as not in ("list", "generator"):
            raise ValueError(f"Parallel(return_as={parallel.return_as!r}) is not allowed: results must come "
                             "back in task order; use return_as='list' or 'generator'")
        self.parallel = parallel

    def __repr__(self) -> str:
        return f"Joblib({self.parallel!r})"

    def describe(self) -> str:
        return f"joblib (n_jobs={self.parallel.n_jobs})"

    def _jobs(self) -> int:
        from joblib import effective_n_jobs

        return max(1, int(effective_n_jobs(self.parallel.n_jobs)))

    @property
    def concurrent(self) -> bool:  # type: ignore[override]
        return self._jobs() > 1

    def threads(self) -> dict[str, int]:
        return {LOCAL: self._jobs()}

    @property
    def cpus(self) -> int:
        from plsim.resources import detect_resources

        return max(1, min(self._jobs(), detect_resources().cpus))

    def send(self, value, *, worker=None):
        raise TypeError("a joblib.Parallel runs independent tasks only; use a dask.distributed.Client")

    def submit(self, func, *args, name="plsim-task", worker=None):
        raise TypeError("a joblib.Parallel runs independent tasks only (ensemble fits, speedup measurements); "
                        "this run chains tasks: use executor=None (sequential) or a dask.distributed.Client")

    def as_completed(self, handles=()):
        raise TypeError("a joblib.Parallel has no futures to hand back as they finish; use executor=None "
                        "(sequential) or a dask.distributed.Client")

    def map(self, func, data, tasks, *, name="plsim-task", progress=None, describe=None, finished=None,
            restrict_to=None, embed=None):
        from joblib import delayed

        if restrict_to is not None:
            raise ValueError("restrict_to is only for a Dask executor; size the joblib.Parallel with n_jobs instead")
        label = _label(describe)
        data = {**data, **(embed or {})}  # joblib pickles each call's arguments: every task carries them anyway
        calls = (delayed(_run_in_process)(func, data, task, os.getpid(), label(i)) for i, task in enumerate(tasks))
        output = self.parallel(calls)  # a list, or a generator with return_as="generator"
        try:
            return _in_order(iter(output), len(tasks), progress, finished)
        finally:
            if hasattr(output, "close"):  # a generator: stop joblib dispatching the tasks left
                output.close()


class Dask(Executor):
    """Tasks on the workers of a ``dask.distributed.Client`` (local or remote cluster)."""

    kind = "dask"
    concurrent = True
    on_cluster = True

    def __init__(self, client: Any) -> None:
        self.client = check_client(client, what="the Dask executor", instead='executor=None (sequential)')
        self._active = client  # inside running(): the recording stand-in that cancels on interrupt
        self._run_id = uuid.uuid4().hex[:8]
        self._count = 0

    def __repr__(self) -> str:
        return f"Dask({self.client!r})"

    def _key(self, name: str) -> str:
        self._count += 1
        return f"{name}-{self._run_id}-{self._count}"

    def workers(self) -> list[str]:
        addresses = sorted(self.threads())
        if not addresses:
            raise ValueError("the Dask cluster has no workers; start some, or pass executor=None to run here")
        return addresses

    def threads(self) -> dict[str, int]:
        return worker_threads(self.client)

    @property
    def cpus(self) -> int:
        """A local cluster's workers (a private one or the session's shared one) share this machine's usable
        CPUs (cgroup quota, ``CPU_LIMIT``, affinity), however many workers were started; a remote or gateway
        cluster's workers are assumed to have one CPU per thread."""
        from plsim.cluster import is_local_cluster
        from plsim.resources import detect_resources

        if is_local_cluster(self.client):
            return detect_resources().cpus
        return max(1, sum(self.threads().values()))

    def describe(self) -> str:
        n = len(self.threads())
        return f"{n} Dask worker{'s' if n != 1 else ''}"

    def describe_text(self) -> str:
        n = len(self.threads())
        return (_("{n} Dask worker") if n == 1 else _("{n} Dask workers")).format(n=n)

    def wait(self, handles, *, timeout=None):
        import distributed

        handles = [h for h in handles if hasattr(h, "key")]
        if handles:
            with self.client.as_current():  # this client's futures, whether or not it is Dask's default client
                distributed.wait(handles, timeout=timeout)

    @contextlib.contextmanager
    def task_stream(self):
        from distributed import get_task_stream

        records: list[dict[str, Any]] = []
        with get_task_stream(client=self.client) as stream:
            yield records
        records.extend(stream.data)

    def send(self, value, *, worker=None):
        where = {} if worker is None else {"workers": [worker]}
        return self._active.scatter(value, hash=False, **where)

    @contextlib.contextmanager
    def running(self, what: str = "the run") -> Iterator[Executor]:
        outer = self._active
        with memory_guard(self.client, what=what), cancel_on_interrupt(self.client) as recording:
            self._active = recording
            try:
                yield self
            finally:
                self._active = outer

    def check_fits(self, nbytes, *, what, where=None):
        if isinstance(nbytes, int):
            check_data_fits(self.client, nbytes, what=what)
            return
        per_worker: dict[str, int] = {}
        for address, size in zip(where if where is not None else range(len(nbytes)), nbytes, strict=True):
            per_worker[address] = per_worker.get(address, 0) + int(size)
        if per_worker:
            check_data_fits(self.client, max(per_worker.values()), what=what)

    def place(self, **values: Any) -> dict[str, Any]:
        # A task that returns the value: the scheduler keeps the task (and so the data) as lineage,
        # and re-runs it on another worker if the one holding the result is lost. Named keys put
        # plsim's data in its own task group ("plsim-data-X") on the dashboard.
        with _quiet_large_graph():
            names = list(values)
            futures = self._active.map(_identity, [values[n] for n in names],
                                       key=[self._key(f"plsim-data-{n}") for n in names], pure=False)
            return dict(zip(names, futures, strict=True))

    def place_each(self, groups, *, name="part", what=None):
        groups = super().place_each(groups, name=name, what=what)  # checked against the workers' memory
        with _quiet_large_graph():
            placed = self._active.map(_identity, groups, key=[self._key(f"plsim-data-{name}") for _ in groups],
                                      pure=False)
            # One cheap task per value, run where its group is (locality): tasks take X and y as usual.
            return [{field: self._active.submit(operator.getitem, whole, field, pure=False,
                                                key=self._key(f"plsim-data-{name}-{field}"))
                     for field in group}
                    for whole, group in zip(placed, groups, strict=True)]

    def release(self, handles):
        handles = [h for h in handles if hasattr(h, "key")]
        if handles and self.client.status == "running":
            self.client.cancel(handles)

    def submit(self, func, *args, name="plsim-task", worker=None):
        where = {} if worker is None else {"workers": [worker], "allow_other_workers": False}
        return self._active.submit(func, *args, key=self._key(name), pure=False, **where)

    def gather(self, handles):
        return self.client.gather(list(handles))

    def cancel(self, handles):
        handles = list(handles)
        if handles and self.client.status == "running":
            self.client.cancel(handles)

    def as_completed(self, handles=()):
        from distributed import as_completed

        return as_completed(list(handles), loop=self.client.loop)  # this client's loop, not the default's

    def map(self, func, data, tasks, *, name="plsim-task", progress=None, describe=None, finished=None,
            restrict_to=None, embed=None):
        from distributed import as_completed

        label = _label(describe)
        finished = {} if finished is None else finished
        total = len(tasks)
        results: list[TaskResult | None] = [None] * total
        # One client.map call sends all tasks in one graph update. Submitted one by one, the first
        # few would be bound to workers on arrival (the scheduler queues a group's tasks only once it
        # holds more than 2 per thread), so member 2 would wait behind member 0 even when another
        # worker frees up first. Queued, each task goes to whichever worker is free: greedy, in task
        # order (measured on the bench's 16 trees: benchmarks/bench_speedup.py).
        run_id = uuid.uuid4().hex[:12]
        extra = {} if restrict_to is None else {"workers": list(restrict_to), "allow_other_workers": False}
        with contextlib.ExitStack() as stack:
            client = self._active
            if client is self.client:  # called outside running(): still cancel on interrupt
                client = stack.enter_context(cancel_on_interrupt(self.client))
            keys = [f"{name}-{run_id}-{i}" for i in range(total)]
            with _quiet_large_graph():
                if embed:  # one update per task, so that each carries its own copy of the embedded values
                    futures = [client.submit(_run_one, func, {**data, **embed}, task, key=key, pure=False, **extra)
                               for task, key in zip(tasks, keys)]
                else:
                    futures = client.map(_run_one, [func] * total, [data] * total, list(tasks), key=keys,
                                         pure=False, **extra)
            index = {f.key: i for i, f in enumerate(futures)}
            done = 0
            try:
                for future in as_completed(futures, loop=self.client.loop):
                    i = index[future.key]
                    try:
                        results[i] = finished[i] = future.result()  # re-raises the task's error, remote traceback
                    except Exception as exc:
                        exc.add_note(f"plsim: raised while running {label(i)} on the Dask cluster")
                        raise
                    done += 1
                    if progress is not None:
                        progress(done, total)
            finally:
                pending = [f for f in futures if not f.done()]
                if pending and self.client.status == "running":
                    self.client.cancel(pending)
                for f in futures:
                    f.release()
        return results  # type: ignore[return-value]


@contextlib.contextmanager
def _quiet_large_graph() -> Iterator[None]:
    """Data that travels in the task graph on purpose -- placed data (its lineage), or a payload embedded
    in every task to show its cost -- gets no "large graph" warning."""
    import dask

    with warnings.catch_warnings(), dask.config.set({"distributed.admin.large-graph-warning-threshold": "1TiB"}):
        warnings.filterwarnings("ignore", message=".*[Ll]arge.*")
        yield


def resolve_executor(executor: Any, *, name: str = "executor") -> Executor:
    """The :class:`Executor` for what a user passed; call once at the top of each ``fit`` / ``run_*``.

    Parameters
    ----------
    executor : None, "auto", "sequential", dask.distributed.Client, joblib.Parallel or Executor
        ``None`` or ``"sequential"``: run here, task after task. ``"auto"``:
        Dask's current default client (the cluster :func:`plsim.start_cluster`
        started or connected to, or any client made as default), else
        sequential. A ``Client``: its cluster. A ``joblib.Parallel``: joblib
        (independent tasks only). An :class:`Executor` is returned as is.
    name : str
        The parameter's name in error messages.
    """
    if isinstance(executor, Executor):
        return executor
    if executor is None:
        return Sequential()
    if isinstance(executor, str):
        if executor == "sequential":
            return Sequential()
        if executor == "auto":
            client = current_client()
            return Sequential() if client is None else Dask(client)
        raise ValueError(f"{name}={executor!r} is not allowed; use None, 'auto', 'sequential', a "
                         "dask.distributed.Client, a joblib.Parallel or a plsim.executor.Executor")
    try:
        from joblib import Parallel
    except ImportError:  # pragma: no cover - joblib comes with scikit-learn
        Parallel = ()  # type: ignore[assignment]
    if isinstance(executor, Parallel):
        return Joblib(executor)
    if callable(getattr(executor, "submit", None)) and callable(getattr(executor, "scatter", None)):
        return Dask(executor)
    raise TypeError(f"{name}={executor!r} ({type(executor).__name__}) is not allowed; use None (sequential), "
                    "'auto', a dask.distributed.Client (e.g. from plsim.start_cluster()), a joblib.Parallel "
                    "or a plsim.executor.Executor")

"""Who runs what where: the one place the ensembles talk to Dask (or joblib).

Every ensemble in :mod:`plsim.ensembles` turns its fit into a list of small,
independent *tasks* (fit member 3 on bootstrap sample 3, fit configuration 7 on
fold 2, ...). This module runs such a list in this process, one after the
other, or on a ``dask.distributed.Client``, or, for comparison, through a
``joblib.Parallel`` (the whole fit stays the same, only the executor changes):

* the training data is scattered to the workers **once** (:func:`shared_data`),
  and every task refers to it by future, so a task's own payload is a few
  hundred bytes (an unfitted estimator and a seed);
* each task is timed where it runs and reports the worker that ran it;
* results come back in task order whatever order they finish in, so the
  outcome never depends on scheduling;
* a task's exception reaches the caller with its original (remote) traceback,
  the other tasks are cancelled, and the cluster stays usable;
* interrupted (KeyboardInterrupt) or stopped (an exception raised by the
  progress callback), the pending tasks are cancelled and the results that
  came back stay available to the caller (``run_tasks(finished=...)``), from
  which the ensembles keep a partial ensemble.

Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from plsim.cluster import cancel_on_interrupt, check_data_fits

__all__ = ["TaskResult", "is_joblib", "resolve_client", "shared_data", "run_tasks", "spawn_seeds", "LOCAL"]

LOCAL = "local"
"""Worker name recorded for tasks that ran in this process (no client)."""

ProgressCallback = Callable[[int, int], Any]


@dataclass(frozen=True)
class TaskResult:
    """What one task returned, how long it took (seconds, measured where it ran) and where."""

    value: Any
    seconds: float
    worker: str


def is_joblib(client: Any) -> bool:
    """True for a ``joblib.Parallel`` (tasks then run through joblib, not Dask)."""
    from joblib import Parallel

    return isinstance(client, Parallel)


def resolve_client(client: Any) -> Any:
    """The Dask client to use, a ``joblib.Parallel``, or ``None`` for sequential in-process training.

    ``client`` may be ``None`` (sequential), ``"auto"`` (the cluster plsim
    started, if any, else sequential), a ``dask.distributed.Client`` or a
    ``joblib.Parallel`` (for comparing Dask with joblib on the very same fit).
    """
    if client is None:
        return None
    if is_joblib(client):
        if client.return_as not in ("list", "generator"):
            raise ValueError(f"client=Parallel(return_as={client.return_as!r}) is not allowed: results must come "
                             "back in task order; use return_as='list' or 'generator'")
        return client
    if isinstance(client, str):
        if client != "auto":
            raise ValueError(f"client={client!r} is not allowed; use None, 'auto', a dask.distributed.Client "
                             "or a joblib.Parallel")
        from plsim.cluster import current_client

        return current_client()
    if not (callable(getattr(client, "submit", None)) and callable(getattr(client, "scatter", None))):
        raise TypeError(
            f"client={client!r} ({type(client).__name__}) is not a dask.distributed.Client; "
            "use None (sequential), 'auto' or the client from plsim.start_cluster()"
        )
    status = getattr(client, "status", "running")
    if status not in ("running", "connecting", "newly-created"):
        raise ValueError(f"client={client!r} is {status}; start a cluster with plsim.start_cluster()")
    return client


def spawn_seeds(random_state: Any, n: int) -> list[np.random.SeedSequence]:
    """``n`` independent seed sequences, child ``i`` depending only on ``random_state`` and ``i``.

    ``random_state`` may be ``None`` (fresh entropy), an int, a
    ``numpy.random.RandomState`` or a ``numpy.random.Generator`` (one integer
    is drawn from it). Child ``i`` is the same whatever ``n`` is, so the first
    10 members of a 20-member ensemble equal a 10-member ensemble.
    """
    if random_state is None:
        root = np.random.SeedSequence()
    elif isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state={random_state!r} must be a non-negative integer, None or a RNG")
        root = np.random.SeedSequence(int(random_state))
    elif isinstance(random_state, np.random.RandomState):
        root = np.random.SeedSequence(int(random_state.randint(np.iinfo(np.int32).max)))
    elif isinstance(random_state, np.random.Generator):
        root = np.random.SeedSequence(int(random_state.integers(np.iinfo(np.int32).max)))
    else:
        raise ValueError(
            f"random_state={random_state!r} is not allowed; use None, a non-negative int, "
            "a numpy RandomState or a numpy Generator"
        )
    return root.spawn(n)


def seed_int(seq: np.random.SeedSequence, word: int = 0) -> int:
    """A 31-bit integer seed (valid for every scikit-learn ``random_state``) from a seed sequence."""
    return int(seq.generate_state(word + 1)[word] % np.iinfo(np.int32).max)


@contextlib.contextmanager
def shared_data(client: Any, **arrays: Any) -> Iterator[dict[str, Any]]:
    """Ship ``arrays`` to every worker once; yield what tasks should receive.

    With ``client=None`` the arrays themselves are yielded, and so with a
    ``joblib.Parallel``, which ships (memory-maps) large arrays itself, once
    per call. With a Dask client, one ``client.scatter`` call broadcasts them
    and futures are yielded; they are released when the block ends.
    Broadcasting (rather than sending the data to one worker) keeps the
    scheduler free to spread the tasks over all workers. So every worker
    holds all the arrays: data larger than a worker's memory allows is refused
    first (:func:`plsim.cluster.check_data_fits`, a ``ValueError`` with the
    numbers), before anything is sent.
    """
    if client is None or is_joblib(client):
        yield dict(arrays)
        return
    check_data_fits(client, sum(int(getattr(a, "nbytes", 0)) for a in arrays.values()),
                    what=f"the training data ({', '.join(arrays)})")
    # Named keys put plsim's data in its own task group ("plsim-data-X"), so arrays
    # scattered by other code cannot stop the scheduler from queuing the tasks
    # that read it (see run_tasks).
    run_id = uuid.uuid4().hex[:12]
    keyed = {f"plsim-data-{name}-{run_id}": value for name, value in arrays.items()}
    with cancel_on_interrupt(client) as recording:  # interrupted, scatter itself would leak the data
        futures = recording.scatter(keyed, broadcast=True, hash=False)
    try:
        yield {name: futures[key] for name, key in zip(arrays, keyed, strict=True)}
    finally:
        client.cancel(list(futures.values()))


def _timed(func: Callable[..., Any], data: Mapping[str, Any], task: Mapping[str, Any]) -> tuple[Any, float]:
    """``func(**data, **task)`` and the seconds it took, measured where it runs."""
    start = time.perf_counter()
    value = func(**data, **task)
    return value, time.perf_counter() - start


def _run_one(func: Callable[..., Any], data: Mapping[str, Any], task: Mapping[str, Any]) -> TaskResult:
    """Run ``func(**data, **task)`` here or on a Dask worker, timed, naming the worker."""
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
    would pay that import (~0.35 s here) for a worker name it cannot have.
    """
    try:
        value, seconds = _timed(func, data, task)
    except Exception as exc:
        # Added where the task ran: joblib re-raises this very exception here.
        exc.add_note(f"plsim: raised while running {label} through joblib (process {os.getpid()})")
        raise
    pid = os.getpid()
    return TaskResult(value, seconds, LOCAL if pid == caller_pid else f"pid {pid}")


def _run_joblib(parallel: Any, func: Callable[..., Any], data: Mapping[str, Any],
                tasks: Sequence[Mapping[str, Any]], progress: ProgressCallback | None,
                label: Callable[[int], str], finished: dict[int, TaskResult]) -> list[TaskResult]:
    from joblib import delayed

    calls = (delayed(_run_in_process)(func, data, task, os.getpid(), label(i)) for i, task in enumerate(tasks))
    output = parallel(calls)  # a list, or a generator when the Parallel has return_as="generator"
    results = []
    try:
        for result in output:
            finished[len(results)] = result
            results.append(result)
            if progress is not None:
                progress(len(results), len(tasks))
    finally:
        if hasattr(output, "close"):  # a generator: stop joblib dispatching the tasks left
            output.close()
    return results


def run_tasks(
    client: Any,
    func: Callable[..., Any],
    data: Mapping[str, Any],
    tasks: Sequence[Mapping[str, Any]],
    *,
    name: str = "plsim-task",
    progress: ProgressCallback | None = None,
    describe: Callable[[int], str] | None = None,
    finished: dict[int, TaskResult] | None = None,
) -> list[TaskResult]:
    """Run ``func(**data, **task)`` for every task; results in task order.

    Parameters
    ----------
    client : dask.distributed.Client, joblib.Parallel or None
        Where to run; ``None`` runs the tasks one after the other here. A
        ``joblib.Parallel`` reports progress as tasks finish only when made
        with ``return_as="generator"`` (otherwise all at the end).
    func : callable
        A module-level function (it is pickled to the workers).
    data : mapping
        From :func:`shared_data`: arrays (sequential) or their futures.
    tasks : sequence of mappings
        Small per-task keyword arguments (an unfitted estimator, a seed, indices).
    name : str
        Task-name prefix shown in the Dask dashboard and task stream.
    progress : callable, optional
        ``progress(done, total)`` called here as each task finishes.
    describe : callable, optional
        ``describe(i)`` names task ``i`` in the note added to its exception.
    finished : dict, optional
        Filled with ``{i: TaskResult}`` as tasks finish, so that a caller whose
        run was interrupted (KeyboardInterrupt) or stopped (an exception raised
        by ``progress``) still has the results that came back; the tasks still
        pending are cancelled either way.

    Returns
    -------
    list of TaskResult
    """
    total = len(tasks)
    results: list[TaskResult | None] = [None] * total
    label = describe or (lambda i: f"task {i}")
    if finished is None:
        finished = {}
    if client is None:
        for i, task in enumerate(tasks):
            try:
                results[i] = finished[i] = _run_one(func, data, task)
            except Exception as exc:
                exc.add_note(f"plsim: raised while running {label(i)} (sequentially, in this process)")
                raise
            if progress is not None:
                progress(i + 1, total)
        return results  # type: ignore[return-value]
    if is_joblib(client):
        return _run_joblib(client, func, data, tasks, progress, label, finished)

    from distributed import as_completed

    # One client.map call sends all tasks in one graph update. Submitted one by
    # one, the first few would be bound to workers on arrival (the scheduler
    # queues a group's tasks only once it holds more than 2 per thread), so
    # member 2 would wait behind member 0 even when another worker frees up
    # first. Queued, each task goes to whichever worker is free: greedy, in
    # task order (measured on the bench's 16 trees: see benchmarks/bench_speedup.py).
    run_id = uuid.uuid4().hex[:12]
    with cancel_on_interrupt(client) as recording:  # interrupted, nothing here could cancel them
        futures = recording.map(_run_one, [func] * total, [data] * total, list(tasks),
                                key=[f"{name}-{run_id}-{i}" for i in range(total)], pure=False)
    index = {f.key: i for i, f in enumerate(futures)}
    done = 0
    try:
        for future in as_completed(futures):
            i = index[future.key]
            try:
                results[i] = finished[i] = future.result()  # re-raises the task's exception, remote traceback
            except Exception as exc:
                exc.add_note(f"plsim: raised while running {label(i)} on the Dask cluster")
                raise
            done += 1
            if progress is not None:
                progress(done, total)
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
        for f in futures:
            f.release()
    return results  # type: ignore[return-value]

"""A LocalCluster in this process, and what its worker processes do: start it, quiet it, close it.

:func:`plsim.cluster.start_cluster` decides what to start (sizing, reuse, the
session's shared cluster, a remote scheduler); this module starts a local one
the way every plsim LocalCluster is started (:func:`start_local`, with
:func:`local_cluster_settings`, also used by :mod:`plsim.session_cluster`),
makes its workers ignore the kernel's interrupt (:func:`dask_setup`, preloaded
in each worker process), keeps Dask's expected failure reports off stderr, and
closes it without noise (:func:`close_quietly`). Taught in
``notebooks/00_start_here.ipynb``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # importing distributed takes ~1 s; do it only when a cluster is needed
    from dask.distributed import Client

__all__ = ["start_local", "local_cluster_settings", "close_quietly", "forget_closed_schedulers",
           "keep_restarting_workers", "dask_setup", "DropWorkersDied"]


def local_cluster_settings(processes: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(configuration overrides, worker keywords)`` of every LocalCluster plsim starts, private or shared.

    Used by :func:`start_local` and by the session's cluster process (:mod:`plsim.session_cluster`).
    """
    import dask.config

    # Three of Dask's defaults skew the very speedups the course measures:
    # * the statistical profiler interrupts the task thread every 10 ms (~2-3 %
    #   of compute in `plsim bench`; the dashboard's Profile page stays empty);
    # * MALLOC_TRIM_THRESHOLD_ (set to hand memory back to the OS sooner) also
    #   switches off glibc's adaptive mmap threshold, so every numpy temporary
    #   over 128 KiB is mmap'ed and page-faulted afresh: a federated client's
    #   local training ran 55 % slower in a worker than in the notebook.
    # * with worker-saturation 1.1 a busy worker already holds its next task, so
    #   the last wave can sit queued behind a slow member while the other worker
    #   idles; 1.0 hands out a task only when a thread is free (bench: joblib
    #   ratio 0.98 -> 1.00; the 200 x 10 ms case unchanged, 1.23x vs 1.20x).
    # One BLAS/OpenMP thread per worker stays: workers must not oversubscribe.
    # Worker processes also preload this module, whose dask_setup makes them ignore
    # the kernel's interrupt (see there); thread workers run in the kernel and must not.
    environ = {key: value for key, value in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if key != "MALLOC_TRIM_THRESHOLD_"}
    overrides = {"distributed.worker.profile.enabled": False, "distributed.nanny.pre-spawn-environ": environ,
                 "distributed.scheduler.worker-saturation": 1.0}
    return overrides, (_ignore_interrupt_preload() if processes else {})


def start_local(n_workers: int, threads: int, memory: int, processes: bool, set_as_default: bool = True) -> Client:
    import dask.config
    from dask.distributed import Client

    overrides, extra = local_cluster_settings(processes)
    if not processes:  # thread workers log in this process
        _quiet_task_failures()
    scheduler_log = logging.getLogger("distributed.scheduler")  # a local scheduler runs in this process
    if not any(isinstance(f, DropWorkersDied) for f in scheduler_log.filters):
        scheduler_log.addFilter(DropWorkersDied())
    _refuse_in_spawned_child()
    forget_closed_schedulers()
    _drop_inherited_malloc_trim()
    # Nannies hand this configuration to the worker processes they spawn.
    with dask.config.set(overrides), _hint_missing_main_guard():
        # Given cluster keywords instead of an address, the Client creates its
        # own LocalCluster and owns it: closing the client (or leaving a
        # ``with`` block) closes the workers too.
        client = Client(
            n_workers=n_workers,
            threads_per_worker=threads,
            memory_limit=memory,
            processes=processes,
            # Nothing outside this machine needs to reach a local cluster. TCP also
            # for thread workers: the in-process transport cannot bind to a host.
            host="127.0.0.1",
            protocol="tcp",
            scheduler_port=0,
            dashboard_address="127.0.0.1:0",  # a free port: never fails because 8787 is taken
            silence_logs=logging.ERROR,
            set_as_default=set_as_default,
            **extra,
        )
    keep_restarting_workers(client.cluster)
    return client


def _drop_inherited_malloc_trim() -> None:
    """Undo what an earlier plain Dask LocalCluster left in this process's environment.

    distributed's Nanny copies its pre-spawn environment into ``os.environ`` of the process that starts it
    (``os.environ.update(self.pre_spawn_env)``), so after one ``LocalCluster()`` of Dask's own, every worker
    started later inherits Dask's MALLOC_TRIM_THRESHOLD_, which plsim keeps out (see
    :func:`local_cluster_settings`). Dropped only when it holds Dask's own value, not one the user chose.
    """
    import dask.config

    dasks = dask.config.get("distributed.nanny.pre-spawn-environ", {}).get("MALLOC_TRIM_THRESHOLD_")
    if dasks is not None and os.environ.get("MALLOC_TRIM_THRESHOLD_") == str(dasks):
        del os.environ["MALLOC_TRIM_THRESHOLD_"]


def forget_closed_schedulers() -> None:
    """Let closed in-process schedulers be garbage-collected.

    Two unbounded caches in distributed keep every Scheduler ever started in
    this process alive, with its task states, transition log and dashboard:
    ``distributed.core._expects_comm`` (``functools.cache`` over the servers'
    bound handler methods) and ``distributed.dashboard.scheduler.template_variables``
    (``toolz.memoize`` on the scheduler). ``benchmarks/soak.py`` grew ~0.8 MiB per
    cluster because of them. Both are pure memoization: emptying them only costs a
    recomputation. A no-op if Dask renames them.
    """
    # Only what is already imported: this also runs at exit, when importing is no longer allowed.
    core = sys.modules.get("distributed.core")
    if core is None:
        return
    clear = getattr(getattr(core, "_expects_comm", None), "cache_clear", None)
    if callable(clear):
        clear()
    dashboard = sys.modules.get("distributed.dashboard.scheduler")
    template_variables = getattr(dashboard, "template_variables", None)
    closed = tuple(getattr(core.Status, name) for name in ("closed", "closing", "failed") if hasattr(core.Status, name))
    # toolz.memoize keeps its dict in the wrapper's closure.
    code, closure = getattr(template_variables, "__code__", None), getattr(template_variables, "__closure__", None)
    cells = dict(zip(code.co_freevars, closure)) if code is not None and closure else {}
    cache = getattr(cells.get("cache"), "cell_contents", None)
    if isinstance(cache, dict):
        for scheduler in list(cache):
            if getattr(scheduler, "status", None) in closed:
                cache.pop(scheduler, None)


def keep_restarting_workers(cluster: Any) -> None:
    """Keep a local cluster's nannies when their workers are restarted several times in a row.

    When a worker leaves the scheduler, the LocalCluster closes its nanny for
    good unless a worker of the same name is back ``lost-worker-timeout``
    (15 s) later. A task that runs a worker out of memory gets its worker
    restarted four times (Dask retries it on "new" workers) in about that
    long, so an early removal's check could find the worker down again and
    close the nanny: the run failed with 0 workers left and none ever came
    back (seen with MEM_LIMIT and small memory limits). The nannies of a local
    cluster run in this process and restart their workers themselves, so
    here the check waits an hour.
    """
    import dask.config

    update = getattr(cluster, "_update_worker_status", None)
    if update is None:
        return

    def patient_update(op: str, msg: Any) -> Any:
        with dask.config.set({"distributed.deploy.lost-worker-timeout": "1 hour"}):
            return update(op, msg)

    cluster._update_worker_status = patient_update


def _ignore_interrupt_preload() -> dict[str, list]:
    """Worker keywords adding this module to the configured worker preloads (with their arguments).

    Given to the LocalCluster as worker options (not as a configuration
    override), so workers the nannies restart, or a later ``cluster.scale``
    adds, preload it too.
    """
    import dask.config

    preload = dask.config.get("distributed.worker.preload")
    preload = [preload] if isinstance(preload, str) else list(preload)
    argv = dask.config.get("distributed.worker.preload-argv")
    if not argv:
        argv = [[] for _ in preload]
    elif isinstance(argv[0], str):  # one argument list shared by every preload
        argv = [list(argv) for _ in preload]
    return {"preload": [*preload, __name__], "preload_argv": [*argv, []]}


def dask_setup(worker: Any) -> None:
    """Preload hook: a worker process started by :func:`start_cluster` ignores SIGINT.

    JupyterLab's interrupt button (and a grader's cell timeout) sends SIGINT to
    the kernel's whole process group, and the LocalCluster's worker processes,
    spawned by the kernel, are in it: without this, every worker dies with
    ``KeyboardInterrupt`` and the next cell finds no workers (dask/distributed#1925).
    The interrupted cell still stops (the kernel gets its KeyboardInterrupt) and
    cancels its tasks (:func:`plsim.executor.cancel_on_interrupt`).

    Ignoring the signal, rather than moving the worker to its own process group,
    keeps every way of ending the workers working: closing the cluster, the
    kernel's exit (daemon processes), jupyter's kill of the kernel's process
    group (SIGKILL), and the kernel killed alone (each worker watches a pipe from
    its parent and exits when it closes). Anything a worker starts inherits the
    ignored SIGINT.

    Called by distributed in the worker process (``preload``), never in the kernel.
    """
    if threading.current_thread() is threading.main_thread():  # a worker process runs its loop there
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _quiet_task_failures()


class DropWorkersDied(logging.Filter):
    """Drops the scheduler's "Task ... marked as failed because 4 workers died" line.

    The caller gets the same news as ``KilledWorker`` (explained by :func:`plsim.executor.memory_guard`
    when the workers died of their memory limit).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "workers died" not in str(record.msg)


class _DropComputeFailed(logging.Filter):
    """Drops distributed's ~20-line "Compute Failed" report of a failing task.

    The task's exception reaches the caller anyway (``future.result()`` raises
    it, and plsim adds which task failed); the report only repeats it on stderr.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Compute Failed")


# Set in a worker (and, for thread workers, in this process) while plsim closes its own cluster.
_closing = threading.Event()


class _DropHeartbeatFailures(logging.Filter):
    """While plsim closes its cluster, drops a worker's "Failed to communicate with scheduler during heartbeat".

    A worker still finishing a task when the cluster closes can send its
    heartbeat to a scheduler that has already gone, and distributed logs that
    with two tracebacks (seen when ``close_cluster()`` runs from another thread
    mid-fit). The close is plsim's own, so the failure is expected; at any other
    time (a scheduler lost for real) the report goes through.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_closing.is_set() and "during heartbeat" in str(record.msg))


def _quiet_task_failures() -> None:
    logger = logging.getLogger("distributed.worker")
    for kind in (_DropComputeFailed, _DropHeartbeatFailures):
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())


def _expect_close() -> None:
    """Run on every worker just before plsim closes the cluster (see :class:`_DropHeartbeatFailures`)."""
    _closing.set()


def close_quietly(client: Client) -> None:
    """Close a cluster plsim started; the workers are told first, so their late heartbeats stay quiet."""
    if client.cluster is not None and client.status == "running":
        with contextlib.suppress(Exception):  # best effort: a worker that does not answer in 2 s is not waited for
            client.sync(client._run, _expect_close, on_error="ignore", callback_timeout=2)
    try:
        client.close()
    finally:
        _closing.clear()  # thread workers ran _expect_close in this process


_GUARD_HINT = (
    "A script that starts a plsim cluster must do so under\n\n"
    "    if __name__ == \"__main__\":\n        ...\n\n"
    "Dask starts each worker as a new Python process that imports the script again; without the "
    "guard that import starts another cluster instead of a worker. Notebooks need no guard."
)


def _refuse_in_spawned_child() -> None:
    """Stop a worker process that, importing a script without the guard, tries to start a cluster."""
    import multiprocessing

    # The flag multiprocessing itself checks: this process is still importing its parent's main module.
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(_GUARD_HINT)


@contextlib.contextmanager
def _hint_missing_main_guard() -> Iterator[None]:
    """If the workers fail to start from a script, say what most likely went wrong."""
    try:
        yield
    except Exception as exc:
        main = sys.modules.get("__main__")
        if getattr(main, "__file__", None) and not hasattr(sys, "ps1"):  # a script, not a notebook or REPL
            raise RuntimeError(f"the Dask workers failed to start ({exc!r}). {_GUARD_HINT}") from exc
        raise


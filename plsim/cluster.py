"""The only place in plsim that starts or connects a Dask cluster.

>>> import plsim
>>> client = plsim.start_cluster()          # a LocalCluster sized to this machine
>>> client = plsim.start_cluster()          # running the cell again reuses it
>>> plsim.close_cluster()                   # no worker processes survive

or, so that nothing is left running even when a cell fails::

    with plsim.start_cluster(n_workers=2) as client:
        ...

The kernel's interrupt button (SIGINT to the kernel's whole process group)
stops the cell, not the cluster: worker processes started here ignore SIGINT
(see :func:`dask_setup`), and plsim's runs cancel the tasks they submitted
when interrupted (:func:`cancel_on_interrupt`).

In a Jupyter kernel with ``PLSIM_SESSION_CLUSTER=1`` (``binder/start`` sets
it), every notebook and widget of the student's session shares ONE cluster,
sized once to the allowance: the first ``start_cluster()`` starts it as a
detached process, later ones, in other kernels, join it, and
:func:`close_cluster` (or the kernel's exit) only disconnects; it ends when no
notebook has been connected for a while or the Jupyter server stops
(:mod:`plsim.session_cluster`). ``start_cluster(shared=False)``, or sizing
arguments that differ from the shared cluster's, give a private one.
:func:`is_local_cluster` says whether a client's workers share this machine's
CPUs (a private or the shared cluster), which is what the lessons judge
speedups against.

The same code runs on a real multi-host deployment (``dask scheduler`` plus
``dask worker`` on many machines, dask-jobqueue, Kubernetes): pass
``address="tcp://scheduler:8786"`` or set ``DASK_SCHEDULER_ADDRESS``. On a hub
with a Dask Gateway (``DASK_GATEWAY__ADDRESS`` set, or ``gateway="http://..."``)
it asks the gateway for a cluster instead (:mod:`plsim.gateway`).

What is returned is a plain :class:`dask.distributed.Client`, made Dask's
*default* client (as ``Client(...)`` does by default), so ``executor="auto"``,
``dask.compute`` and :func:`current_client` all find it; plsim keeps no notion
of "current" of its own. Taught in
``notebooks/00_start_here.ipynb`` and ``notebooks/06_scaling_out.ipynb``.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import numbers
import os
import re
import signal
import sys
import threading
import warnings
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plsim.gateway import gateway_address, is_gateway_client, start_gateway_cluster
from plsim.validation import check_positive_int
from plsim.resources import Resources, detect_resources

if TYPE_CHECKING:  # importing distributed takes ~1 s; do it only when a cluster is needed
    from dask.distributed import Client

__all__ = [
    "check_client",
    "worker_threads",
    "start_cluster",
    "close_cluster",
    "cluster_kind",
    "is_local_cluster",
    "current_client",
    "dashboard_link",
    "parse_memory_limit",
    "ClusterConnectionError",
    "LocalDeployment",
    "cancel_on_interrupt",
    "MIN_WORKER_MEMORY",
    "WORKER_TASK_MEMORY",
    "WORKER_PEAK_MEMORY",
    "DataTooLargeError",
    "WorkerMemoryError",
    "check_data_fits",
    "explain_worker_loss",
    "memory_guard",
]

# Fraction of the memory allowance handed to workers; the rest is for the
# notebook kernel, the scheduler and the browser-facing Jupyter server.
WORKER_MEMORY_FRACTION = 0.8
DEFAULT_CONNECT_TIMEOUT = 5.0
MiB = 2**20
# What one worker holds while it runs plsim's tasks, measured with
# benchmarks/bench_worker_memory.py (resident set size of the worker process,
# psutil, largest of repeated fresh clusters; Linux x86-64, Python 3.11,
# distributed 2026.8, scikit-learn 1.9, numpy 2.4): 64 MiB fresh, 149 MiB once
# plsim, numpy and scikit-learn are imported, 151 MiB after fitting one bagged
# tree on the 02_ensembles data, 151.4 MiB after one federated round (FedAvg,
# an MLP on digits); rounded up. That much stays held between tasks.
WORKER_TASK_MEMORY = 152 * MiB
# The worker's peak over that run (ru_maxrss): 176-186.4 MiB, rounded up.
# Transient, but the nanny samples RSS every 100 ms and may catch it.
WORKER_PEAK_MEMORY = 187 * MiB
# The smallest memory limit start_cluster accepts per worker. Dask pauses a
# worker at 80 % of its limit (distributed.worker.memory.pause) and restarts it
# at 95 %: holding 152 MiB needs 152 / 0.8 = 190 MiB, peaking at 187 MiB needs
# 187 / 0.95 = 197 MiB; rounded up with about 14 % to spare.
MIN_WORKER_MEMORY = 224 * MiB

_ADDRESS_RE = re.compile(r"^(?:(tcp|tls|inproc|ucx|ws|wss)://)?[\w.\-\[\]:]+:\d+$")


class ClusterConnectionError(ConnectionError):
    """No Dask scheduler answered at the given address."""


class WorkerMemoryError(MemoryError):
    """A Dask worker ran out of memory (its nanny restarted it), or no worker fits in the allowance.

    A ``MemoryError``: the work did not fit the memory there was. The message
    says the worker's memory limit and what to shrink.
    """


class DataTooLargeError(ValueError):
    """Data refused before it is sent: it would not fit in a worker's memory.

    A ``ValueError``, not a ``MemoryError``: nothing ran out of memory yet; the
    value passed (the data) is too large for this cluster, which is known up
    front, and the fix is to pass something else (less data) or to size the
    cluster differently. Attributes give the numbers: ``nbytes`` (the data),
    ``memory_limit`` (the smallest worker's limit) and ``room`` (what such a
    worker can hold besides plsim's own tasks).
    """

    def __init__(self, message: str, *, nbytes: int, memory_limit: int, room: int) -> None:
        super().__init__(message)
        self.nbytes, self.memory_limit, self.room = nbytes, memory_limit, room

    def __reduce__(self) -> tuple:
        return _data_too_large, (str(self), self.nbytes, self.memory_limit, self.room)


def _data_too_large(message: str, nbytes: int, memory_limit: int, room: int) -> DataTooLargeError:
    return DataTooLargeError(message, nbytes=nbytes, memory_limit=memory_limit, room=room)


@dataclass(frozen=True)
class _Request:
    """What a start_cluster call asked for; equal requests reuse the running cluster."""

    address: str | None
    gateway: str | None
    n_workers: int | None
    threads_per_worker: int | None
    memory_limit: Any
    processes: bool
    session: str | None = None   # the key of the session's shared cluster it joined, if it did


# The clients plsim opened and must close (at close_cluster or at exit), with what each was asked for.
# Not a notion of "current": that is always Dask's default client. A strong reference on purpose:
# Dask keeps its default clients weakly, and `plsim.start_cluster()` called without keeping the
# result must not have its cluster garbage-collected under the next cell.
_opened: list[tuple[Client, _Request]] = []


def parse_memory_limit(memory_limit: str | int | float | None) -> int | None:
    """Bytes from ``"2GB"``, ``"512 MiB"``, ``2e9`` or ``None`` (automatic).

    Raises
    ------
    ValueError
        If the value is not a positive size.
    """
    if memory_limit is None:
        return None
    if isinstance(memory_limit, bool):
        raise TypeError(f"memory_limit={memory_limit!r} is a bool; give bytes or a string like '2GB'")
    if isinstance(memory_limit, numbers.Real):
        value = float(memory_limit)
    elif isinstance(memory_limit, str):
        from dask.utils import parse_bytes

        try:
            value = float(parse_bytes(memory_limit))
        except (ValueError, TypeError, KeyError):
            raise ValueError(
                f"memory_limit={memory_limit!r} is not a memory size; "
                "use bytes or a string such as '2GB' or '512MiB'"
            ) from None
    else:
        raise TypeError(
            f"memory_limit must be bytes (int) or a string such as '2GB', got {type(memory_limit).__name__}"
        )
    if not value > 0 or value != value:
        raise ValueError(f"memory_limit={memory_limit!r} must be a positive size such as '2GB'")
    if value < MIN_WORKER_MEMORY:
        raise ValueError(
            f"memory_limit={memory_limit!r} ({_mib(value)}) is below the {_mib(MIN_WORKER_MEMORY)} a plsim "
            f"worker needs: a worker holds about {_mib(WORKER_TASK_MEMORY)} once plsim, numpy and scikit-learn "
            f"are loaded and a model is fitted, peaking at {_mib(WORKER_PEAK_MEMORY)} (measured), and Dask "
            "pauses a worker at 80 % of its limit and restarts it at 95 %. "
            f"Give at least memory_limit='{MIN_WORKER_MEMORY // MiB}MiB', or leave it None to size it automatically"
        )
    return int(value)


def _mib(nbytes: float) -> str:
    # Small sizes keep their digits: data of 0.3 MiB must not read "0 MiB" next to a limit.
    mib = nbytes / MiB
    return f"{mib:,.0f} MiB" if mib >= 10 else f"{mib:.2g} MiB"


def _check_address(address: Any) -> str:
    if not isinstance(address, str) or not _ADDRESS_RE.match(address.strip()):
        raise ValueError(
            f"address={address!r} is not a Dask scheduler address; "
            "expected something like 'tcp://10.0.0.5:8786' or '127.0.0.1:8786'"
        )
    return address.strip()


def dashboard_link(client: Client, environ: Mapping[str, str] | None = None) -> str | None:
    """A dashboard URL that opens from the user's browser.

    Locally this is ``http://127.0.0.1:<port>/status``. Behind JupyterHub or
    Binder the browser cannot reach the worker node's ports, only the
    notebook server, which forwards ``<prefix>proxy/<port>/`` (jupyter-server-proxy).
    So when ``JUPYTERHUB_SERVICE_PREFIX`` is set, the link goes through it, unless
    the user configured ``distributed.dashboard.link`` themselves.
    """
    import dask.config

    environ = os.environ if environ is None else environ
    if getattr(client, "cluster", None) is not None and not _dashboard_available():
        return None  # a local cluster without bokeh serves no dashboard
    try:
        link = client.dashboard_link
    except Exception:  # no dashboard (bokeh missing) or scheduler without HTTP
        return None
    if not link:
        return None
    prefix = environ.get("JUPYTERHUB_SERVICE_PREFIX")
    default_template = "{scheme}://{host}:{port}/status"
    user_template = dask.config.get("distributed.dashboard.link", default_template)
    if prefix and user_template == default_template:
        match = re.search(r":(\d+)(/|$)", link.split("//", 1)[-1])
        if match:
            return f"{prefix.rstrip('/')}/proxy/{match.group(1)}/status"
    return link


def current_client() -> Client | None:
    """Dask's current default client if it is open (the cluster :func:`start_cluster` made, or any default one)."""
    from distributed.client import default_client

    try:
        client = default_client()
    except ValueError:  # no client made as default in this process
        return None
    return client if client.status in ("running", "connecting", "newly-created") else None


def _request_of(client: Client | None) -> _Request | None:
    """What ``client`` was asked for, if plsim opened it and it is still open; else None."""
    _forget_closed_clients()
    return next((request for opened, request in _opened if opened is client), None)


def _forget_closed_clients() -> None:
    _opened[:] = [(c, r) for c, r in _opened if c.status not in ("closed", "closing")]


def _dashboard_available() -> bool:
    # The dashboard needs bokeh (the `notebooks` extra); without it there is no page to link to.
    return importlib.util.find_spec("bokeh") is not None


def start_cluster(
    n_workers: int | None = None,
    *,
    threads_per_worker: int | None = None,
    memory_limit: str | int | None = None,
    address: str | None = None,
    processes: bool = True,
    timeout: float = DEFAULT_CONNECT_TIMEOUT,
    quiet: bool = False,
    resources: Resources | None = None,
    set_as_default: bool = True,
    gateway: str | bool | None = None,
    shared: bool | None = None,
) -> Client:
    """Start a LocalCluster sized to this machine, or connect to a running scheduler or a Dask Gateway.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes. Default: the usable CPUs (cgroup quota, affinity,
        ``CPU_LIMIT``), not ``os.cpu_count()``. More than that works but warns.
    threads_per_worker : int, optional
        Threads per worker (default 1: one busy Python thread per process, so
        the GIL does not serialise the work).
    memory_limit : str or int, optional
        Per-worker limit such as ``"1GB"``. Default: 80 % of the memory
        allowance (``MEM_LIMIT``, cgroup, RAM) split evenly over the workers.
    address : str, optional
        Connect to this scheduler instead of starting one. Default: Dask's
        ``scheduler-address`` setting (``DASK_SCHEDULER_ADDRESS``), if any.
    processes : bool
        Workers as processes (default) or as threads in this process.
    timeout : float
        Seconds to wait for a remote scheduler before giving up.
    quiet : bool
        Do not print the one-line summary.
    resources : Resources, optional
        Override the detected allowance (used by tests and ``plsim info``).
    set_as_default : bool
        Make the client Dask's default (default True): what ``executor="auto"``,
        :func:`current_client` and :func:`close_cluster` act on. ``False``
        starts a cluster beside the default one that later ``start_cluster``
        calls neither reuse nor replace (a test session's shared cluster);
        close it yourself (``client.close()`` or ``with``).
    gateway : str or bool, optional
        A Dask Gateway to ask for a cluster (``n_workers`` workers, default 2,
        of ``threads_per_worker`` threads): its ``http(s)://`` address, or
        ``True`` for Dask's ``gateway.address`` setting. Default (None): that
        setting if the hub set one (``DASK_GATEWAY__ADDRESS``) and no scheduler
        ``address`` is given; ``False``: never. Needs ``pip install "plsim[hub]"``.
        Closing the client shuts the gateway cluster down.
    shared : bool, optional
        Use the student session's one shared cluster (:mod:`plsim.session_cluster`):
        join it, or start it if no notebook of this Jupyter server has. Default
        (None): in a Jupyter kernel when ``PLSIM_SESSION_CLUSTER=1`` (set by
        ``binder/start``), else not. ``False``: a private cluster for this
        notebook. Sizing arguments that differ from the shared cluster's
        (which is sized as ``start_cluster()`` sizes one) give a private
        cluster, with a note saying so; with ``shared=True`` they are an error.

    Returns
    -------
    dask.distributed.Client
        Use it as a context manager or close it with :func:`close_cluster`.
        Calling ``start_cluster`` again with the same arguments returns the
        same client rather than stacking a second cluster on the first; with
        other arguments it closes the default cluster it started before. For
        the session's shared cluster, closing only disconnects this notebook.
    """
    import dask.config

    n_workers = check_positive_int("n_workers", n_workers, allow_none=True)
    threads_per_worker = check_positive_int("threads_per_worker", threads_per_worker, allow_none=True)
    for flag, value in (("processes", processes), ("set_as_default", set_as_default)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag} must be True or False, got {value!r}")
    if shared is not None and not isinstance(shared, bool):
        raise TypeError(f"shared must be True, False or None (the environment decides), got {shared!r}")
    if not (isinstance(timeout, numbers.Real) and timeout > 0):
        raise ValueError(f"timeout={timeout!r} must be a positive number of seconds")
    per_worker_memory = parse_memory_limit(memory_limit)
    if address is None:
        address = dask.config.get("scheduler-address", None) or None
    gateway_at = gateway_address(gateway)
    if address is not None and gateway_at is not None:
        if gateway not in (None, False):
            raise ValueError(f"address={address!r} and gateway={gateway!r}: give a scheduler address or a "
                             "gateway, not both")
        gateway_at = None   # an explicit scheduler address wins over the hub's gateway setting
    if gateway_at is not None and (memory_limit is not None or not processes):
        warnings.warn("memory_limit and processes size a LocalCluster; the gateway sizes its own workers",
                      UserWarning, stacklevel=2)
    if address is not None:
        address = _check_address(address)
        if n_workers is not None or memory_limit is not None or threads_per_worker is not None:
            warnings.warn(
                "n_workers, threads_per_worker and memory_limit size a LocalCluster; they are "
                f"ignored when connecting to the existing scheduler at {address}",
                UserWarning,
                stacklevel=2,
            )

    plan, private_note = None, None
    if address is None and gateway_at is None:
        plan, private_note = _session_plan(shared, n_workers, threads_per_worker, memory_limit, per_worker_memory,
                                           processes, resources)
    elif shared:
        raise ValueError(f"shared=True uses this session's local cluster; address={address!r} / "
                         f"gateway={gateway_at!r} connect elsewhere: give one or the other (gateway=False "
                         "ignores the hub's gateway)")
    if plan is not None:
        request = _Request(None, None, plan.n_workers, plan.threads_per_worker, plan.memory_limit, True, plan.key)
    else:
        request = _Request(address, gateway_at, n_workers, threads_per_worker, memory_limit, processes)
    running = current_client() if set_as_default else None
    running_request = _request_of(running)
    if running_request is not None:  # the default client is one plsim opened: reuse or replace it
        if request == running_request:
            if not quiet:
                print(f"plsim: reusing the running cluster ({_summary(running)})")
            return running
        close_cluster()

    started = False
    if plan is not None:
        from plsim.session_cluster import START_TIMEOUT, join_or_start

        client, started = join_or_start(plan, set_as_default=set_as_default, timeout=max(timeout, START_TIMEOUT))
    elif address is not None:
        client = _connect(address, timeout, set_as_default)
    elif gateway_at is not None:
        client = start_gateway_cluster(gateway_at, n_workers=n_workers, threads_per_worker=threads_per_worker,
                                       timeout=timeout, set_as_default=set_as_default)
    else:
        res = resources or detect_resources()
        workers = n_workers or res.cpus
        if workers > res.cpus:
            warnings.warn(
                f"n_workers={workers} exceeds the {res.cpus} usable CPU(s) ({res.cpu_source}); "
                "the workers will share CPUs and parallel speedups will not show",
                UserWarning,
                stacklevel=2,
            )
        if per_worker_memory is None:
            workers, per_worker_memory, note = _fit_workers_in_memory(workers, res)
            if note:
                warnings.warn(note, UserWarning, stacklevel=2)
        client = _start_local(workers, threads_per_worker or 1, per_worker_memory, processes, set_as_default)

    _opened.append((client, request))
    if not quiet:
        if plan is not None:
            print(f"plsim: {_summary(client)}; {_how_shared(client, started)}")
        else:
            print(f"plsim: {_summary(client)}" + (f"; {private_note}" if private_note else ""))
    return client


def _session_plan(shared: bool | None, n_workers: int | None, threads_per_worker: int | None, memory_limit: Any,
                  per_worker_memory: int | None, processes: bool,
                  resources: Resources | None) -> tuple[Any, str | None]:
    """``(the session's cluster plan, None)`` to join it, or ``(None, why this one is private)``.

    ``(None, None)`` when the session's cluster is not wanted at all.
    """
    from plsim.session_cluster import plan_session, session_wanted

    if not session_wanted(shared):
        return None, None
    if os.name != "posix":
        if shared:
            raise ValueError("shared=True needs a POSIX system (Linux, macOS): the session's cluster is found "
                             "through a file lock; pass shared=False")
        return None, None
    plan = plan_session(resources or detect_resources())
    differ = [f"{name}={value!r}" for name, value, given, planned in (
        ("n_workers", n_workers, n_workers, plan.n_workers),
        ("threads_per_worker", threads_per_worker, threads_per_worker, plan.threads_per_worker),
        ("memory_limit", memory_limit, per_worker_memory, plan.memory_limit),
    ) if given is not None and given != planned]
    if not processes:
        differ.append("processes=False (thread workers live inside this kernel)")
    if not differ:
        return plan, None
    why = f"{', '.join(differ)} differ from this session's shared cluster ({plan.describe()})"
    if shared:
        raise ValueError(f"shared=True, but {why}: leave those arguments out to join the shared cluster, "
                         "or pass shared=False for a private one")
    return None, (f"a private cluster for this notebook: {why}. It takes its memory from the same allowance as "
                  "the shared one; plsim.start_cluster() without sizing arguments joins the shared cluster")


def _how_shared(client: Client, started: bool) -> str:
    """How the session's cluster is shared, for the one-line summary."""
    from plsim.session_cluster import connected_clients

    if started:
        return "started for this session: other notebooks and widgets join it, and it ends when none is connected"
    connected = connected_clients(client)   # this notebook's connection included
    if connected is None:
        return "joined: other notebooks of this session share it"
    if connected <= 1:
        return "joined: no other notebook is connected to it now"
    return f"joined: {connected - 1} other connection(s) (notebooks, widgets' kernels) share it now"


def _fit_workers_in_memory(wanted: int, res: Resources) -> tuple[int, int, str | None]:
    """``(workers, memory per worker, note)``: as many of ``wanted`` workers as the allowance feeds.

    Workers share ``WORKER_MEMORY_FRACTION`` of the allowance evenly; each needs
    ``MIN_WORKER_MEMORY``. Fewer workers that can run beat more that die (with
    ``MEM_LIMIT=300000000`` two workers of 114 MiB each died on their first fit).
    ``note`` says why fewer workers start, or is None.
    """
    budget = int(res.memory_bytes * WORKER_MEMORY_FRACTION)
    fit = budget // MIN_WORKER_MEMORY
    why = (f"{WORKER_MEMORY_FRACTION:.0%} of the {_mib(res.memory_bytes)} memory allowance ({res.memory_source}) "
           f"is {_mib(budget)} for the workers, and each needs at least {_mib(MIN_WORKER_MEMORY)} "
           f"(plsim.cluster.MIN_WORKER_MEMORY, measured)")
    if fit < 1:
        raise WorkerMemoryError(
            f"not enough memory for one Dask worker: {why}. Run without a cluster (executor=None), "
            f"raise the allowance, or pass memory_limit='{MIN_WORKER_MEMORY // MiB}MiB' or more if "
            "this machine really has it"
        )
    workers = min(wanted, fit)
    note = None if workers == wanted else f"starting {workers} worker(s), not {wanted}: {why}"
    return workers, budget // workers, note


def _local_cluster_settings(processes: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(configuration overrides, worker keywords)`` of every LocalCluster plsim starts, private or shared.

    Used here and by the session's cluster process (:mod:`plsim.session_cluster`).
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


def _start_local(n_workers: int, threads: int, memory: int, processes: bool, set_as_default: bool = True) -> Client:
    import dask.config
    from dask.distributed import Client

    overrides, extra = _local_cluster_settings(processes)
    if not processes:  # thread workers log in this process
        _quiet_task_failures()
    scheduler_log = logging.getLogger("distributed.scheduler")  # a local scheduler runs in this process
    if not any(isinstance(f, _DropWorkersDied) for f in scheduler_log.filters):
        scheduler_log.addFilter(_DropWorkersDied())
    _refuse_in_spawned_child()
    _forget_closed_schedulers()
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
    _keep_restarting_workers(client.cluster)
    return client


def _forget_closed_schedulers() -> None:
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


def _keep_restarting_workers(cluster: Any) -> None:
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
    cancels its tasks (:func:`cancel_on_interrupt`).

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


class _DropWorkersDied(logging.Filter):
    """Drops the scheduler's "Task ... marked as failed because 4 workers died" line.

    The caller gets the same news as ``KilledWorker`` (explained by :func:`memory_guard`
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


def _close_quietly(client: Client) -> None:
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


def _connect(address: str, timeout: float, set_as_default: bool = True) -> Client:
    from dask.distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=set_as_default)
    except (OSError, TimeoutError) as exc:
        raise ClusterConnectionError(
            f"no Dask scheduler answered at address={address!r} within {timeout:g} s. "
            "Start one with `dask scheduler` (and `dask worker <address>` on each host), "
            "or check the address and firewall."
        ) from exc


def check_client(client: Any, *, what: str, instead: str | None = None) -> Client:
    """``client`` if it is a dask.distributed.Client that is still connected; else a clear error for ``what``.

    A notebook rerun out of order hands a closed client (``plsim.close_cluster()`` ran
    further down) or ``None`` to a function that measures the cluster itself; Dask
    would fail deep inside with ``ClosedClientError`` or ``AttributeError``.
    """
    if not (callable(getattr(client, "submit", None)) and callable(getattr(client, "scatter", None))):
        alternative = f", or use {instead}" if instead else ""
        raise TypeError(f"client={client!r} ({type(client).__name__}) is not a dask.distributed.Client: {what} "
                        f"runs on a cluster; pass the one plsim.start_cluster() returned{alternative}")
    status = getattr(client, "status", "running")
    if status not in ("running", "connecting", "newly-created"):
        raise ValueError(f"client={client!r} is {status}; start a cluster with plsim.start_cluster()")
    return client


def worker_threads(client: Client) -> dict[str, int]:
    """``{worker address: threads}`` of the client's workers, asked of the scheduler now.

    Not ``client.scheduler_info()["workers"]``: that returns a cache which the
    client's own periodic refresh (every 2 s, totals only) can overwrite with an
    empty ``"workers"`` between the fresh fetch and the return, so a busy
    cluster would now and then look as if it had no workers (seen in the test suite).
    """
    return dict(client.nthreads())


def _worker_memory_limits(client: Client) -> dict[str, int]:
    """``{worker address: memory limit in bytes}`` asked of the scheduler now; 0 means no limit."""
    identity = client.sync(client.scheduler.identity, n_workers=-1)
    return {address: int(info.get("memory_limit") or 0) for address, info in identity["workers"].items()}


def _pause_fraction() -> float:
    """Share of its limit at which Dask pauses a worker (``distributed.worker.memory.pause``), else 1."""
    import dask.config

    for key in ("distributed.worker.memory.pause", "distributed.worker.memory.terminate"):
        fraction = dask.config.get(key, False)
        if fraction:
            return float(fraction)
    return 1.0


def _terminate_fraction() -> float:
    """Share of its limit at which a nanny restarts its worker (``distributed.worker.memory.terminate``)."""
    import dask.config

    return float(dask.config.get("distributed.worker.memory.terminate", 0.95) or 0.95)


def check_data_fits(client: Client | None, nbytes: int, *, what: str) -> None:
    """Refuse, before anything is sent, data that a worker of ``client`` cannot hold.

    Call it where plsim ships data to the workers (``client.scatter``), with
    the bytes one worker will hold at once: the whole array when it is
    broadcast to every worker, the largest piece when pieces go to different
    workers. A worker can hold what is left of its memory limit once plsim's
    own tasks have taken theirs (measured): below the point where Dask pauses
    it (80 %) with ``WORKER_TASK_MEMORY`` held, and below the point where its
    nanny restarts it (95 %) at the tasks' ``WORKER_PEAK_MEMORY``; the
    smallest worker counts. Passing is
    no guarantee (a task also makes working copies, e.g. a bootstrap sample);
    a worker that still runs out is reported by :func:`memory_guard`.
    Taught in ``notebooks/00_start_here.ipynb``.

    Parameters
    ----------
    client : dask.distributed.Client or None
        ``None`` (work runs in this process), a cluster without workers, or
        workers without a memory limit: nothing to check.
    nbytes : int
        Bytes one worker will hold, e.g. ``X.nbytes + y.nbytes``.
    what : str
        The data, as the user knows it, for the message (e.g. ``"the training data X, y"``).

    Raises
    ------
    DataTooLargeError
        A ``ValueError`` naming the data's size, the worker's memory limit,
        the room it has, and what to shrink.
    TypeError, ValueError
        ``nbytes`` is not a non-negative integer or ``what`` not a string.
    """
    if isinstance(nbytes, bool) or not isinstance(nbytes, numbers.Integral):
        raise TypeError(f"nbytes must be an integer number of bytes, got {type(nbytes).__name__} {nbytes!r}")
    if nbytes < 0:
        raise ValueError(f"nbytes={nbytes!r} must be a number of bytes >= 0")
    if not isinstance(what, str) or not what:
        raise TypeError(f"what must be a non-empty string naming the data, got {what!r}")
    if client is None:
        return
    limits = [limit for limit in _worker_memory_limits(client).values() if limit > 0]
    if not limits:
        return
    smallest = min(limits)
    pause = _pause_fraction()
    room = max(min(int(smallest * pause) - WORKER_TASK_MEMORY,
                   int(smallest * _terminate_fraction()) - WORKER_PEAK_MEMORY), 0)
    if nbytes > room:
        raise DataTooLargeError(
            f"{what} is {_mib(nbytes)}, more than a worker can hold: a worker's memory limit is "
            f"{_mib(smallest)}, Dask pauses it at {pause:.0%} ({_mib(smallest * pause)}) and restarts it at "
            f"{_terminate_fraction():.0%}, and plsim's own tasks hold about {_mib(WORKER_TASK_MEMORY)} "
            f"(peaks of {_mib(WORKER_PEAK_MEMORY)}, measured), which leaves {_mib(room)}. "
            f"Shrink {what} (fewer rows or features, a smaller dataset) or give each worker more memory: "
            "plsim.start_cluster(n_workers=<fewer>, memory_limit=<more>)",
            nbytes=int(nbytes), memory_limit=smallest, room=room,
        )


_RESTART_TOPIC = "worker-restart-memory"  # the event a nanny logs when it restarts its worker for memory


def _memory_restarts(client: Client) -> list[tuple[float, dict]]:
    """The scheduler's record of workers its nannies restarted for going over their memory limit."""
    return [(stamp, dict(event)) for stamp, event in client.get_events(_RESTART_TOPIC)]


@dataclass(frozen=True)
class _Before:
    """What :func:`memory_guard` saw at the start of its block."""

    restarts: list
    limits: list


def _memory_limits_or_none(client: Client) -> list[int] | None:
    """The workers' memory limits; for a local cluster whose worker is restarting, the limits it was given."""
    try:
        limits = [limit for limit in _worker_memory_limits(client).values() if limit > 0]
    except Exception:
        limits = []
    spec = getattr(getattr(client, "cluster", None), "worker_spec", None) or {}
    limits = limits or [int(s.get("options", {}).get("memory_limit") or 0) for s in spec.values()]
    return [limit for limit in limits if limit > 0] or None


def _lost_a_worker(exc: BaseException) -> bool:
    import asyncio
    import concurrent.futures

    from distributed import KilledWorker

    # KilledWorker: the task's workers died too often; CancelledError: data a task needed was on
    # a worker that died (scattered data cannot be recomputed), or the run was cancelled.
    # Also when plsim wrapped it (``raise RuntimeError("member 3 ...") from exc``).
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, (KilledWorker, asyncio.CancelledError, concurrent.futures.CancelledError)):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def explain_worker_loss(
    exc: BaseException, client: Client | None, *, what: str = "the run", since: Any = None,
) -> WorkerMemoryError | None:
    """A clear :class:`WorkerMemoryError` for ``exc`` if it came from a worker restarted for memory, else None.

    When a worker goes over 95 % of its memory limit its nanny restarts it
    ("Worker ... exceeded 95% memory budget. Restarting...") and logs a
    ``worker-restart-memory`` event on the scheduler. The run then fails with
    Dask's ``KilledWorker`` (the task killed its workers too often) or a
    ``CancelledError`` (data on the restarted worker is gone), which say
    neither why nor what to do. Given such an exception, this looks for those
    events and, if there are any, returns the error to raise instead (raise it
    ``from exc``). Usually called through :func:`memory_guard`.

    Parameters
    ----------
    exc : BaseException
        What the run raised.
    client : dask.distributed.Client or None
    what : str
        The run, as the user knows it, for the message (e.g. ``"the ensemble fit"``).
    since : optional
        Restarts recorded before the run (what :func:`memory_guard` passes);
        they are not counted. Default: every restart the scheduler remembers.
    """
    import time

    if (client is None or isinstance(exc, (WorkerMemoryError, KeyboardInterrupt))
            or not _lost_a_worker(exc)):
        return None
    seen = {repr(event) for event in getattr(since, "restarts", since) or ()}
    deadline = time.monotonic() + 2.0  # the nanny's event may reach the scheduler after the failure
    while True:
        try:
            restarts = [event for event in _memory_restarts(client) if repr(event) not in seen]
        except Exception:  # the scheduler is gone: nothing to learn
            return None
        if restarts or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if not restarts:
        return None
    limits = _memory_limits_or_none(client) or list(getattr(since, "limits", ()))
    peak = max(int(event.get("rss", 0)) for _, event in restarts)
    limit = f"its memory limit of {_mib(min(limits))}" if limits else "its memory limit"
    return WorkerMemoryError(
        f"{what} ran out of memory on a Dask worker: a worker went over {_terminate_fraction():.0%} of {limit} "
        f"(it held {_mib(peak)}) and was restarted, {len(restarts)} time(s), so {what} could not finish. "
        "Shrink it: fewer or smaller models (n_estimators, max_depth, hidden layers), fewer clients or "
        "rounds at once, less data (fewer rows or features); or give each worker more memory: "
        "plsim.start_cluster(n_workers=<fewer>, memory_limit=<more>)"
    )


@contextlib.contextmanager
def memory_guard(client: Client | None, *, what: str = "the run") -> Iterator[None]:
    """Turn a worker lost to its memory limit inside this block into a clear :class:`WorkerMemoryError`.

    ``with memory_guard(client, what="the ensemble fit"): ...`` -- if the block
    fails because a worker went over its memory limit and was restarted
    (Dask's ``KilledWorker`` or a ``CancelledError`` for lost data), the error
    raised says so, gives the worker's memory limit and what to shrink; the
    original exception is its ``__cause__``. Any other exception, and a worker
    lost for another reason, pass through unchanged. ``client=None`` does
    nothing. See :func:`explain_worker_loss`.
    """
    if not isinstance(what, str) or not what:
        raise TypeError(f"what must be a non-empty string naming the run, got {what!r}")
    if client is None:
        yield
        return
    try:  # what the scheduler knows now: a restarted worker may not be back when the block fails
        before = _Before(_memory_restarts(client), _memory_limits_or_none(client) or [])
    except Exception:  # scheduler unreachable: the block will find out itself
        before = None
    try:
        yield
    except BaseException as exc:
        explained = explain_worker_loss(exc, client, what=what, since=before)
        if explained is None:
            raise
        raise explained from exc


def _summary(client: Client) -> str:
    workers = worker_threads(client)
    threads = sum(workers.values())
    where = {"local": "local", "session": "shared session", "gateway": "gateway", "remote": "remote"}[
        cluster_kind(client)]
    link = dashboard_link(client)
    dash = f", dashboard {link}" if link else ""
    limits = sorted(set(_memory_limits_or_none(client) or []))
    memory = f", memory limit {' / '.join(_mib(limit) for limit in limits)} per worker" if limits else ""
    return (f"{where} cluster at {client.scheduler.address} with {len(workers)} workers / {threads} threads"
            f"{memory}{dash}")


def cluster_kind(client: Client) -> str:
    """Where ``client``'s workers run: ``"local"``, ``"session"``, ``"gateway"`` or ``"remote"``.

    ``"local"``: a cluster this process started (its workers on this machine);
    ``"session"``: the student session's shared cluster (:mod:`plsim.session_cluster`),
    also on this machine, though its client, connected by address, has no
    ``client.cluster``; ``"gateway"``: a Dask Gateway's cluster (workers on
    other pods); ``"remote"``: a scheduler plsim connected to by address.
    """
    from plsim.session_cluster import is_session_client

    if is_session_client(client):
        return "session"
    if getattr(client, "cluster", None) is None:
        return "remote"
    return "gateway" if is_gateway_client(client) else "local"


def is_local_cluster(client: Client) -> bool:
    """True when ``client``'s workers share this machine's CPUs: a local or the session's shared cluster.

    Measured speedups are judged against the usable CPUs here
    (:func:`plsim.speedup.cluster_cpus`) exactly when this holds; a remote or
    gateway cluster's workers are counted by their threads instead.
    """
    return cluster_kind(client) in ("local", "session")


def close_cluster() -> None:
    """Close the default cluster plsim started (its worker processes end), or disconnect from a remote one.

    The session's shared cluster is only disconnected from: other notebooks
    may be using it, and it ends by itself when none is connected.

    A default client plsim did not open (a ``Client`` made by the user) is
    left alone. Afterwards Dask's default client is whichever default client
    is still open, if any (Dask's own rule).
    """
    client = current_client()
    if client is not None and _request_of(client) is not None:
        _opened[:] = [(c, r) for c, r in _opened if c is not client]
        _close_quietly(client)
    _forget_closed_schedulers()


def _close_all_opened() -> None:
    """At exit: close every cluster plsim opened, default or not, so no worker process survives."""
    while _opened:
        client, _ = _opened.pop()
        if client.status != "closed":
            with contextlib.suppress(Exception):
                _close_quietly(client)
    _forget_closed_schedulers()


atexit.register(_close_all_opened)


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


class LocalDeployment:
    """A multi-process Dask deployment on this machine, started the way real clusters are.

    ``dask scheduler`` and ``n_workers`` separate ``dask worker`` processes on
    127.0.0.1 — the same commands an administrator runs on many hosts. Used by
    ``notebooks/06_scaling_out.ipynb`` to show that only the scheduler address
    changes; close it (or use ``with``) to end every process.

    Parameters
    ----------
    n_workers : int
        Worker processes to start.
    nthreads : int
        Threads per worker.
    memory_limit : str or int, optional
        Each worker's ``--memory-limit``. By default the workers share the memory
        allowance (``MEM_LIMIT``, cgroup, RAM) as :func:`start_cluster` shares it:
        a ``dask worker`` left to itself claims the whole machine's memory, so
        under Binder's 2 GiB each would believe it had the host's RAM and be
        killed before Dask could spill or plsim could say the data is too large.
        Fewer workers start, with a warning, when the allowance cannot feed them all.
    timeout : float
        Seconds to wait for the scheduler and all workers to come up.
    """

    def __init__(self, n_workers: int = 2, *, nthreads: int = 1, memory_limit: str | int | None = None,
                 timeout: float = 60.0) -> None:
        import shutil
        import socket
        import subprocess
        import sys

        self.n_workers = check_positive_int("n_workers", n_workers)
        nthreads = check_positive_int("nthreads", nthreads)
        per_worker_memory = parse_memory_limit(memory_limit)
        if per_worker_memory is None:
            self.n_workers, per_worker_memory, note = _fit_workers_in_memory(self.n_workers, detect_resources())
            if note:
                warnings.warn(note, UserWarning, stacklevel=2)
        self.memory_limit = per_worker_memory
        dask_cli = shutil.which("dask", path=os.path.dirname(sys.executable)) or shutil.which("dask")
        if dask_cli is None:
            raise RuntimeError("the `dask` command (installed with distributed) was not found on PATH")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        env = {**os.environ, "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "error"}
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
        self._processes: list[subprocess.Popen] = []
        try:
            self._processes.append(subprocess.Popen(
                [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                 "--dashboard-address", "127.0.0.1:0"], **quiet))
            for _ in range(self.n_workers):
                self._processes.append(subprocess.Popen(
                    [dask_cli, "worker", self.address, "--nthreads", str(nthreads), "--no-dashboard",
                     "--host", "127.0.0.1", "--memory-limit", str(per_worker_memory)], **quiet))
            self._wait_until_ready(timeout)
        except BaseException:
            self.close()
            raise

    def _wait_until_ready(self, timeout: float) -> None:
        from dask.distributed import Client

        with Client(self.address, timeout=timeout, set_as_default=False) as probe:
            probe.wait_for_workers(self.n_workers, timeout=timeout)

    @property
    def pids(self) -> list[int]:
        """Process ids of the scheduler and the workers."""
        return [p.pid for p in self._processes]

    def close(self) -> None:
        """Terminate the workers, then the scheduler; kill what does not stop in time."""
        import subprocess

        for process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> LocalDeployment:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"LocalDeployment(address={self.address!r}, n_workers={self.n_workers}, "
                f"memory_limit={_mib(self.memory_limit)} per worker)")

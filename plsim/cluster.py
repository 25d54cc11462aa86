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
(see :func:`plsim.local_cluster.dask_setup`), and plsim's runs cancel the tasks
they submitted when interrupted (:func:`plsim.executor.cancel_on_interrupt`).
Guarding a run on the cluster (its memory, its interrupt) is the executor's
job (:mod:`plsim.executor`); this module starts, connects, sizes and closes.

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
import numbers
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plsim.i18n import _
from plsim.gateway import gateway_address, is_gateway_client, start_gateway_cluster
from plsim.local_cluster import close_quietly, forget_closed_schedulers, start_local
from plsim.validation import check_positive_int
from plsim.resources import Resources, detect_resources

if TYPE_CHECKING:  # importing distributed takes ~1 s; do it only when a cluster is needed
    from dask.distributed import Client

__all__ = [
    "start_cluster",
    "close_cluster",
    "cluster_kind",
    "is_local_cluster",
    "current_client",
    "dashboard_link",
    "parse_memory_limit",
    "ClusterConnectionError",
    "MIN_WORKER_MEMORY",
    "WORKER_TASK_MEMORY",
    "WORKER_PEAK_MEMORY",
    "WorkerMemoryError",
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
                print(_("plsim: reusing the running cluster ({summary})").format(summary=_summary(running)))
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
        client = start_local(workers, threads_per_worker or 1, per_worker_memory, processes, set_as_default)

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
        differ.append(_("processes=False (thread workers live inside this kernel)"))
    if not differ:
        return plan, None
    why = _("{join} differ from this session's shared cluster ({describe})").format(join=', '.join(differ), describe=plan.describe_text())
    if shared:
        raise ValueError(f"shared=True, but {why}: leave those arguments out to join the shared cluster, "
                         "or pass shared=False for a private one")
    return None, (_("a private cluster for this notebook: {why}. It takes its memory from the "
                     "same allowance as the shared one; plsim.start_cluster() without sizing "
                     "arguments joins the shared cluster").format(why=why))


def _how_shared(client: Client, started: bool) -> str:
    """How the session's cluster is shared, for the one-line summary."""
    from plsim.session_cluster import connected_clients

    if started:
        return _("started for this session: other notebooks and widgets join it, and it ends when none is connected")
    connected = connected_clients(client)   # this notebook's connection included
    if connected is None:
        return _("joined: other notebooks of this session share it")
    if connected <= 1:
        return _("joined: no other notebook is connected to it now")
    return _("joined: {value} other connection(s) (notebooks, widgets' kernels) share it now").format(value=connected - 1)


def _fit_workers_in_memory(wanted: int, res: Resources) -> tuple[int, int, str | None]:
    """``(workers, memory per worker, note)``: as many of ``wanted`` workers as the allowance feeds.

    Workers share ``WORKER_MEMORY_FRACTION`` of the allowance evenly; each needs
    ``MIN_WORKER_MEMORY``. Fewer workers that can run beat more that die (with
    ``MEM_LIMIT=300000000`` two workers of 114 MiB each died on their first fit).
    ``note`` says why fewer workers start, or is None.
    """
    budget = int(res.memory_bytes * WORKER_MEMORY_FRACTION)
    fit = budget // MIN_WORKER_MEMORY
    why = (_("{WORKER_MEMORY_FRACTION:.0%} of the {mib} memory allowance ({memory_source}) is "
              "{mib2} for the workers, and each needs at least {mib3} "
              "(plsim.cluster.MIN_WORKER_MEMORY, measured)").format(WORKER_MEMORY_FRACTION=WORKER_MEMORY_FRACTION, mib=_mib(res.memory_bytes), memory_source=res.memory_source, mib2=_mib(budget), mib3=_mib(MIN_WORKER_MEMORY)))
    if fit < 1:
        raise WorkerMemoryError(
            f"not enough memory for one Dask worker: {why}. Run without a cluster (executor=None), "
            f"raise the allowance, or pass memory_limit='{MIN_WORKER_MEMORY // MiB}MiB' or more if "
            "this machine really has it"
        )
    workers = min(wanted, fit)
    note = None if workers == wanted else _("starting {workers} worker(s), not {wanted}: {why}").format(workers=workers, wanted=wanted, why=why)
    return workers, budget // workers, note


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


def _summary(client: Client) -> str:
    # Asked of the scheduler now, not client.scheduler_info() (see plsim.executor.worker_threads).
    workers = client.sync(client.scheduler.identity, n_workers=-1)["workers"]
    threads = sum(int(info.get("nthreads") or 0) for info in workers.values())
    where = {"local": _("local"), "session": _("shared session"), "gateway": _("gateway"), "remote": _("remote")}[
        cluster_kind(client)]
    link = dashboard_link(client)
    dash = _(", dashboard {link}").format(link=link) if link else ""
    limits = sorted({int(info.get("memory_limit") or 0) for info in workers.values()} - {0})
    memory = _(", memory limit {join} per worker").format(join=' / '.join(_mib(limit) for limit in limits)) if limits else ""
    return (_("{where} cluster at {address} with {n_workers} workers / {threads} "
               "threads{memory}{dash}").format(where=where, address=client.scheduler.address, n_workers=len(workers), threads=threads, memory=memory, dash=dash))


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
        close_quietly(client)
    forget_closed_schedulers()


def _close_all_opened() -> None:
    """At exit: close every cluster plsim opened, default or not, so no worker process survives."""
    while _opened:
        client, _ = _opened.pop()
        if client.status != "closed":
            with contextlib.suppress(Exception):
                close_quietly(client)
    forget_closed_schedulers()


atexit.register(_close_all_opened)

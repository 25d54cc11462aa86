"""Clusters from a Dask Gateway: how course hubs (Pangeo's, 2i2c's) give students workers beyond their pod.

:func:`plsim.start_cluster` comes here when the hub provides a gateway — Dask's own setting
``gateway.address`` (``DASK_GATEWAY__ADDRESS``, which such hubs set in every user's
environment) or ``start_cluster(gateway="http://...")`` — and no scheduler address was given.
It asks the gateway for a new cluster, scales it to the course's size (one single-threaded
worker per lesson CPU, as a local cluster would be), and returns that cluster's plain
:class:`dask.distributed.Client`. Closing it (:func:`plsim.close_cluster`, ``with``, or the
kernel's exit) shuts the gateway cluster down, so no worker keeps running on the hub's account.

Needs the ``dask-gateway`` client: ``pip install "plsim[hub]"``. The hub's own configuration
(authentication, proxy address, cluster options) is read by dask-gateway itself; plsim sets
only the cluster options the gateway offers (``worker_cores``, ``worker_memory``) and leaves
any other choice to the hub. Taught in ``notebooks/06_scaling_out.ipynb``.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dask.distributed import Client

__all__ = ["gateway_address", "start_gateway_cluster", "is_gateway_client", "COURSE_WORKERS",
           "COURSE_WORKER_MEMORY_GIB"]

#: Workers a gateway cluster gets when ``n_workers`` is not given: the 2 CPUs the lessons are written for.
COURSE_WORKERS = 2
#: Memory asked per worker (GiB) where the gateway lets users choose: the largest demo plus Dask's headroom.
COURSE_WORKER_MEMORY_GIB = 2.0


def gateway_address(gateway: str | bool | None) -> str | None:
    """The gateway to use: ``gateway`` itself, Dask's ``gateway.address`` setting, or None (no gateway).

    ``gateway=None`` uses the setting if there is one; ``True`` requires it; ``False`` never uses a gateway.
    """
    import dask.config

    if gateway is False:
        return None
    if isinstance(gateway, str):
        if not gateway.startswith(("http://", "https://")):
            raise ValueError(f"gateway={gateway!r} must be the gateway server's http(s):// address, "
                             "e.g. 'http://traefik-dask-gateway:80'")
        return gateway
    if gateway is not None and gateway is not True:
        raise TypeError(f"gateway must be None, True, False or an address string, got {gateway!r}")
    configured = dask.config.get("gateway.address", None) or None
    if gateway is True and configured is None:
        raise ValueError("gateway=True but Dask's gateway.address setting is empty: pass the address, "
                         "gateway='http://...', or set DASK_GATEWAY__ADDRESS")
    return configured


def _require_client_library() -> None:
    if importlib.util.find_spec("dask_gateway") is None:
        raise ImportError("connecting to a Dask Gateway needs the dask-gateway client: "
                          "pip install \"plsim[hub]\" (or pass gateway=False to start a local cluster)")


def _course_options(gateway: Any, worker_threads: int) -> Any:
    """The gateway's cluster options with the course's worker size where the gateway offers the choice."""
    options = gateway.cluster_options()
    wanted = {"worker_cores": worker_threads, "worker_memory": COURSE_WORKER_MEMORY_GIB}
    for name, value in wanted.items():
        if name in options:
            try:
                options[name] = value
            except ValueError:  # outside the range this hub allows: keep the hub's default
                pass
    return options


def start_gateway_cluster(address: str, *, n_workers: int | None, threads_per_worker: int | None,
                          timeout: float, set_as_default: bool = True) -> Client:
    """A new cluster on the gateway at ``address``, scaled to the course's workers; its client.

    Raises ``ClusterConnectionError`` when the gateway does not answer or its cluster does not
    get its workers within ``timeout`` seconds (the cluster is shut down again).
    """
    _require_client_library()
    from dask_gateway import Gateway

    from plsim.cluster import ClusterConnectionError

    workers = n_workers or COURSE_WORKERS
    gateway = Gateway(address)
    try:
        cluster = gateway.new_cluster(_course_options(gateway, threads_per_worker or 1), shutdown_on_close=True)
    except Exception as exc:  # dask-gateway raises plain exceptions for refused connections and bad auth
        raise ClusterConnectionError(
            f"the Dask Gateway at {address!r} gave no cluster ({type(exc).__name__}: {exc}). Check the address "
            "and that this session may use the gateway, or pass gateway=False for a local cluster.") from exc
    # ``gateway`` is not closed here: dask-gateway's Gateway.__del__ closes it again, and a second close
    # fails on distributed's stopped loop runner ("Accessing the loop property while the loop is not
    # running"); left to __del__ it is closed exactly once.
    try:
        cluster.scale(workers)
        client = _gateway_client_class()(cluster, security=cluster.security, set_as_default=set_as_default)
        client.wait_for_workers(workers, timeout=max(timeout, 60.0))
    except BaseException as exc:
        cluster.shutdown()
        if isinstance(exc, (OSError, TimeoutError)):
            raise ClusterConnectionError(
                f"the Dask Gateway at {address!r} started a cluster but not {workers} worker(s) within "
                f"{max(timeout, 60.0):g} s; the cluster was shut down. The hub may be out of capacity.") from exc
        raise
    return client


def _gateway_client_class() -> type:
    """A plain Client that shuts its gateway cluster down when it closes (``with``, close_cluster, exit).

    Dask's Client closes only a cluster it started itself; a gateway cluster left running would keep
    its workers on the hub (and the student's quota) until the gateway's idle timeout.
    """
    from dask.distributed import Client

    class GatewayClient(Client):
        def close(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().close(*args, **kwargs)
            finally:
                if self.cluster is not None:
                    self.cluster.close()   # shutdown_on_close=True: the gateway stops it (a no-op once closed)

    return GatewayClient


def is_gateway_client(client: Client) -> bool:
    """True when ``client`` talks to a cluster from a Dask Gateway (closing it must shut that cluster down)."""
    return type(getattr(client, "cluster", None)).__name__ == "GatewayCluster"

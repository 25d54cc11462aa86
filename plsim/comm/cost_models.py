"""Alpha-beta cost models of gradient exchanges (*predicted*, not measured), and named links.

:class:`LinkModel` and :func:`comm_time` / :func:`comm_bytes` give the
latency-bandwidth (alpha-beta) cost of one gradient exchange of ``n`` bytes among
``p`` workers for a (sharded) parameter server, naive all-reduce, tree all-reduce and
ring all-reduce (closed forms). :data:`LINK_PRESETS` names links "at scale" (data
centre, home uplink, mobile); :func:`plsim.comm.measure.fit_alpha_beta` fits one for
"this machine" from exchanges timed by :func:`plsim.comm.measure.measure_exchange`.

Taught in ``notebooks/05_collectives_compression_pipelines.ipynb`` (section 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from plsim.validation import check_positive_int, check_real

__all__ = ["ALGORITHMS", "LINK_PRESETS", "LinkModel", "link_preset", "comm_time", "comm_bytes", "cost_table"]

ALGORITHMS = ("parameter_server", "naive", "tree", "ring")


@dataclass(frozen=True)
class LinkModel:
    """Latency-bandwidth model of one network link: sending ``n`` bytes takes ``alpha + n * beta`` s.

    This is Hockney's alpha-beta model, the one Thakur, Rabenseifner and Gropp (2005)
    use to compare collective algorithms. Defaults describe a 10 Gbit/s data-centre
    network with 50 microseconds latency. Named links "at scale" are in
    :data:`LINK_PRESETS`; a link for "this machine" is fitted from real exchanges by
    :func:`plsim.comm.measure.fit_alpha_beta`.

    Parameters
    ----------
    alpha : float
        Latency: seconds per message, whatever its size.
    beta : float
        Seconds per byte (``1 / bandwidth``).
    """

    alpha: float = 50e-6
    beta: float = 1.0 / 1.25e9

    def __post_init__(self) -> None:
        for name in ("alpha", "beta"):
            check_real(name, getattr(self, name), minimum=0)  # seconds, seconds per byte

    @property
    def bandwidth(self) -> float:
        """Bytes per second (``1 / beta``)."""
        return math.inf if self.beta == 0 else 1.0 / self.beta

    def describe(self) -> str:
        """``"alpha = 20 us, 1/beta = 1.25 GB/s"``, units chosen for the size of each number."""
        a = self.alpha
        lat = f"{a * 1e6:.3g} µs" if a < 1e-3 else f"{a * 1e3:.3g} ms" if a < 1 else f"{a:.3g} s"
        bw = self.bandwidth
        rate = "infinite" if math.isinf(bw) else (f"{bw / 1e9:.3g} GB/s" if bw >= 1e9 else f"{bw / 1e6:.3g} MB/s")
        return f"α = {lat}, 1/β = {rate}"


#: Named links "at scale" (one-way latency alpha, payload bandwidth 1/beta). Orders of
#: magnitude, not measurements; each is an assumption a student can change:
#:
#: * ``"datacenter"``: 10 Gbit/s Ethernet (1.25 GB/s), alpha = 20 us. Small-message
#:   MPI/TCP latencies on 10 GbE are 10-50 us (kernel TCP stack and switch hops;
#:   RDMA goes lower); the MPICH cost models of Thakur et al. (2005) are
#:   fitted on such clusters.
#: * ``"home"``: a 100 Mbit/s *uplink* (12.5 MB/s), alpha = 20 ms: a fibre/cable home
#:   connection to a cloud server in the same region (round trips of 20-40 ms).
#:   The uplink, not the downlink, is what a federated client's update crosses.
#: * ``"mobile"``: 10 Mbit/s (1.25 MB/s), alpha = 75 ms: a 4G phone in the field
#:   (latencies 50-100 ms, uplinks of a few to tens of Mbit/s), the setting of
#:   cross-device federated learning.
LINK_PRESETS: dict[str, LinkModel] = {
    "datacenter": LinkModel(alpha=20e-6, beta=1 / 1.25e9),
    "home": LinkModel(alpha=20e-3, beta=1 / 12.5e6),
    "mobile": LinkModel(alpha=75e-3, beta=1 / 1.25e6),
}


def link_preset(name: str) -> LinkModel:
    """The :class:`LinkModel` named ``name`` in :data:`LINK_PRESETS` (see there for the assumptions)."""
    if name not in LINK_PRESETS:
        raise ValueError(f"name={name!r} is not a link preset; choose one of {tuple(LINK_PRESETS)}")
    return LINK_PRESETS[name]


def _check_algorithm(algorithm: Any) -> str:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm={algorithm!r} is unknown; choose one of {ALGORITHMS}")
    return algorithm


def _check_servers(algorithm: str, servers: Any) -> int:
    servers = check_positive_int("servers", servers)
    if servers != 1 and algorithm != "parameter_server":
        raise ValueError(f"servers={servers!r} only applies to algorithm='parameter_server', not {algorithm!r}")
    return servers


def comm_time(algorithm: str, n_workers: int, n_bytes: float, link: LinkModel | None = None, *,
              servers: int = 1) -> float:
    """Predicted seconds for one exchange of an ``n_bytes`` gradient among ``n_workers``.

    Closed forms (``p`` workers, ``n`` bytes, ``alpha`` latency, ``beta`` s/byte, full-duplex
    links, a node sends and receives at the same time):

    * ``parameter_server``: every worker pushes its gradient to the server, the server
      sends the new parameters back. The server receives from all workers *at once*, so
      latency is paid once per direction, but all ``p n`` bytes of a direction pass through
      the server's one link (incast): ``2 alpha + 2 p n beta``. Sharded over ``s`` servers
      (each holds ``n / s`` of the parameters), each server link carries ``p n / s`` per
      direction: ``2 alpha + 2 p n beta / s`` -- until ``s > p``, when each worker's own
      link (``n`` per direction) is the bottleneck: ``2 alpha + 2 max(p / s, 1) n beta``.
    * ``naive``: every worker sends its whole vector to every other one, one after the
      other: ``(p - 1)(alpha + n beta)``.
    * ``tree``: binomial-tree reduce then broadcast, ``ceil(log2 p)`` rounds each, whole
      vector per round: ``2 ceil(log2 p) (alpha + n beta)`` (Thakur, Rabenseifner and
      Gropp 2005, sec. 4, binomial reduce + binomial broadcast).
    * ``ring``: reduce-scatter + all-gather with ``n / p`` chunks:
      ``2 (p - 1) alpha + 2 (p - 1) / p * n beta`` (Thakur et al. 2005, ring /
      Rabenseifner all-reduce). Its bandwidth term is the lower bound for any
      all-reduce (Patarasuk and Yuan 2009), so it is never above any other algorithm's.

    With one worker nothing is sent: 0 s.

    References
    ----------
    R. Thakur, R. Rabenseifner and W. Gropp, "Optimization of Collective Communication
    Operations in MPICH", Int. J. High Performance Computing Applications 19(1), 49-66, 2005.
    P. Patarasuk and X. Yuan, "Bandwidth optimal all-reduce algorithms for clusters of
    workstations", J. Parallel and Distributed Computing 69(2), 117-124, 2009.

    Taught in ``notebooks/05_collectives_compression_pipelines.ipynb`` (section 1) and used at scale
    in ``notebooks/06_scaling_out.ipynb``.
    """
    _check_algorithm(algorithm)
    p = check_positive_int("n_workers", n_workers)
    n = check_real("n_bytes", n_bytes, minimum=0)
    s = _check_servers(algorithm, servers)
    link = link or LinkModel()
    if p == 1:
        return 0.0
    a, b = link.alpha, link.beta
    if algorithm == "parameter_server":
        return 2 * a + 2 * max(p / s, 1.0) * n * b
    if algorithm == "naive":
        return (p - 1) * (a + n * b)
    if algorithm == "tree":
        return 2 * math.ceil(math.log2(p)) * (a + n * b)
    return 2 * (p - 1) * a + 2 * (p - 1) / p * n * b


def comm_bytes(algorithm: str, n_workers: int, n_bytes: float, *, servers: int = 1) -> dict[str, float]:
    """Bytes sent in one exchange: ``{"total": ..., "per_worker": ..., "busiest": ...}``.

    ``per_worker`` is the bytes a (non-server) worker sends; ``busiest`` is the
    most any single node sends or receives in one direction (a server, or the tree root).
    """
    _check_algorithm(algorithm)
    p = check_positive_int("n_workers", n_workers)
    n = check_real("n_bytes", n_bytes, minimum=0)
    s = _check_servers(algorithm, servers)
    if p == 1:
        return {"total": 0.0, "per_worker": 0.0, "busiest": 0.0}
    if algorithm == "parameter_server":
        # each worker pushes n and pulls n (split over the s servers); each server receives p*n/s and sends p*n/s
        return {"total": 2.0 * p * n, "per_worker": float(n), "busiest": float(max(p / s, 1.0) * n)}
    if algorithm == "naive":
        return {"total": p * (p - 1) * n, "per_worker": (p - 1) * n, "busiest": (p - 1) * n}
    if algorithm == "tree":
        # reduce: p-1 messages up the tree; broadcast: p-1 messages down
        return {"total": 2.0 * (p - 1) * n, "per_worker": 2.0 * (p - 1) * n / p, "busiest": 2.0 * n}
    per = 2.0 * (p - 1) / p * n
    return {"total": p * per, "per_worker": per, "busiest": per}


def cost_table(workers: list[int], n_bytes: float, link: LinkModel | None = None,
               algorithms: tuple[str, ...] = ALGORITHMS) -> list[dict[str, Any]]:
    """Rows ``{"workers", "algorithm", "time_s", "per_worker_bytes", "kind": "predicted"}``."""
    rows = []
    for p in workers:
        for alg in algorithms:
            rows.append({"workers": int(p), "algorithm": alg, "time_s": comm_time(alg, p, n_bytes, link),
                         "per_worker_bytes": comm_bytes(alg, p, n_bytes)["per_worker"], "kind": "predicted"})
    return rows


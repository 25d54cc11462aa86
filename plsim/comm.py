"""Communication in distributed training: bytes moved, alpha-beta cost models, ring all-reduce, compression.

* :func:`payload_nbytes` counts the bytes of a real payload (arrays, compressed
  gradients, tuples of them) -- what the training loops report as "bytes moved".
* :class:`LinkModel` and :func:`comm_time` / :func:`comm_bytes` give the
  latency-bandwidth (alpha-beta) cost of one gradient exchange of ``n`` bytes among
  ``p`` workers for a (sharded) parameter server, naive all-reduce, tree all-reduce and
  ring all-reduce (closed forms; *predicted*, not measured). :data:`LINK_PRESETS` names
  links "at scale" (data centre, home uplink, mobile); :func:`plsim.comm_measure.fit_alpha_beta`
  fits one for "this machine" from exchanges timed by :func:`plsim.comm_measure.measure_exchange`.
* :func:`ring_allreduce` runs the ring algorithm (reduce-scatter + all-gather)
  over the workers' REAL arrays on the Dask cluster: chunks travel from worker to
  worker as task inputs. :func:`ring_allreduce_local` is the same schedule in one process.
* :func:`topk_compress` (+ :class:`ErrorFeedback`) and :func:`quantize_8bit` shrink
  gradients; their payloads know their own byte size.

Taught in ``notebooks/05_collectives_compression_pipelines.ipynb``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ALGORITHMS",
    "LINK_PRESETS",
    "LinkModel",
    "link_preset",
    "comm_time",
    "comm_bytes",
    "cost_table",
    "payload_nbytes",
    "ring_allreduce",
    "ring_allreduce_local",
    "RingResult",
    "SparsePayload",
    "QuantizedPayload",
    "topk_compress",
    "quantize_8bit",
    "decompress",
    "ErrorFeedback",
    "make_compressor",
]

ALGORITHMS = ("parameter_server", "naive", "tree", "ring")


# ---------------------------------------------------------------------------
# bytes of real payloads
# ---------------------------------------------------------------------------
def payload_nbytes(obj: Any) -> int:
    """Bytes a payload occupies on the wire (its array buffers; 8 bytes per Python number).

    Understands numpy arrays, :class:`SparsePayload`, :class:`QuantizedPayload`,
    numbers, ``None`` and (nested) tuples / lists / dicts of them.
    """
    if obj is None:
        return 0
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, (SparsePayload, QuantizedPayload)):
        return obj.nbytes
    if isinstance(obj, (numbers.Number, np.generic)):
        return 8
    if isinstance(obj, (list, tuple)):
        return sum(payload_nbytes(o) for o in obj)
    if isinstance(obj, dict):
        return sum(payload_nbytes(v) for v in obj.values())
    raise TypeError(f"payload_nbytes does not know how to size a {type(obj).__name__}")


# ---------------------------------------------------------------------------
# alpha-beta cost models (predicted)
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkModel:
    """Latency-bandwidth model of one network link: sending ``n`` bytes takes ``alpha + n * beta`` s.

    This is Hockney's alpha-beta model, the one Thakur, Rabenseifner and Gropp (2005)
    use to compare collective algorithms. Defaults describe a 10 Gbit/s data-centre
    network with 50 microseconds latency. Named links "at scale" are in
    :data:`LINK_PRESETS`; a link for "this machine" is fitted from real exchanges by
    :func:`plsim.comm_measure.fit_alpha_beta`.

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
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name}={value!r} must be a finite number >= 0 (seconds, seconds per byte)")

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


def _check_workers(p: Any, name: str = "n_workers") -> int:
    if isinstance(p, bool) or not isinstance(p, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 1, got {p!r}")
    if p < 1:
        raise ValueError(f"{name}={p!r} must be at least 1")
    return int(p)


def _check_servers(algorithm: str, servers: Any) -> int:
    if isinstance(servers, bool) or not isinstance(servers, numbers.Integral) or servers < 1:
        raise ValueError(f"servers={servers!r} must be an integer >= 1")
    if servers != 1 and algorithm != "parameter_server":
        raise ValueError(f"servers={servers!r} only applies to algorithm='parameter_server', not {algorithm!r}")
    return int(servers)


def _check_bytes(n: Any) -> float:
    if isinstance(n, bool) or not isinstance(n, numbers.Real) or not (n >= 0 and math.isfinite(n)):
        raise ValueError(f"n_bytes={n!r} must be a finite number >= 0")
    return float(n)


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
    p = _check_workers(n_workers)
    n = _check_bytes(n_bytes)
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
    p = _check_workers(n_workers)
    n = _check_bytes(n_bytes)
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


# ---------------------------------------------------------------------------
# ring all-reduce
# ---------------------------------------------------------------------------
def _ring_steps(p: int) -> list[tuple[str, int, list[tuple[int, int, int]]]]:
    """The ring schedule: ``[(phase, step, [(src, dst, chunk), ...]), ...]``.

    Reduce-scatter step ``s``: rank ``r`` sends chunk ``(r - s) mod p`` to ``r + 1``,
    which adds it to its own copy. After ``p - 1`` steps rank ``r`` owns the full sum
    of chunk ``(r + 1) mod p``. All-gather step ``s``: rank ``r`` forwards chunk
    ``(r + 1 - s) mod p`` to ``r + 1``, which overwrites its copy.
    """
    steps = []
    for s in range(p - 1):
        steps.append(("reduce-scatter", s, [(r, (r + 1) % p, (r - s) % p) for r in range(p)]))
    for s in range(p - 1):
        steps.append(("all-gather", s, [(r, (r + 1) % p, (r + 1 - s) % p) for r in range(p)]))
    return steps


@dataclass
class RingResult:
    """Outcome of a ring all-reduce.

    Attributes
    ----------
    values : list of ndarray
        The reduced vector as held by each rank (all equal).
    bytes_sent : int
        Bytes of chunks passed between ranks, counted from the chunk payloads.
    bytes_per_rank : list of int
        Bytes each rank sent.
    messages : int
        Chunk transfers (``2 p (p - 1)``).
    steps : int
        Communication rounds (``2 (p - 1)``).
    """

    values: list[np.ndarray]
    bytes_sent: int
    bytes_per_rank: list[int]
    messages: int
    steps: int


def _check_vectors(arrays: Any) -> list[np.ndarray]:
    if not isinstance(arrays, (list, tuple)) or len(arrays) == 0:
        raise ValueError("arrays must be a non-empty list of equally shaped 1-D arrays (one per rank)")
    out = [np.asarray(a, dtype=np.float64) for a in arrays]
    shape = out[0].shape
    for i, a in enumerate(out):
        if a.ndim != 1 or a.shape != shape:
            raise ValueError(f"arrays[{i}] has shape {a.shape}; all must be 1-D with shape {shape}")
    return out


def ring_allreduce_local(arrays: list[np.ndarray], *, average: bool = True) -> RingResult:
    """The ring all-reduce schedule executed in this process (reference for :func:`ring_allreduce`)."""
    arrays = _check_vectors(arrays)
    p = len(arrays)
    chunks = [list(np.array_split(a.copy(), p)) for a in arrays]
    per_rank = [0] * p
    messages = 0
    for phase, _, sends in _ring_steps(p):
        payloads = [chunks[src][c].copy() for src, _, c in sends]  # all sends of a step happen at once
        for (src, dst, c), data in zip(sends, payloads):
            per_rank[src] += data.nbytes
            messages += 1
            chunks[dst][c] = chunks[dst][c] + data if phase == "reduce-scatter" else data
    values = [np.concatenate(c) / (p if average else 1) for c in chunks]
    return RingResult(values, sum(per_rank), per_rank, messages, 2 * (p - 1))


def _shape_of(v: np.ndarray) -> tuple[tuple[int, ...], int]:
    return np.shape(v), np.asarray(v).dtype.itemsize


def _split_chunk(vector: np.ndarray, index: int, p: int) -> np.ndarray:
    return np.array_split(vector, p)[index].copy()


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a + b


def _identity(a: np.ndarray) -> np.ndarray:
    return a


def _concat_scale(scale: float, *parts: np.ndarray) -> np.ndarray:
    return np.concatenate(parts) / scale


def ring_allreduce(client: Any, arrays: list[Any], *, average: bool = True, gather: bool = True,
                   length: int | None = None) -> RingResult:
    """Ring all-reduce over arrays living on the Dask workers.

    Rank ``r`` lives on worker ``r mod n_workers``. Its vector is cut into ``p``
    chunks; in each of the ``2 (p - 1)`` steps every rank passes one chunk to the
    next rank as the input of a task pinned to the next rank's worker
    (``client.submit(..., workers=[addr])``), so the bytes really travel between
    worker processes.

    Parameters
    ----------
    client : dask.distributed.Client
    arrays : list of ndarray or Future
        One flat vector per rank (numpy arrays are scattered to their rank's worker first).
    average : bool
        Divide the sum by ``p`` (the mean, as data-parallel SGD needs).
    gather : bool
        Return the arrays (True) or leave them as futures in ``values`` (False).
    length : int or None
        The vectors' common length when the caller knows it (futures made by the
        caller): skips the round trip that asks the workers for the shapes, so a timed
        exchange (:func:`plsim.comm_measure.measure_exchange`) times only the ring.

    Returns
    -------
    RingResult
        ``values`` equal ``mean(arrays)`` (up to floating-point summation order).
    """
    from dask.distributed import Future

    if client is None:
        raise ValueError("client is None; pass a dask.distributed.Client or use ring_allreduce_local")
    if not isinstance(arrays, (list, tuple)) or len(arrays) == 0:
        raise ValueError("arrays must be a non-empty list (one vector or Future per rank)")
    from plsim.cluster import worker_threads

    addresses = sorted(worker_threads(client))
    if not addresses:
        raise ValueError("the cluster has no workers")
    p = len(arrays)
    where = [addresses[r % len(addresses)] for r in range(p)]
    futures = []
    for r, a in enumerate(arrays):
        if isinstance(a, Future):
            futures.append(a)
        else:
            (vec,) = _check_vectors([a])
            futures.append(client.scatter(vec, workers=[where[r]], hash=False))
    if length is None:
        length_and_dtype = client.gather([client.submit(_shape_of, f, pure=False)
                                          for f in futures])
        shapes = {s for s, _ in length_and_dtype}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            raise ValueError(f"all vectors must be 1-D with the same shape; got shapes {sorted(shapes)}")
        (n,) = next(iter(shapes))
    else:
        n = _check_workers(length, "length")
    itemsize = 8  # chunks are float64 after the additions
    chunk_len = [len(c) for c in np.array_split(np.empty(n), p)]

    chunks = [[client.submit(_split_chunk, futures[r], c, p, workers=[where[r]], pure=False)
               for c in range(p)] for r in range(p)]
    per_rank = [0] * p
    messages = 0
    for phase, _, sends in _ring_steps(p):
        new = {}
        for src, dst, c in sends:
            per_rank[src] += chunk_len[c] * itemsize
            messages += 1
            if phase == "reduce-scatter":
                new[(dst, c)] = client.submit(_add, chunks[dst][c], chunks[src][c], workers=[where[dst]], pure=False)
            else:
                new[(dst, c)] = client.submit(_identity, chunks[src][c], workers=[where[dst]], pure=False)
        for (dst, c), fut in new.items():
            chunks[dst][c] = fut
    scale = float(p if average else 1)
    values = [client.submit(_concat_scale, scale, *chunks[r], workers=[where[r]], pure=False) for r in range(p)]
    if gather:
        values = client.gather(values)
    return RingResult(values, sum(per_rank), per_rank, messages, 2 * (p - 1))


# ---------------------------------------------------------------------------
# gradient compression
# ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SparsePayload:
    """Top-k gradient: ``values`` at ``indices`` of a vector of length ``size``."""

    indices: np.ndarray
    values: np.ndarray
    size: int

    @property
    def nbytes(self) -> int:
        """Bytes on the wire: int32 indices + float64 values + the length."""
        return int(self.indices.nbytes + self.values.nbytes + 8)

    def decode(self) -> np.ndarray:
        out = np.zeros(self.size)
        out[self.indices] = self.values
        return out


@dataclass(frozen=True, eq=False)
class QuantizedPayload:
    """8-bit gradient: ``lo + codes / 255 * scale``."""

    codes: np.ndarray
    lo: float
    scale: float

    @property
    def nbytes(self) -> int:
        """Bytes on the wire: one uint8 per entry + two float64 (offset and scale)."""
        return int(self.codes.nbytes + 16)

    def decode(self) -> np.ndarray:
        return self.lo + self.codes.astype(np.float64) * (self.scale / 255.0)


def _check_vector(g: Any, name: str = "g") -> np.ndarray:
    g = np.asarray(g, dtype=np.float64)
    if g.ndim != 1:
        raise ValueError(f"{name} must be a flat 1-D gradient vector, got shape {g.shape}")
    return g


def topk_compress(g: np.ndarray, k: int) -> SparsePayload:
    """Keep the ``k`` entries of largest magnitude (ties broken by lower index)."""
    g = _check_vector(g)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= g.size:
        raise ValueError(f"k={k!r} must be an integer in 1..{g.size} (the vector length)")
    order = np.argsort(-np.abs(g), kind="stable")[: int(k)]
    idx = np.sort(order).astype(np.int32)
    return SparsePayload(idx, g[idx].copy(), int(g.size))


def quantize_8bit(g: np.ndarray) -> QuantizedPayload:
    """Uniform 8-bit quantization between min and max; the error per entry is at most ``scale / 510``."""
    g = _check_vector(g)
    if g.size == 0:
        return QuantizedPayload(np.zeros(0, np.uint8), 0.0, 0.0)
    if not np.all(np.isfinite(g)):
        raise ValueError(f"g holds {g[~np.isfinite(g)][0]!r}: only finite gradients can be quantized "
                         "(a diverged step? lower the learning rate)")
    lo, hi = float(g.min()), float(g.max())
    scale = hi - lo
    if scale == 0.0:
        return QuantizedPayload(np.zeros(g.size, np.uint8), lo, 0.0)
    codes = np.clip(np.rint((g - lo) / scale * 255.0), 0, 255).astype(np.uint8)
    return QuantizedPayload(codes, lo, scale)


def decompress(payload: Any) -> np.ndarray:
    """Dense vector from a payload (a plain array is returned as is)."""
    if isinstance(payload, (SparsePayload, QuantizedPayload)):
        return payload.decode()
    return np.asarray(payload, dtype=np.float64)


@dataclass
class ErrorFeedback:
    """Compression with error feedback: what was not sent is added to the next gradient.

    ``residual`` always satisfies ``sum(sent so far) + residual == sum(gradients so far)``.

    Parameters
    ----------
    method : {"topk", "8bit", "none"}
    k : int or None
        Entries kept by top-k (required for ``"topk"``).
    """

    method: str = "topk"
    k: int | None = None
    residual: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.method not in ("topk", "8bit", "none"):
            raise ValueError(f"method={self.method!r} is unknown; choose 'topk', '8bit' or 'none'")
        if self.method == "topk" and (isinstance(self.k, bool) or not isinstance(self.k, numbers.Integral)
                                      or self.k < 1):
            raise ValueError(f"k={self.k!r} must be a positive integer for method='topk'")

    def compress(self, g: np.ndarray) -> Any:
        """Payload for ``g + residual``; the residual keeps what the payload does not carry."""
        g = _check_vector(g)
        corrected = g if self.residual is None else g + self.residual
        payload = compress_once(self.method, corrected, self.k)
        self.residual = corrected - decompress(payload)
        return payload


def compress_once(method: str, g: np.ndarray, k: int | None = None) -> Any:
    """One-shot compression: ``"none"`` (the array), ``"topk"`` or ``"8bit"``."""
    if method == "none":
        return np.asarray(g, dtype=np.float64).copy()
    if method == "topk":
        return topk_compress(g, min(int(k), np.asarray(g).size))  # type: ignore[arg-type]
    if method == "8bit":
        return quantize_8bit(g)
    raise ValueError(f"method={method!r} is unknown; choose 'topk', '8bit' or 'none'")


def make_compressor(method: str = "none", *, k: int | None = None, ratio: float | None = None,
                    n_params: int | None = None) -> ErrorFeedback:
    """An :class:`ErrorFeedback` compressor; top-k size from ``k`` or ``ratio * n_params``."""
    if method == "topk" and k is None:
        if ratio is None or n_params is None:
            raise ValueError("method='topk' needs k, or ratio and n_params")
        if not 0 < ratio <= 1:
            raise ValueError(f"ratio={ratio!r} must be in (0, 1]")
        k = max(1, int(round(ratio * n_params)))
    return ErrorFeedback(method, k)

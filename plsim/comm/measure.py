"""Communication measured on the real cluster: time gradient exchanges, fit alpha and beta.

(Formerly ``plsim.comm_measure``, which stays importable as an alias of this module.)

* :func:`measure_exchange` times real parameter-server, tree, ring (and naive)
  exchanges of growing vectors among ranks living on the Dask workers. Every
  message is a task pinned to the receiving rank's worker whose input lives on the
  sending rank's worker, so the bytes travel between worker processes exactly as in
  :func:`plsim.comm.collectives.ring_allreduce`.
* :func:`fit_alpha_beta` fits the latency ``alpha`` and the seconds per byte ``beta``
  of :class:`plsim.comm.LinkModel` to such times by non-negative least squares --
  a link model for "this machine", next to the named links "at scale" of
  :data:`plsim.comm.LINK_PRESETS`.

On this machine a "message" is a Dask task: ``alpha`` is mostly Dask's cost of
scheduling one task (about a millisecond), not a wire's latency, and ``beta`` is
serialising plus the loopback copy. With one worker every rank shares one process:
no byte leaves it, and ``beta`` measures memory copies only.

Taught in ``notebooks/05_collectives_compression_pipelines.ipynb`` (section 1).
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plsim.comm.collectives import ring_allreduce
from plsim.comm.cost_models import ALGORITHMS, LinkModel, comm_time

__all__ = ["ExchangeTimes", "measure_exchange", "fit_alpha_beta", "exchange_coefficients"]

DEFAULT_SIZES = (1e4, 1e5, 1e6, 4e6, 16e6)


def exchange_coefficients(algorithm: str, n_workers: int, n_bytes: float) -> tuple[float, float]:
    """``(a, b)`` with ``comm_time(algorithm, n_workers, n_bytes, LinkModel(alpha, beta)) == a alpha + b beta``.

    Every model of :func:`plsim.comm.comm_time` is linear in ``alpha`` and ``beta``;
    these are its two coefficients (latency count, bytes through the bottleneck).
    """
    return (comm_time(algorithm, n_workers, n_bytes, LinkModel(alpha=1.0, beta=0.0)),
            comm_time(algorithm, n_workers, n_bytes, LinkModel(alpha=0.0, beta=1.0)))


def fit_alpha_beta(sizes: Sequence[float], seconds: Sequence[float], *,
                   algorithm: str | Sequence[str] | None = None, n_workers: int = 2) -> LinkModel:
    """Least-squares ``alpha`` (s) and ``beta`` (s/byte), both ``>= 0``, from timed messages or exchanges.

    Parameters
    ----------
    sizes, seconds : sequences of float
        Bytes per message (or per rank's vector) and the seconds each took.
    algorithm : str, sequence of str or None
        ``None``: each time is one message, ``alpha + n beta``. An algorithm of
        :data:`plsim.comm.ALGORITHMS` (or one per point): each time is one exchange
        among ``n_workers`` ranks, ``a alpha + b beta`` with the model's coefficients
        (:func:`exchange_coefficients`), so one link is fitted to several algorithms at once.
    n_workers : int
        Ranks in the exchanges.

    Returns
    -------
    LinkModel
        The fitted link. Non-negative least squares (``scipy.optimize.nnls``) on columns
        scaled to unit length: exact data ``alpha + n beta`` are recovered exactly.
    """
    from scipy.optimize import nnls

    x = np.asarray(sizes, dtype=float)
    t = np.asarray(seconds, dtype=float)
    if x.ndim != 1 or t.shape != x.shape or x.size < 2:
        raise ValueError(f"sizes and seconds must be 1-D of the same length >= 2; got {x.shape} and {t.shape}")
    if not (np.all(np.isfinite(x)) and np.all(x >= 0) and np.all(np.isfinite(t)) and np.all(t >= 0)):
        raise ValueError("sizes and seconds must be finite numbers >= 0")
    if algorithm is None:
        design = np.column_stack([np.ones_like(x), x])
    else:
        algs = [algorithm] * x.size if isinstance(algorithm, str) else list(algorithm)
        if len(algs) != x.size:
            raise ValueError(f"algorithm has {len(algs)} entries for {x.size} sizes")
        bad = sorted({a for a in algs if a not in ALGORITHMS})
        if bad:
            raise ValueError(f"algorithm {bad} unknown; choose from {ALGORITHMS}")
        design = np.array([exchange_coefficients(a, n_workers, n) for a, n in zip(algs, x)])
    if np.linalg.matrix_rank(design) < 2:
        raise ValueError("need at least two different sizes to tell latency from bandwidth")
    norms = np.linalg.norm(design, axis=0)
    coef, _ = nnls(design / norms, t)
    alpha, beta = (coef / norms).tolist()
    return LinkModel(alpha=float(alpha), beta=float(beta))


# ---------------------------------------------------------------------------
# the exchanges, as tasks pinned to the ranks' workers
# ---------------------------------------------------------------------------
def _rank_vector(length: int, seed: int, rank: int) -> np.ndarray:
    return np.random.default_rng([seed, rank]).standard_normal(length)


def _mean_of(*vectors: np.ndarray) -> np.ndarray:
    out = vectors[0].copy()
    for v in vectors[1:]:
        out += v
    return out / len(vectors)


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a + b


def _scale(a: np.ndarray, factor: float) -> np.ndarray:
    return a * factor


def _copy(a: np.ndarray) -> np.ndarray:
    return a  # the task's input was fetched to this worker: that fetch is the message


def _reply(rank: int, *vectors: np.ndarray) -> np.ndarray:
    return _mean_of(*vectors)  # the server's reply to one rank: its own message, fetched by that rank


def _send(client: Any, vectors: list, where: list[str], server: str, length: int) -> list:
    """Rank 0's vector to rank 1: one message."""
    return [client.submit(_copy, vectors[0], workers=[where[1]], pure=False)]


def _parameter_server(client: Any, vectors: list, where: list[str], server: str, length: int) -> list:
    """All ranks push to the server at once; it sends each rank its own copy of the mean.

    Two rounds, as in the model: the server's reply tasks fetch the pushes (all at once),
    then each rank fetches its reply.
    """
    replies = [client.submit(_reply, r, *vectors, workers=[server], pure=False) for r in range(len(where))]
    return [client.submit(_copy, f, workers=[w], pure=False) for f, w in zip(replies, where)]


def _naive(client: Any, vectors: list, where: list[str], server: str, length: int) -> list:
    """Every rank fetches every other rank's vector and averages."""
    return [client.submit(_mean_of, *vectors, workers=[w], pure=False) for w in where]


def _tree(client: Any, vectors: list, where: list[str], server: str, length: int) -> list:
    """Binomial-tree reduce to rank 0 (ceil(log2 p) rounds), scale, binomial broadcast back."""
    p = len(vectors)
    acc = list(vectors)
    span = 1
    while span < p:
        for r in range(0, p, 2 * span):
            if r + span < p:
                acc[r] = client.submit(_add, acc[r], acc[r + span], workers=[where[r]], pure=False)
        span *= 2
    out: list = [None] * p
    out[0] = client.submit(_scale, acc[0], 1.0 / p, workers=[where[0]], pure=False)
    while span > 1:
        span //= 2
        for r in range(0, p, 2 * span):
            if r + span < p:
                out[r + span] = client.submit(_copy, out[r], workers=[where[r + span]], pure=False)
    return out


def _ring(client: Any, vectors: list, where: list[str], server: str, length: int) -> list:
    return ring_allreduce(client, vectors, gather=False, length=length).values


_EXCHANGES = {"send": _send, "parameter_server": _parameter_server, "naive": _naive, "tree": _tree, "ring": _ring}


def _placement(algorithm: str, p: int, addresses: list[str]) -> tuple[list[str], str]:
    """Worker of each rank, and of the parameter server.

    Ranks go round-robin over the workers. The parameter server gets a worker of its
    own when there are two or more (the ranks share the others), so all ``p`` pushes
    and ``p`` replies cross its one link, as the model assumes.
    """
    if algorithm == "parameter_server" and len(addresses) > 1:
        return [addresses[1 + r % (len(addresses) - 1)] for r in range(p)], addresses[0]
    return [addresses[r % len(addresses)] for r in range(p)], addresses[0]


@dataclass
class ExchangeTimes:
    """Seconds per exchange measured on the cluster.

    Attributes
    ----------
    rows : list of dict
        One per (algorithm, size): ``{"algorithm", "n_bytes", "seconds"`` (median of the
        repeats), ``"all_seconds", "max_error"`` (largest ``|result - mean|`` over the
        ranks' results), ``"ranks", "kind": "measured"}``.
    n_ranks, n_workers : int
        Ranks exchanging, and the Dask workers they live on (rank ``r`` on worker ``r mod n_workers``).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    n_ranks: int = 2
    n_workers: int = 1

    @property
    def algorithms(self) -> list[str]:
        return list(dict.fromkeys(r["algorithm"] for r in self.rows))

    def of(self, algorithm: str) -> tuple[list[float], list[float]]:
        """``(sizes, seconds)`` of one algorithm, in the order measured."""
        rows = [r for r in self.rows if r["algorithm"] == algorithm]
        return [r["n_bytes"] for r in rows], [r["seconds"] for r in rows]

    def fit(self) -> LinkModel:
        """One link (alpha, beta) fitted to every exchange at once through the models' coefficients."""
        rows = [r for r in self.rows if r["algorithm"] in ALGORITHMS]
        if not rows:
            raise ValueError("no exchange of plsim.comm.ALGORITHMS was measured")
        return fit_alpha_beta([r["n_bytes"] for r in rows], [r["seconds"] for r in rows],
                              algorithm=[r["algorithm"] for r in rows], n_workers=self.n_ranks)


def _check_sizes(sizes: Any) -> list[float]:
    try:
        values = [float(s) for s in sizes]
    except TypeError:
        raise ValueError(f"sizes={sizes!r} must be a sequence of byte counts >= 8") from None
    if not values or any(not np.isfinite(s) or s < 8 for s in values):
        raise ValueError(f"sizes={sizes!r} must be a non-empty sequence of byte counts >= 8 (one float64)")
    return values


def measure_exchange(client: Any, sizes: Sequence[float] = DEFAULT_SIZES,
                     algorithms: Sequence[str] = ("parameter_server", "tree", "ring"), *,
                     repeats: int = 3, n_ranks: int | None = None, seed: int = 0) -> ExchangeTimes:
    """Time real gradient exchanges of growing vectors among ranks on the cluster's workers.

    For each algorithm and size, every rank first gets a float64 vector of ``size / 8``
    entries made on its own worker (not timed); then the exchange is submitted and
    timed until every rank holds the mean (``distributed.wait``). One untimed warm-up
    per algorithm; the fastest of ``repeats`` is reported (other processes only ever
    add time, so the minimum is the least noisy estimate of what the exchange costs).

    Parameters
    ----------
    client : dask.distributed.Client
    sizes : sequence of float
        Bytes of each rank's vector.
    algorithms : sequence of str
        Any of ``"parameter_server"`` (the server runs on a worker of its own when there
        are two or more, the ranks on the others: all pushes arrive at once, each rank
        gets its own reply), ``"tree"`` (binomial
        reduce + broadcast), ``"ring"`` (:func:`plsim.comm.collectives.ring_allreduce`),
        ``"naive"`` (every rank fetches all vectors) and ``"send"`` (one message, rank 0 to 1).
    repeats : int
        Timed exchanges per (algorithm, size).
    n_ranks : int or None
        Ranks exchanging; default ``max(2, workers)``. Rank ``r`` lives on worker
        ``r mod workers`` (parameter server: see above); with one worker all ranks share
        its process and no byte leaves it.
    seed : int
        Seeds the vectors (each rank's from ``(seed, rank)``).

    Returns
    -------
    ExchangeTimes
        ``kind = "measured"`` rows; ``.fit()`` gives the fitted :class:`plsim.comm.LinkModel`.
    """
    import distributed

    from plsim.cluster import check_client, worker_threads

    check_client(client, what="measure_exchange (real exchanges between workers)",
                 instead="plsim.comm.comm_time for the cost model")

    def wait(futures: list[Any]) -> None:
        """``distributed.wait`` on this client's futures, whether or not it is Dask's default client."""
        with client.as_current():
            distributed.wait(futures)
    sizes = _check_sizes(sizes)
    if isinstance(algorithms, str):
        algorithms = (algorithms,)
    unknown = [a for a in algorithms if a not in _EXCHANGES]
    if unknown or not algorithms:
        raise ValueError(f"algorithms={tuple(algorithms)!r}: choose from {tuple(_EXCHANGES)}")
    if isinstance(repeats, bool) or not isinstance(repeats, numbers.Integral) or repeats < 1:
        raise ValueError(f"repeats={repeats!r} must be an integer >= 1")
    addresses = sorted(worker_threads(client))
    if not addresses:
        raise ValueError("the cluster has no workers")
    p = max(2, len(addresses)) if n_ranks is None else n_ranks
    if isinstance(p, bool) or not isinstance(p, numbers.Integral) or p < 2:
        raise ValueError(f"n_ranks={n_ranks!r} must be an integer >= 2")

    result = ExchangeTimes(n_ranks=int(p), n_workers=len(addresses))
    for alg in algorithms:
        exchange = _EXCHANGES[alg]
        where, server = _placement(alg, int(p), addresses)
        for i, size in enumerate(sizes):
            length = max(1, int(size) // 8)
            vectors = [client.submit(_rank_vector, length, seed, r, workers=[where[r]], pure=False)
                       for r in range(p)]
            wait(vectors)
            times = []
            for k in range(repeats + (1 if i == 0 else 0)):  # warm-up before an algorithm's first size
                start = time.perf_counter()
                out = exchange(client, vectors, where, server, length)
                wait(out)
                if i > 0 or k > 0:
                    times.append(time.perf_counter() - start)
            expected = _rank_vector(length, seed, 0) if alg == "send" else np.mean(
                [_rank_vector(length, seed, r) for r in range(p)], axis=0)
            error = max(float(np.max(np.abs(v - expected))) for v in client.gather(out))
            del out, vectors
            result.rows.append({"algorithm": alg, "n_bytes": float(length * 8), "seconds": float(np.min(times)),
                                "all_seconds": times, "max_error": error, "ranks": int(p), "kind": "measured"})
    return result

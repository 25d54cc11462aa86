"""Communication measured on the real cluster: time gradient exchanges, fit alpha and beta, check them.

* :func:`measure_exchange` times real point-to-point messages (``"send"``) and
  parameter-server, tree, ring (and naive) exchanges of growing vectors among ranks
  living on the Dask workers. Every message is a task pinned to the receiving rank's
  worker whose input lives on the sending rank's worker, so the bytes travel between
  worker processes exactly as in :func:`plsim.comm.collectives.ring_allreduce`.
* :func:`fit_alpha_beta` fits the latency ``alpha`` and the seconds per byte ``beta``
  of :class:`plsim.comm.LinkModel` to such times (non-negative least squares on
  relative errors) -- a link model for "this machine", next to the named links
  "at scale" of :data:`plsim.comm.LINK_PRESETS`.
* :func:`split_heldout` and :func:`fit_with_heldout` keep some sizes out of the fit
  and ask the fitted model to predict them: a model is only as good as its
  predictions of times it has not seen.

On this machine a "message" is a Dask task: ``alpha`` is mostly Dask's cost of
scheduling one task and handing its result to the next (milliseconds), not a wire's
latency, and ``beta`` is serialising, the loopback copy and the arithmetic on each
byte. With one worker every rank shares one process: no byte leaves it, and ``beta``
measures memory copies only.

Taught in ``notebooks/05_collectives_compression_pipelines.ipynb`` (section 1).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plsim._random import check_random_state, task_rng
from plsim.comm.collectives import ring_exchange_chunks
from plsim.comm.cost_models import ALGORITHMS, LinkModel, comm_time
from plsim.executor import Executor, Run
from plsim.validation import check_int

__all__ = ["ExchangeTimes", "AlphaBetaFit", "measure_exchange", "fit_alpha_beta", "fit_with_heldout",
           "split_heldout", "exchange_coefficients", "predict_exchange", "EXCHANGES"]

DEFAULT_SIZES = (1e4, 1e5, 1e6, 4e6, 16e6)

#: What :func:`measure_exchange` can time: one message, and the all-reduce algorithms of the cost model.
EXCHANGES = ("send", *ALGORITHMS)


def exchange_coefficients(algorithm: str, n_workers: int, n_bytes: float) -> tuple[float, float]:
    """``(a, b)`` with the predicted time of the exchange ``== a alpha + b beta``.

    Every model of :func:`plsim.comm.comm_time` is linear in ``alpha`` and ``beta``;
    these are its two coefficients (latency count, bytes through the bottleneck).
    ``"send"`` is one message: ``(1, n_bytes)``.
    """
    if algorithm == "send":
        return 1.0, float(n_bytes)
    return (comm_time(algorithm, n_workers, n_bytes, LinkModel(alpha=1.0, beta=0.0)),
            comm_time(algorithm, n_workers, n_bytes, LinkModel(alpha=0.0, beta=1.0)))


def predict_exchange(algorithm: str, n_workers: int, n_bytes: float, link: LinkModel) -> float:
    """Predicted seconds of one exchange (or, for ``"send"``, one message ``alpha + n beta``)."""
    a, b = exchange_coefficients(algorithm, n_workers, n_bytes)
    return a * link.alpha + b * link.beta


def fit_alpha_beta(sizes: Sequence[float], seconds: Sequence[float], *,
                   algorithm: str | Sequence[str] | None = None, n_workers: int = 2,
                   relative: bool = True) -> LinkModel:
    """Least-squares ``alpha`` (s) and ``beta`` (s/byte), both ``>= 0``, from timed messages or exchanges.

    Parameters
    ----------
    sizes, seconds : sequences of float
        Bytes per message (or per rank's vector) and the seconds each took.
    algorithm : str, sequence of str or None
        ``None`` or ``"send"``: each time is one message, ``alpha + n beta``. An
        algorithm of :data:`plsim.comm.ALGORITHMS` (or one per point, ``"send"``
        allowed): each time is one exchange among ``n_workers`` ranks,
        ``a alpha + b beta`` with the model's coefficients (:func:`exchange_coefficients`),
        so one link is fitted to several algorithms at once.
    n_workers : int
        Ranks in the exchanges.
    relative : bool
        Minimise the squared *relative* errors ``(predicted - t) / t`` (default): the
        times span orders of magnitude, and an absolute fit would let the largest
        messages decide alone, leaving ``alpha`` to chance. ``False``: plain least squares.

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
    if relative and not np.all(t > 0):
        raise ValueError("a relative fit needs seconds > 0; pass relative=False to fit times of 0")
    algs = ["send"] * x.size if algorithm is None else (
        [algorithm] * x.size if isinstance(algorithm, str) else list(algorithm))
    if len(algs) != x.size:
        raise ValueError(f"algorithm has {len(algs)} entries for {x.size} sizes")
    bad = sorted({a for a in algs if a not in EXCHANGES})
    if bad:
        raise ValueError(f"algorithm {bad} unknown; choose from {EXCHANGES}")
    design = np.array([exchange_coefficients(a, n_workers, n) for a, n in zip(algs, x)])
    if np.linalg.matrix_rank(design) < 2:
        raise ValueError("need at least two different sizes to tell latency from bandwidth")
    if relative:  # row i divided by t_i: the residuals become (predicted - t) / t
        design, t = design / t[:, None], np.ones_like(t)
    norms = np.linalg.norm(design, axis=0)
    coef, _ = nnls(design / norms, t)
    alpha, beta = (coef / norms).tolist()
    return LinkModel(alpha=float(alpha), beta=float(beta))


def split_heldout(sizes: Sequence[float], n_heldout: int) -> tuple[list[float], list[float]]:
    """Sizes to fit on and sizes to hold out: ``n_heldout`` interior sizes, evenly spread.

    The smallest and the largest size are always fitted, so every held-out size is
    predicted *between* fitted ones (an interpolation the model should get right,
    not an extrapolation). Sizes are sorted; duplicates count once.

    >>> split_heldout([1e3, 1e4, 1e5, 1e6, 1e7], 2)
    ([1000.0, 100000.0, 10000000.0], [10000.0, 1000000.0])
    """
    values = sorted({float(s) for s in sizes})
    n_heldout = check_int("n_heldout", n_heldout, 0)
    if n_heldout == 0:
        return values, []
    if len(values) - n_heldout < 2 or n_heldout > len(values) - 2:
        raise ValueError(f"n_heldout={n_heldout} leaves fewer than 2 fitted sizes or holds out an end of the "
                         f"{len(values)} sizes; give at least n_heldout + 2 different sizes")
    picks = np.unique(np.round(np.linspace(1, len(values) - 2, n_heldout)).astype(int))
    held = [values[i] for i in picks]
    return [v for v in values if v not in held], held


# ---------------------------------------------------------------------------
# the exchanges, as tasks pinned to the ranks' workers
# ---------------------------------------------------------------------------
def _rank_vector(length: int, root: int, rank: int) -> np.ndarray:
    """Rank ``rank``'s vector: branch ``("data", rank)`` of the seed tree rooted at ``root``."""
    return task_rng(root, "data", rank).standard_normal(length)


def _mean_of(*vectors: np.ndarray) -> np.ndarray:
    out = vectors[0].copy()
    for v in vectors[1:]:
        out += v
    return out / len(vectors)


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a + b


def _add_scaled(a: np.ndarray, b: np.ndarray, factor: float) -> np.ndarray:
    return (a + b) * factor


def _copy(a: np.ndarray) -> np.ndarray:
    return a  # the task's input was fetched to this worker: that fetch is the message


def _reply(rank: int, *vectors: np.ndarray) -> np.ndarray:
    return _mean_of(*vectors)  # the server's reply to one rank: its own message, fetched by that rank


# Each exchange takes the ranks' state -- state[r] is rank r's vector as a list of parts (one part,
# or the ring's p chunks) -- and returns the state after the exchange: every rank holds the mean.
def _parameter_server(ex: Executor, state: list, where: list[str], server: str) -> list:
    """All ranks push to the server at once; it sends each rank its own copy of the mean.

    Two rounds, as in the model: the server's reply tasks fetch the pushes (all at once),
    then each rank fetches its reply.
    """
    vectors = [parts[0] for parts in state]
    replies = [ex.submit(_reply, r, *vectors, name="plsim-ps-reply", worker=server) for r in range(len(where))]
    return [[ex.submit(_copy, f, name="plsim-ps-fetch", worker=w)] for f, w in zip(replies, where)]


def _naive(ex: Executor, state: list, where: list[str], server: str) -> list:
    """Every rank fetches every other rank's vector and averages."""
    vectors = [parts[0] for parts in state]
    return [[ex.submit(_mean_of, *vectors, name="plsim-naive-mean", worker=w)] for w in where]


def _tree(ex: Executor, state: list, where: list[str], server: str) -> list:
    """Binomial-tree reduce to rank 0 (ceil(log2 p) rounds), binomial broadcast back.

    The root's last addition also divides by ``p``: every task is a message the model
    counts (no extra task for the scaling).
    """
    p = len(state)
    acc = [parts[0] for parts in state]
    span = 1
    while span < p:
        for r in range(0, p, 2 * span):
            if r + span < p:
                if r == 0 and 2 * span >= p:
                    acc[r] = ex.submit(_add_scaled, acc[r], acc[r + span], 1.0 / p, name="plsim-tree-reduce",
                                       worker=where[r])
                else:
                    acc[r] = ex.submit(_add, acc[r], acc[r + span], name="plsim-tree-reduce", worker=where[r])
        span *= 2
    out: list = [None] * p
    out[0] = acc[0]
    while span > 1:
        span //= 2
        for r in range(0, p, 2 * span):
            if r + span < p:
                out[r + span] = ex.submit(_copy, out[r], name="plsim-tree-broadcast", worker=where[r + span])
    return [[o] for o in out]


def _ring(ex: Executor, state: list, where: list[str], server: str) -> list:
    """The ring's 2 (p - 1) steps on the ranks' chunks (cut before the clock starts)."""
    p = len(state)
    chunk_bytes = [0] * p  # not counted here: ring_allreduce counts the bytes
    table, _ = ring_exchange_chunks(state, where, chunk_bytes, executor=ex, scale=1.0 / p)
    return table


_ALLREDUCE = {"parameter_server": _parameter_server, "naive": _naive, "tree": _tree, "ring": _ring}


def _chain(algorithm: str, ex: Executor, state: list, where: list[str], server: str, chain: int) -> list:
    """``chain`` exchanges back to back, each starting from the last one's result.

    ``"send"`` is a ping-pong: rank 0's vector goes to rank 1's worker, back to rank
    0's, and so on, one message per task. Timing a chain and dividing by its length
    pays the notebook's own round trip to the scheduler (submitting, and hearing that
    the last task finished) once per chain instead of once per exchange, as the
    ping-pong benchmarks that measure MPI's alpha and beta do.
    """
    if algorithm == "send":
        current = state[0][0]
        for k in range(chain):
            current = ex.submit(_copy, current, name="plsim-send", worker=where[(k + 1) % 2])
        return [[current]]
    exchange = _ALLREDUCE[algorithm]
    for _ in range(chain):
        state = exchange(ex, state, where, server)
    return state


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
        repeats, per exchange), ``"all_seconds"`` (every repeat), ``"max_error"`` (largest
        ``|result - mean|`` over the ranks' results), ``"ranks", "chain", "kind": "measured"}``.
    n_ranks, n_workers : int
        Ranks exchanging, and the Dask workers they live on (rank ``r`` on worker ``r mod n_workers``).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    n_ranks: int = 2
    n_workers: int = 1

    @property
    def algorithms(self) -> list[str]:
        return list(dict.fromkeys(r["algorithm"] for r in self.rows))

    @property
    def sizes(self) -> list[float]:
        """The sizes measured, sorted."""
        return sorted({r["n_bytes"] for r in self.rows})

    def of(self, algorithm: str) -> tuple[list[float], list[float]]:
        """``(sizes, seconds)`` of one algorithm, in the order measured."""
        rows = [r for r in self.rows if r["algorithm"] == algorithm]
        return [r["n_bytes"] for r in rows], [r["seconds"] for r in rows]

    def fit(self, sizes: Sequence[float] | None = None) -> LinkModel:
        """One link (alpha, beta) fitted to every exchange at once through the models' coefficients.

        ``sizes``: fit only the rows of these sizes (the rest held out); default all.
        """
        rows = [r for r in self.rows if r["algorithm"] in EXCHANGES
                and (sizes is None or _among(r["n_bytes"], sizes))]
        if not rows:
            raise ValueError("no exchange of plsim.comm.measure.EXCHANGES was measured at the sizes asked for")
        return fit_alpha_beta([r["n_bytes"] for r in rows], [r["seconds"] for r in rows],
                              algorithm=[r["algorithm"] for r in rows], n_workers=self.n_ranks)


@dataclass
class AlphaBetaFit:
    """A link fitted on some measured sizes, and its predictions of every measured exchange.

    Attributes
    ----------
    link : LinkModel
        Fitted on the rows whose ``role`` is ``"fitted"``.
    rows : list of dict
        ``{"algorithm", "n_bytes", "measured", "predicted", "ratio"`` (measured / predicted),
        ``"role": "fitted" | "held out"}``, one per measured (algorithm, size).
    n_ranks, n_workers : int
        As in the :class:`ExchangeTimes` the rows come from.
    """

    link: LinkModel
    rows: list[dict[str, Any]]
    n_ranks: int
    n_workers: int

    @property
    def fitted(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["role"] == "fitted"]

    @property
    def heldout(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["role"] == "held out"]

    @property
    def points(self) -> int:
        """Measurements the link was fitted on (one per algorithm and size)."""
        return len(self.fitted)

    @property
    def fitted_sizes(self) -> list[float]:
        return sorted({r["n_bytes"] for r in self.fitted})

    @property
    def heldout_sizes(self) -> list[float]:
        return sorted({r["n_bytes"] for r in self.heldout})

    @property
    def r2(self) -> float:
        """R² of the fit on log time: the share of the fitted times' spread (in orders of magnitude) it explains."""
        t = np.log([r["measured"] for r in self.fitted])
        f = np.log([r["predicted"] for r in self.fitted])
        total = float(np.sum((t - t.mean()) ** 2))
        return float("nan") if total == 0 else 1.0 - float(np.sum((t - f) ** 2)) / total

    def ratios(self, role: str = "held out", algorithm: str | None = None) -> list[float]:
        """Measured / predicted of the rows with this ``role`` (and ``algorithm``)."""
        return [r["ratio"] for r in self.rows if r["role"] == role and algorithm in (None, r["algorithm"])]

    @property
    def heldout_median_ratio(self) -> float:
        """Median measured / predicted over the held-out sizes: 1 when the model predicts the machine."""
        ratios = self.ratios("held out")
        return float(np.median(ratios)) if ratios else float("nan")


def fit_with_heldout(times: ExchangeTimes, heldout: Sequence[float]) -> AlphaBetaFit:
    """Fit alpha and beta on every measured size but ``heldout``, then predict all of them.

    Parameters
    ----------
    times : ExchangeTimes
        From :func:`measure_exchange`.
    heldout : sequence of float
        Sizes (bytes) kept out of the fit, e.g. from :func:`split_heldout`; each must
        have been measured.

    Returns
    -------
    AlphaBetaFit
        The link, and each measurement next to its prediction, marked fitted or held out.
    """
    if not isinstance(times, ExchangeTimes) or not times.rows:
        raise ValueError("times must be an ExchangeTimes with rows, from plsim.comm.measure_exchange")
    measured = times.sizes
    held = [float(s) for s in heldout]
    missing = [s for s in held if not _among(s, measured)]
    if missing:
        raise ValueError(f"heldout sizes {missing} were not measured; measured sizes are {measured}")
    link = times.fit([s for s in measured if not _among(s, held)])
    rows = []
    for r in times.rows:
        predicted = predict_exchange(r["algorithm"], times.n_ranks, r["n_bytes"], link)
        rows.append({"algorithm": r["algorithm"], "n_bytes": r["n_bytes"], "measured": r["seconds"],
                     "predicted": predicted, "ratio": r["seconds"] / predicted if predicted > 0 else float("inf"),
                     "role": "held out" if _among(r["n_bytes"], held) else "fitted"})
    return AlphaBetaFit(link, rows, times.n_ranks, times.n_workers)


def _among(n_bytes: float, sizes: Sequence[float]) -> bool:
    """Whether a measured size is one of ``sizes``: a vector holds whole float64s, so a size asked for
    is measured rounded down to a multiple of 8 bytes."""
    return any(abs(float(n_bytes) - float(s)) < 8 for s in sizes)


def _check_sizes(sizes: Any) -> list[float]:
    try:
        values = [float(s) for s in sizes]
    except TypeError:
        raise ValueError(f"sizes={sizes!r} must be a sequence of byte counts >= 8") from None
    if not values or any(not np.isfinite(s) or s < 8 for s in values):
        raise ValueError(f"sizes={sizes!r} must be a non-empty sequence of byte counts >= 8 (one float64)")
    return values


def measure_exchange(sizes: Sequence[float] = DEFAULT_SIZES,
                     algorithms: Sequence[str] = ("parameter_server", "tree", "ring"), *, executor: Any = "auto",
                     repeats: int = 5, chain: int = 3, n_ranks: int | None = None,
                     random_state: Any = 0) -> ExchangeTimes:
    """Time real messages and gradient exchanges of growing vectors among ranks on the cluster's workers.

    For each size every rank gets a float64 vector of ``size / 8`` entries made on its
    own worker; before each timed repeat it is copied afresh on that worker (the ring's
    copy already cut into its ``p`` chunks), so no repeat finds a replica that an
    earlier one left on another worker (not timed). Then ``chain`` exchanges run back
    to back, each from the last one's result (``"send"``: a ping-pong of ``chain``
    messages), timed until the last finishes (``distributed.wait``), and divided by
    ``chain``. The algorithms take turns at each size, so a busy moment of the machine
    does not fall on one algorithm only. One untimed warm-up per algorithm; the
    **median** of ``repeats`` is reported (robust to the spikes other processes cause),
    every repeat is kept.

    Parameters
    ----------
    sizes : sequence of float
        Bytes of each rank's vector (of the message, for ``"send"``).
    algorithms : sequence of str
        Any of ``"send"`` (one message, rank 0 to rank 1 and back), ``"parameter_server"``
        (the server runs on a worker of its own when there are two or more, the ranks on
        the others: all pushes arrive at once, each rank gets its own reply), ``"tree"``
        (binomial reduce + broadcast), ``"ring"`` (the 2 (p - 1) steps of
        :func:`plsim.comm.collectives.ring_exchange_chunks`) and ``"naive"`` (every
        rank fetches all vectors).
    executor : dask.distributed.Client, "auto" or plsim.executor.Executor
        The cluster (:func:`plsim.executor.resolve_executor`; ``"auto"``: the one
        :func:`plsim.start_cluster` started).
    repeats : int
        Timed chains per (algorithm, size).
    chain : int
        Exchanges per timed chain.
    n_ranks : int or None
        Ranks exchanging; default ``max(2, workers)``. Rank ``r`` lives on worker
        ``r mod workers`` (parameter server: see above); with one worker all ranks share
        its process and no byte leaves it.
    random_state : None, int, RandomState or Generator
        Root of the vectors' seeds: rank ``r``'s vector draws from branch ``("data", r)``
        of :mod:`plsim._random`'s tree.

    Returns
    -------
    ExchangeTimes
        ``kind = "measured"`` rows; ``.fit()`` gives the fitted :class:`plsim.comm.LinkModel`,
        :func:`fit_with_heldout` a fit checked on sizes it did not see.
    """
    from plsim.executor import resolve_executor

    ex = resolve_executor(executor)
    ex.require_cluster("measure_exchange (real exchanges between workers)",
                       instead="plsim.comm.comm_time for the cost model")
    root = check_random_state(random_state)
    sizes = _check_sizes(sizes)
    if isinstance(algorithms, str):
        algorithms = (algorithms,)
    unknown = [a for a in algorithms if a not in EXCHANGES]
    if unknown or not algorithms:
        raise ValueError(f"algorithms={tuple(algorithms)!r}: choose from {EXCHANGES}")
    repeats = check_int("repeats", repeats, 1)
    chain = check_int("chain", chain, 1)
    addresses = ex.workers()
    p = max(2, len(addresses)) if n_ranks is None else n_ranks
    p = check_int("n_ranks", p, 2)

    result = ExchangeTimes(n_ranks=p, n_workers=len(addresses))
    placement = {alg: _placement(alg, p, addresses) for alg in algorithms}
    lengths = [max(1, int(size) // 8) for size in sizes]
    times: dict[tuple[str, int], list[float]] = {(alg, i): [] for alg in algorithms for i in range(len(sizes))}
    # interrupted (the kernel's stop button), every exchange still running is cancelled
    with Run("measure_exchange", ex, keeps_partial=False):
        def fresh(alg: str, i: int) -> list[list[Any]]:
            """Each rank's vector copied afresh on its own worker (the ring's already cut into p chunks)."""
            where = placement[alg][0]
            parts = p if alg == "ring" else 1
            return [[ex.submit(_fresh_part, bases[tuple(where)][i][r], c, parts, name="plsim-fresh", worker=where[r])
                     for c in range(parts)] for r in range(p)]

        def run(alg: str, state: list[list[Any]]) -> tuple[float, list[list[Any]]]:
            where, server = placement[alg]
            start = time.perf_counter()
            out = _chain(alg, ex, state, where, server, chain)
            ex.wait([f for row in out for f in row])
            return (time.perf_counter() - start) / chain, out

        bases: dict[tuple[str, ...], list[list[Any]]] = {}
        for where, _ in placement.values():  # each rank's vector, made once per size on its worker
            if tuple(where) not in bases:
                bases[tuple(where)] = [[ex.submit(_rank_vector, n, root, r, name="plsim-vector", worker=where[r])
                                        for r in range(p)] for n in lengths]
        for alg in algorithms:  # one untimed warm-up per algorithm (first tasks of a kind, imports)
            state = fresh(alg, 0)
            ex.wait([f for row in state for f in row])
            run(alg, state)
        # Repeat rounds over every (size, algorithm): a busy moment of the machine spoils one repeat of a
        # few points, which the median drops, rather than every repeat of one size.
        last: dict[tuple[str, int], list[list[Any]]] = {}
        for k in range(repeats):
            states = {(alg, i): fresh(alg, i) for i in range(len(sizes)) for alg in algorithms}
            ex.wait([f for state in states.values() for row in state for f in row])
            for (alg, i), state in states.items():
                seconds, out = run(alg, state)
                times[(alg, i)].append(seconds)
                if k == repeats - 1:
                    last[(alg, i)] = out
            del states
        keys = list(last)
        results = dict(zip(keys, ex.gather([last[key] for key in keys]), strict=True))
        del last, bases
    for alg in algorithms:
        for i, n in enumerate(lengths):
            vectors = [_rank_vector(n, root, r) for r in range(p)]
            expected = vectors[0] if alg == "send" else np.mean(vectors, axis=0)
            error = max(float(np.max(np.abs(np.concatenate(row) - expected))) for row in results[(alg, i)])
            result.rows.append({"algorithm": alg, "n_bytes": float(n * 8), "seconds": float(np.median(times[(alg, i)])),
                                "all_seconds": times[(alg, i)], "max_error": error, "ranks": p, "chain": chain,
                                "kind": "measured"})
    return result


def _fresh_part(vector: np.ndarray, index: int, parts: int) -> np.ndarray:
    """Part ``index`` of ``parts`` of a rank's vector, copied: a new key each repeat, held by this worker only."""
    return np.array_split(vector, parts)[index].copy()

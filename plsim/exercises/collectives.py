"""Exercises of ``notebooks/05_collectives_compression_pipelines.ipynb``: the answers live here.

* ``ring_exchange_time`` (predict -> run -> explain): how long a ring all-reduce
  of :data:`RING_BYTES` per rank takes on this cluster, predicted from the
  fitted alpha-beta link, then measured with
  :func:`plsim.comm.measure_exchange`.
* ``ring_allreduce_by_hand`` (code): the ring all-reduce written with
  ``client.submit``, one chunk moved per task (reduce-scatter then all-gather),
  checked against the sum and :func:`plsim.comm.ring_allreduce`, and that it
  moved exactly ``2 (p - 1)`` chunks per rank.
* ``bubble_micro_batches`` (answer): the fewest GPipe micro-batches that keep
  the bubble of a 4-stage pipeline within 10 %.
* ``ring_bytes_64`` (answer): the bytes each rank sends when 64 ranks ring
  all-reduce the vectors of the notebook's ring.

Worked solutions: ``notebooks/solutions/<name>.py``. Tested in ``tests/test_exercises_collectives.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plsim.exercises._core import Exercise, register

__all__ = ["RING_BYTES", "ring_chunks", "CountingClient", "ring_case", "BUBBLE_STAGES", "BUBBLE_TARGET",
           "SCALE_RANKS"]

NOTEBOOK = "05_collectives_compression_pipelines"

# -- predict -> run -> explain: a ring exchange on this cluster ----------------------------------------

RING_BYTES = 8e6  # bytes per rank of the timed exchange (not one of measure_exchange's default sizes)


def _ring_time_explain(guess: float | None, measured: float, link: Any = None, exchange: Any = None,
                       **_: Any) -> str:
    """The usual reasons for the gap, chosen from the run's numbers (milliseconds)."""
    from plsim.comm import comm_time

    if link is None or exchange is None:
        return "Compare with the fitted model: comm_time(\"ring\", p, n_bytes, here)."
    row = exchange.rows[0]
    p, n = exchange.n_ranks, row["n_bytes"]
    model_ms = comm_time("ring", p, n, link) * 1e3
    ratio = measured / model_ms if model_ms > 0 else float("inf")
    parts = [f"The fitted α–β model predicts {model_ms:.1f} ms for {p} ranks and {n / 1e6:.0f} MB per rank "
             f"(predicted); the exchange took {measured:.1f} ms (measured), {ratio:.2f} times the model."]
    if ratio > 1.25:
        parts.append("Slower than the model: other processes on this machine only ever add time, and they were "
                     "busier now than while the fit's exchanges ran; each of the ring's 2(p − 1) steps is a Dask "
                     "task that waits for the scheduler, so a busy moment hits every step.")
    elif ratio < 0.8:
        parts.append("Faster than the model: one α and one β were fitted to point-to-point messages and "
                     "collectives of every size at once, a compromise; in the ring every rank sends and receives "
                     "its chunk at the same time, which a busy machine's worse moments during the fit did not show.")
    else:
        parts.append("The fitted model is a fair guide at this size on this machine.")
    if exchange.n_workers == 1:
        parts.append("With one worker no byte leaves its process: β here is a memory copy, not a network.")
    if guess is not None and model_ms > 0 and not 0.5 <= guess / model_ms <= 2:
        parts.append("Your guess was far from the model's own prediction: start from "
                     "comm_time(\"ring\", p, n_bytes, here) and then adjust it by how far the measured ring "
                     "was from the model at the sizes printed above.")
    return " ".join(parts)


register(Exercise(
    name="ring_exchange_time",
    kind="predict",
    rel_tol=0.3,
    hint="prediction = milliseconds for one ring exchange of 8 MB per rank among exchanges.n_ranks ranks, "
         "e.g. from comm_time(\"ring\", exchanges.n_ranks, 8e6, here) * 1e3",
    explain=_ring_time_explain,
    misconception="A cost model fitted on one machine predicts any exchange exactly; in fact α and β are one "
                  "compromise over several algorithms, and on Dask each message is a task with scheduling "
                  "overhead the model does not see.",
    notebook=NOTEBOOK,
))

# -- code: a ring all-reduce by hand --------------------------------------------------------------------


class CountingClient:
    """A Dask client that counts the tasks submitted through it (and how many futures each one takes).

    Everything else is the real client's. ``tasks`` is the number of
    ``submit`` calls plus the items of every ``map``; ``max_inputs`` the most
    futures any one task received.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self.tasks = 0
        self.max_inputs = 0

    def _note(self, args: tuple, kwargs: dict) -> None:
        from distributed import Future

        n = sum(isinstance(a, Future) for a in list(args) + list(kwargs.values()))
        self.max_inputs = max(self.max_inputs, n)

    def submit(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        self.tasks += 1
        self._note(args, {k: v for k, v in kwargs.items() if k not in ("workers", "key", "pure")})
        return self._client.submit(func, *args, **kwargs)

    def map(self, func: Any, *iterables: Any, **kwargs: Any) -> Any:
        columns = [list(it) for it in iterables]
        for row in zip(*columns):
            self.tasks += 1
            self._note(row, {})
        return self._client.map(func, *columns, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def ring_chunks(client: Any, vectors: list[np.ndarray]) -> tuple[list[list[Any]], list[str]]:
    """Place rank ``r``'s vector, cut into ``p`` chunks, on worker ``r mod workers``.

    Returns ``(chunks, where)``: ``chunks[r][c]`` is a Future of rank ``r``'s
    chunk ``c`` (``numpy.array_split`` of its vector into ``p`` pieces) held by
    worker ``where[r]``, the same placement as :func:`plsim.comm.ring_allreduce`.
    Taught in ``notebooks/05_collectives_compression_pipelines.ipynb`` (exercise
    ``ring_allreduce_by_hand``).
    """
    from plsim.cluster import worker_threads

    if not isinstance(vectors, (list, tuple)) or len(vectors) < 2:
        raise ValueError(f"vectors must be a list of at least 2 equally long 1-D arrays (one per rank), got "
                         f"{type(vectors).__name__}")
    vectors = [np.asarray(v, dtype=np.float64) for v in vectors]
    if any(v.ndim != 1 or v.shape != vectors[0].shape for v in vectors):
        raise ValueError(f"vectors have shapes {[v.shape for v in vectors]}; all must be 1-D with the same length")
    addresses = sorted(worker_threads(client))
    if not addresses:
        raise ValueError("the cluster has no workers")
    p = len(vectors)
    where = [addresses[r % len(addresses)] for r in range(p)]
    chunks = [client.scatter(np.array_split(v, p), workers=[where[r]], hash=False) for r, v in enumerate(vectors)]
    return chunks, where


def ring_case(p: int, length: int = 10_001, seed: int = 0) -> list[np.ndarray]:
    """The check's vectors: ``p`` ranks, ``length`` entries each (not a multiple of ``p``: unequal chunks)."""
    rng = np.random.default_rng([seed, p])
    return [rng.normal(size=length) for _ in range(p)]


def _run_ring(fn: Any, client: Any = None, **_: Any) -> tuple[bool, str]:
    if client is None:
        return False, ("pass the notebook's Dask client: check_code(\"ring_allreduce_by_hand\", my_ring_allreduce, "
                       "client=client)")
    from plsim.comm import ring_allreduce

    report = []
    for p in (3, 4):
        vectors = ring_case(p)
        before = [v.copy() for v in vectors]
        chunks, where = ring_chunks(client, vectors)
        counting = CountingClient(client)
        out = fn(counting, [list(row) for row in chunks], list(where))
        if any(not np.array_equal(a, b) for a, b in zip(vectors, before)):
            return False, "your function changed the input vectors in place."
        try:
            rows = [list(row) for row in out]
        except TypeError:
            return False, f"return chunks in the same layout (a list of p lists of p futures), not {type(out).__name__}"
        if len(rows) != p or any(len(r) != p for r in rows):
            return False, f"with p = {p} ranks return p lists of p chunks, got {[len(r) for r in rows]}"
        values = [np.concatenate([np.asarray(c) for c in row]) for row in client.gather(rows)]
        want_sum = np.sum(vectors, axis=0)
        plsim_mean = ring_allreduce(client, vectors).values
        needed = 2 * p * (p - 1)
        if counting.tasks == 0:
            return False, ("no task ran on the cluster: every chunk must move as the input of a client.submit "
                           "task on the receiving rank's worker, not be gathered and added here.")
        wrong = [r for r, v in enumerate(values)
                 if v.shape != want_sum.shape or not np.allclose(v, want_sum, rtol=1e-12, atol=1e-12)]
        if wrong:
            if all(np.allclose(v, want_sum / p, rtol=1e-12, atol=1e-12) for v in values):
                return False, "your chunks hold the mean; return the sum (the check divides by p itself)."
            return False, (f"with p = {p}, ranks {wrong} do not hold the sum of all vectors. Reduce-scatter: in step "
                           "s rank r sends chunk (r - s) mod p to rank r + 1, which adds it to its own; all-gather: "
                           "in step s rank r forwards chunk (r + 1 - s) mod p to rank r + 1, which replaces its own.")
        if not all(np.allclose(v / p, m, rtol=1e-12, atol=1e-12) for v, m in zip(values, plsim_mean)):
            return False, f"with p = {p} your result differs from plsim.comm.ring_allreduce's."
        if counting.max_inputs > 2:
            return False, (f"one of your tasks took {counting.max_inputs} chunks at once: that is an all-to-all "
                           "gather, not a ring. In a ring each task gets one chunk from the left neighbour "
                           "(plus, when reducing, the rank's own copy).")
        if counting.tasks != needed:
            return False, (f"with p = {p} ranks your function ran {counting.tasks} tasks; a ring moves one chunk per "
                           f"task, 2(p - 1) = {2 * (p - 1)} per rank, {needed} in all (reduce-scatter and all-gather "
                           "each p - 1 steps of p transfers). Do the cutting and joining outside: chunks are given.")
        report.append(f"p = {p}: {counting.tasks} chunk transfers = 2(p - 1) = {2 * (p - 1)} per rank")
    return True, ("each rank holds the sum, equal to plsim.comm.ring_allreduce's result (times p); "
                  + "; ".join(report) + ".")


register(Exercise(
    name="ring_allreduce_by_hand",
    kind="code",
    hint="p - 1 reduce-scatter steps then p - 1 all-gather steps; in each step every rank r submits one task "
         "on worker where[(r + 1) % p] that receives one chunk future from rank r (add it to the receiver's own "
         "chunk, or replace it); keep a table chunks[rank][chunk] of futures and update it after each step",
    run=_run_ring,
    misconception="An all-reduce means everyone sends their whole vector to everyone (or to one server), so "
                  "per-worker traffic grows with the number of workers; the ring moves one chunk of n/p per "
                  "step between neighbours, about 2n per worker whatever p.",
    notebook=NOTEBOOK,
))

# -- answers ------------------------------------------------------------------------------------------

BUBBLE_STAGES = 4
BUBBLE_TARGET = 0.10


def _bubble_expected() -> int:
    from plsim.training.pipeline import bubble_fraction

    m = 1
    while bubble_fraction(BUBBLE_STAGES, m) > BUBBLE_TARGET + 1e-12:
        m += 1
    return m


register(Exercise(
    name="bubble_micro_batches",
    kind="answer",
    expected=_bubble_expected,
    compare=lambda answer, expected: float(answer) == float(expected),
    hint="the bubble is (p - 1) / (m + p - 1); find the smallest whole m that brings it to 0.10 or below "
         "(try bubble_fraction(4, m) for a few m, or solve the inequality for m)",
    misconception="More stages always mean a faster pipeline; the idle share grows with the stages unless the "
                  "micro-batches grow too (roughly 9 (p - 1) of them to stay within 10 %).",
    notebook=NOTEBOOK,
))

SCALE_RANKS = 64


def _ring_bytes_expected(ring: Any = None) -> float:
    from plsim.comm import comm_bytes

    if ring is None:
        raise ValueError("pass the notebook's ring: check(\"ring_bytes_64\", answer, ring=ring)")
    n = np.asarray(ring.values[0]).nbytes
    return comm_bytes("ring", SCALE_RANKS, n)["per_worker"]


register(Exercise(
    name="ring_bytes_64",
    kind="answer",
    expected=_ring_bytes_expected,
    rel_tol=0.01,
    hint="each rank sends 2 (p - 1) chunks of n / p bytes, n = the bytes of one rank's vector "
         "(ring.values[0].nbytes); compare with ring.bytes_per_rank for 4 ranks",
    misconception="In a ring all-reduce each worker's traffic grows with the number of workers, like a "
                  "parameter server's link; it stays about 2n bytes per worker whatever p.",
    notebook=NOTEBOOK,
))

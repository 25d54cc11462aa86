"""Exercises of ``notebooks/05_collectives_compression_pipelines.ipynb``: the answers live here.

* ``ring_exchange_time`` (predict -> run -> explain): how long a ring all-reduce
  of :data:`RING_BYTES` per rank takes on this cluster, predicted from the
  fitted alpha-beta link, then measured with
  :func:`plsim.comm.measure_exchange`.
* ``ring_allreduce_by_hand`` (code): the ring all-reduce written with
  ``client.submit``, one chunk moved per task (reduce-scatter then all-gather),
  checked against the sum and :func:`plsim.comm.ring_allreduce`, and against the
  scheduler's record of the call: exactly ``2 (p - 1)`` chunk transfers per rank,
  each sum built by tasks from the chunks given (not in the notebook's process).
  A wrong sum's feedback says what the chunk holds, never the schedule.
* ``bubble_micro_batches`` (answer): the fewest GPipe micro-batches that keep
  the bubble of a 4-stage pipeline within 10 %.
* ``ring_bytes_64`` (answer): the bytes each rank sends when 64 ranks ring
  all-reduce the vectors of the notebook's ring.

Worked solutions: ``notebooks/solutions/<name>.py``. Tested in ``tests/test_exercises_collectives.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plsim._random import task_rng
from plsim.i18n import N_, _
from plsim.exercises._core import Exercise, cluster_work, register

__all__ = ["RING_BYTES", "ring_chunks", "ring_case", "BUBBLE_STAGES", "BUBBLE_TARGET",
           "SCALE_RANKS"]

NOTEBOOK = "05_collectives_compression_pipelines"

# -- predict -> run -> explain: a ring exchange on this cluster ----------------------------------------

RING_BYTES = 8e6  # bytes per rank of the timed exchange (not one of measure_exchange's default sizes)


def _ring_time_explain(guess: float | None, measured: float, link: Any = None, exchange: Any = None,
                       **_ignored: Any) -> str:
    """The usual reasons for the gap, chosen from the run's numbers (milliseconds)."""
    from plsim.comm import comm_time

    if link is None or exchange is None:
        return _("Compare with the fitted model: comm_time(\"ring\", p, n_bytes, here).")
    row = exchange.rows[0]
    p, n = exchange.n_ranks, row["n_bytes"]
    model_ms = comm_time("ring", p, n, link) * 1e3
    ratio = measured / model_ms if model_ms > 0 else float("inf")
    parts = [_("The fitted α–β model predicts {model_ms:.1f} ms for {p} ranks and {value:.0f} "
                "MB per rank (predicted); the exchange took {measured:.1f} ms (measured), "
                "{ratio:.2f} times the model.").format(model_ms=model_ms, p=p, value=n / 1e6, measured=measured, ratio=ratio)]
    if ratio > 1.25:
        parts.append(_("Slower than the model: other processes on this machine only ever add time, and they were "
                        "busier now than while the fit's exchanges ran; each of the ring's 2(p − 1) steps is a Dask "
                        "task that waits for the scheduler, so a busy moment hits every step."))
    elif ratio < 0.8:
        parts.append(_("Faster than the model: one α and one β were fitted to point-to-point messages and "
                        "collectives of every size at once, a compromise; in the ring every rank sends and receives "
                        "its chunk at the same time, which a busy machine's worse moments during the fit did not show."))
    else:
        parts.append(_("The fitted model is a fair guide at this size on this machine."))
    if exchange.n_workers == 1:
        parts.append(_("With one worker no byte leaves its process: a message there copies nothing, so β is the "
                        "ring's additions averaged with free messages -- memory, not a network."))
    if guess is not None and model_ms > 0 and not 0.5 <= guess / model_ms <= 2:
        parts.append(_("Your guess was far from the model's own prediction: start from "
                        "comm_time(\"ring\", p, n_bytes, here) and then adjust it by how far the measured ring "
                        "was from the model at the sizes printed above."))
    return " ".join(parts)


register(Exercise(
    name="ring_exchange_time",
    kind="predict",
    rel_tol=0.3,
    hint=N_("prediction = milliseconds for one ring exchange of 8 MB per rank among exchanges.n_ranks ranks, "
            "e.g. from comm_time(\"ring\", exchanges.n_ranks, 8e6, here) * 1e3"),
    explain=_ring_time_explain,
    misconception="A cost model fitted on one machine predicts any exchange exactly; in fact α and β are one "
                  "compromise over several algorithms, and on Dask each message is a task with scheduling "
                  "overhead the model does not see.",
    notebook=NOTEBOOK,
))

# -- code: a ring all-reduce by hand --------------------------------------------------------------------


def ring_chunks(client: Any, vectors: list[np.ndarray]) -> tuple[list[list[Any]], list[str]]:
    """Place rank ``r``'s vector, cut into ``p`` chunks, on worker ``r mod workers``.

    Returns ``(chunks, where)``: ``chunks[r][c]`` is a Future of rank ``r``'s
    chunk ``c`` (``numpy.array_split`` of its vector into ``p`` pieces) held by
    worker ``where[r]``, the same placement as :func:`plsim.comm.ring_allreduce`.
    Taught in ``notebooks/05_collectives_compression_pipelines.ipynb`` (exercise
    ``ring_allreduce_by_hand``).
    """
    from plsim.executor import resolve_executor

    if not isinstance(vectors, (list, tuple)) or len(vectors) < 2:
        raise ValueError(f"vectors must be a list of at least 2 equally long 1-D arrays (one per rank), got "
                         f"{type(vectors).__name__}")
    vectors = [np.asarray(v, dtype=np.float64) for v in vectors]
    if any(v.ndim != 1 or v.shape != vectors[0].shape for v in vectors):
        raise ValueError(f"vectors have shapes {[v.shape for v in vectors]}; all must be 1-D with the same length")
    addresses = resolve_executor(client, name="client").workers()
    p = len(vectors)
    where = [addresses[r % len(addresses)] for r in range(p)]
    chunks = [client.scatter(np.array_split(v, p), workers=[where[r]], hash=False) for r, v in enumerate(vectors)]
    return chunks, where


def ring_case(p: int, length: int = 10_001, seed: int = 0) -> list[np.ndarray]:
    """The check's vectors: ``p`` ranks, ``length`` entries each (not a multiple of ``p``: unequal chunks)."""
    rng = task_rng(seed, "data", p)
    return [rng.normal(size=length) for _ in range(p)]


def _holds(value: np.ndarray, parts: list[np.ndarray]) -> str:
    """What a wrong chunk adds up, in words: which ranks' parts it holds (and how often), if it is such a sum."""
    if value.shape != parts[0].shape:
        return _("a chunk of another length")
    coef, *_rest = np.linalg.lstsq(np.stack(parts, axis=1), value, rcond=None)
    counts = np.rint(coef).astype(int)
    if not np.allclose(np.stack(parts, axis=1) @ counts, value, rtol=1e-9, atol=1e-9) or (counts < 0).any():
        return _("something that is not a sum of the ranks' parts")
    held = ", ".join((_("rank {q}'s part {n} times") if n > 1 else _("rank {q}'s part")).format(q=q, n=n)
                     for q, n in enumerate(counts) if n)
    missing = [q for q, n in enumerate(counts) if n == 0]
    held = held or _("nothing")
    return _("{held} (missing rank(s) {missing})").format(held=held, missing=missing) if missing else held


def _wrong_sum_message(p: int, wrong: list[int], gathered: list[list[np.ndarray]], vectors: list[np.ndarray]) -> str:
    """The feedback for ranks that do not hold the sum: what one wrong chunk holds, never the schedule to use."""
    splits = [np.array_split(v, p) for v in vectors]
    r = wrong[0]
    for c in range(p):
        parts = [splits[q][c] for q in range(p)]
        got = np.asarray(gathered[r][c], dtype=np.float64)
        if got.shape != parts[0].shape or not np.allclose(got, np.sum(parts, axis=0), rtol=1e-12, atol=1e-12):
            break
    return (_("with p = {p}, ranks {wrong} do not hold the sum of all vectors: rank {r}'s "
               "chunk {c} holds {holds}. After the p - 1 reduce-scatter steps every rank must "
               "hold one chunk that has collected each rank's part exactly once (a different "
               "chunk on each rank); the all-gather steps then pass those finished chunks on "
               "around the ring. Work out on paper, for p = 3, which chunk each rank must send "
               "in each step for that to happen.").format(p=p, wrong=wrong, r=r, c=c, holds=_holds(got, parts)))


def _settle(client: Any, table: Any) -> None:
    """Wait until the futures of a returned table have finished (whatever the table's layout)."""
    from distributed import Future

    try:
        futures = [f for row in table for f in row if isinstance(f, Future)]
    except TypeError:
        return
    if futures:
        client.gather(futures, errors="skip")


def _run_ring(fn: Any, client: Any = None, **_ignored: Any) -> tuple[bool, str]:
    if client is None:
        return False, (_("pass the notebook's Dask client: check_code(\"ring_allreduce_by_hand\", my_ring_allreduce, "
                          "client=client)"))
    from plsim.comm import ring_allreduce
    from plsim.exercises.scheduler_record import inputs_of, most_outstanding, watch_scheduler

    report = []
    for p in (3, 4):
        vectors = ring_case(p)
        before = [v.copy() for v in vectors]
        chunks, where = ring_chunks(client, vectors)
        with watch_scheduler(client, only_this_client=True) as seen:
            out = fn(client, [list(row) for row in chunks], list(where))
            _settle(client, out)  # the returned futures may still be running: the record must see them finish
        if any(not np.array_equal(a, b) for a, b in zip(vectors, before)):
            return False, _("your function changed the input vectors in place.")
        try:
            rows = [list(row) for row in out]
        except TypeError:
            return False, _("return chunks in the same layout (a list of p lists of p "
                             "futures), not {name}").format(name=type(out).__name__)
        if len(rows) != p or any(len(r) != p for r in rows):
            return False, _("with p = {p} ranks return p lists of p chunks, got {value}").format(p=p, value=[len(r) for r in rows])
        gathered = client.gather(rows)
        values = [np.concatenate([np.asarray(c) for c in row]) for row in gathered]
        want_sum = np.sum(vectors, axis=0)
        plsim_mean = ring_allreduce(vectors, executor=client).values
        needed = 2 * p * (p - 1)
        computed = seen.record.computed()
        if not computed:
            return False, (_("no task ran on the cluster: every chunk must move as the input of a client.submit "
                              "task on the receiving rank's worker, not be gathered and added here."))
        wrong = [r for r, v in enumerate(values)
                 if v.shape != want_sum.shape or not np.allclose(v, want_sum, rtol=1e-12, atol=1e-12)]
        if wrong:
            if all(np.allclose(v, want_sum / p, rtol=1e-12, atol=1e-12) for v in values):
                return False, _("your chunks hold the mean; return the sum (the check divides by p itself).")
            return False, _wrong_sum_message(p, wrong, gathered, vectors)
        if not all(np.allclose(v / p, m, rtol=1e-12, atol=1e-12) for v, m in zip(values, plsim_mean)):
            return False, _("with p = {p} your result differs from plsim.comm.ring_allreduce's.").format(p=p)
        sums = [np.sum([np.array_split(v, p)[c] for v in vectors], axis=0) for c in range(p)]
        work = cluster_work(seen, sums, _is_chunk_sum, what=_("summed chunks"), own="plsim.comm.ring_allreduce",
                            own_modules=("plsim.comm.",),
                            how=_("every chunk must move as the input of a client.submit task on the receiving "
                                   "rank's worker, and the table you return must hold those tasks' futures"),
                            together=_("Do not wait for a transfer's result inside the ring: a task's input can be the "
                                        "future of a task that has not finished yet, and Dask runs it when it has."))
        if work.problem:
            return False, _("with p = {p}: {problem}").format(p=p, problem=work.problem)
        most_inputs = max(len(t.dependencies) for t in computed)
        if most_inputs > 2:
            return False, (_("one of your tasks took {most_inputs} chunks at once: that is an "
                              "all-to-all gather, not a ring. In a ring each task gets one "
                              "chunk from the left neighbour (plus, when reducing, the rank's "
                              "own copy).").format(most_inputs=most_inputs))
        if len(computed) != needed:
            return False, (_("with p = {p} ranks your function ran {n_computed} tasks; a ring "
                              "moves one chunk per task, 2(p - 1) = {value} per rank, {needed} "
                              "in all (reduce-scatter and all-gather each p - 1 steps of p "
                              "transfers). Do the cutting and joining outside: chunks are given.").format(p=p, n_computed=len(computed), value=2 * (p - 1), needed=needed))
        for r, row in enumerate(rows):
            for c, future in enumerate(row):
                given = {str(chunks[q][c].key) for q in range(p)}
                if seen.record.task(future) is None or not given <= inputs_of(seen.record, future):
                    return False, (_("with p = {p}, rank {r}'s chunk {c} holds the sum, but "
                                      "not as the result of your tasks combining the chunks you "
                                      "were given: return the futures of the tasks that built "
                                      "each sum from the chunk futures (and from your earlier "
                                      "tasks' futures), not data made in this process.").format(p=p, r=r, c=c))
        loose = [t for t in computed if not t.restricted_to or t.worker not in t.restricted_to]
        if loose:
            return False, (_("with p = {p}, {n_loose} of your {n_computed} tasks were not "
                              "pinned to a worker, so Dask ran each where it liked, not where "
                              "the receiving rank's chunks live: submit every transfer with "
                              "workers=[where[dst]], dst the rank that receives the chunk.").format(p=p, n_loose=len(loose), n_computed=len(computed)))
        report.append(_("p = {p}: {n_computed} chunk transfers = 2(p - 1) = {value} per rank, "
                         "up to {most_outstanding} in flight at once").format(p=p, n_computed=len(computed), value=2 * (p - 1), most_outstanding=most_outstanding(computed, seen.record.gathers, until=seen.record.stop)))
    return True, (_("each rank holds the sum, equal to plsim.comm.ring_allreduce's result (times p), built by tasks on "
                     "the cluster from the ranks' chunks (scheduler's record); ") + "; ".join(report) + ".")


def _is_chunk_sum(result: Any, chunk_sum: np.ndarray) -> bool:
    """``same(result, sum)`` for :func:`cluster_work`: a task returned this chunk summed over the ranks."""
    return (isinstance(result, np.ndarray) and result.shape == chunk_sum.shape
            and np.allclose(result, chunk_sum, rtol=1e-12, atol=1e-12))


register(Exercise(
    name="ring_allreduce_by_hand",
    kind="code",
    hint=N_("p - 1 reduce-scatter steps then p - 1 all-gather steps; in each step every rank r submits one task "
            "on worker where[(r + 1) % p] that receives one chunk future from rank r (add it to the receiver's own "
            "chunk, or replace it); keep a table chunks[rank][chunk] of futures and update it after each step"),
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
    hint=N_("the bubble is (p - 1) / (m + p - 1); find the smallest whole m that brings it to 0.10 or below "
            "(try bubble_fraction(4, m) for a few m, or solve the inequality for m)"),
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
    hint=N_("each rank sends 2 (p - 1) chunks of n / p bytes, n = the bytes of one rank's vector "
            "(ring.values[0].nbytes); compare with ring.bytes_per_rank for 4 ranks"),
    misconception="In a ring all-reduce each worker's traffic grows with the number of workers, like a "
                  "parameter server's link; it stays about 2n bytes per worker whatever p.",
    notebook=NOTEBOOK,
))

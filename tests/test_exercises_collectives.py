"""Notebook 05's exercises: each worked solution passes its check, and wrong answers fail it.

Expected values are checked independently: the bubble answer by hand
(3 / (27 + 3) = 0.1), the 64-rank bytes from the closed form 2 (p - 1) n / p,
the ring by the plain sum of the vectors and the exact count of chunk
transfers 2 p (p - 1).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from _exercise_solutions import (  # noqa: F401
    SOLUTIONS,
    exec_solution as _exec_solution,
    no_predictions_left,
    on_clusters,
)
from plsim.comm import LinkModel, comm_time, ring_allreduce_local
from plsim.comm import ExchangeTimes
from plsim.exercises import check, check_code, predict, reveal
from plsim.exercises import _core
from plsim.exercises import collectives as ex
from plsim.exercises.scheduler_record import watch_scheduler
from plsim.training.pipeline import bubble_fraction


# -- ring_allreduce_by_hand (code) --------------------------------------------------------------------

def test_ring_chunks_places_each_ranks_chunks(client):
    vectors = ex.ring_case(3, length=10)
    chunks, where = ex.ring_chunks(client, vectors)
    assert len(chunks) == 3 and all(len(row) == 3 for row in chunks)
    addresses = sorted(client.scheduler_info()["workers"])
    assert where == [addresses[r % len(addresses)] for r in range(3)]
    for r, row in enumerate(chunks):
        got = client.gather(row)
        for c, part in enumerate(np.array_split(vectors[r], 3)):
            assert np.array_equal(got[c], part)
        held = client.who_has(row)
        assert all(where[r] in held[f.key] for f in row)


def test_ring_chunks_bad_input(client):
    with pytest.raises(ValueError, match="at least 2"):
        ex.ring_chunks(client, [np.zeros(3)])
    with pytest.raises(ValueError, match="same length"):
        ex.ring_chunks(client, [np.zeros(3), np.zeros(4)])


@on_clusters
def test_ring_solution_passes(cluster, request):
    ns = _exec_solution("ring_allreduce_by_hand", client=request.getfixturevalue(cluster))
    fb = ns["_feedback"][-1]
    assert fb.correct is True, fb
    assert "p = 3: 12 chunk transfers" in fb and "p = 4: 24 chunk transfers" in fb


def test_ring_solution_result_is_the_sum_and_the_local_schedule(client):
    vectors = ex.ring_case(4)
    chunks, where = ex.ring_chunks(client, vectors)
    with watch_scheduler(client) as seen:
        out = _solution_ring()(client, chunks, where)
        client.gather([f for row in out for f in row])  # the record ends when the block does: let them finish
    tasks = seen.record.computed()
    assert len(tasks) == 2 * 4 * 3 and max(len(t.dependencies) for t in tasks) == 2
    # every task ran where the exercise pins it: on the worker of a rank
    assert all(t.restricted_to and t.worker in t.restricted_to for t in tasks)
    assert {t.worker for t in tasks} <= set(where)
    local = ring_allreduce_local(vectors, average=False)
    for r, row in enumerate(out):
        got = np.concatenate(client.gather(row))
        assert np.allclose(got, np.sum(vectors, axis=0), rtol=1e-12, atol=1e-12)
        assert np.array_equal(got, local.values[r])  # the same schedule, the same summation order


def _skip_all_gather(client, chunks, where):
    p = len(chunks)
    chunks = [list(row) for row in chunks]
    for s in range(p - 1):
        for r in range(p):
            dst, c = (r + 1) % p, (r - s) % p
            chunks[dst][c] = client.submit(np.add, chunks[dst][c], chunks[r][c], workers=[where[dst]], pure=False)
    return chunks


def _all_to_all(client, chunks, where):
    p = len(chunks)
    return [[client.submit(lambda *parts: np.sum(parts, axis=0), *[chunks[q][c] for q in range(p)], pure=False)
             for c in range(p)] for r in range(p)]


def _in_this_process(client, chunks, where):
    p = len(chunks)
    local = [client.gather(row) for row in chunks]
    sums = [np.sum([local[q][c] for q in range(p)], axis=0) for c in range(p)]
    return [client.scatter(sums) for _ in range(p)]


def _solution_ring():
    """The worked solution's function, without running its check."""
    ns = {"check_code": lambda *args, **kwargs: None, "client": None}
    exec(compile((SOLUTIONS / "ring_allreduce_by_hand.py").read_text(), "ring_allreduce_by_hand.py", "exec"), ns)
    return ns["my_ring_allreduce"]


def _ring_then_extra_copies(client, chunks, where):
    out = _solution_ring()(client, chunks, where)
    return [[client.submit(np.copy, f, pure=False) for f in row] for row in out]


def _mean(client, chunks, where):
    out = _solution_ring()(client, chunks, where)
    p = len(chunks)
    return [[client.submit(np.divide, f, p, pure=False) for f in row] for row in out]


def _dummies(client, n):
    client.gather([client.submit(abs, -i, pure=False) for i in range(n)])


def _in_this_process_plus_dummies(client, chunks, where):
    """The sums made here, and exactly as many tasks as a ring runs, for show."""
    p = len(chunks)
    _dummies(client, 2 * p * (p - 1))
    return _in_this_process(client, chunks, where)


def _laundered(client, chunks, where):
    """The sums made here, then passed through tasks (one per chunk, topped up to a ring's count)."""
    p = len(chunks)
    table = _in_this_process(client, chunks, where)
    out = [[client.submit(np.copy, f, pure=False) for f in row] for row in table]
    _dummies(client, 2 * p * (p - 1) - p * p)
    return out


def _one_step_at_a_time(client, chunks, where):
    """The worked schedule, but waiting for each transfer before submitting the next."""
    class Waiting:
        def submit(self, *args, **kwargs):
            future = client.submit(*args, **kwargs)
            future.result()
            return future

    return _solution_ring()(Waiting(), chunks, where)


def _not_pinned(client, chunks, where):
    """The worked schedule with every task left to run wherever Dask likes."""
    class Anywhere:
        def submit(self, *args, workers=None, **kwargs):
            return client.submit(*args, **kwargs)

    return _solution_ring()(Anywhere(), chunks, where)


def _plsims_ring(client, chunks, where):
    from plsim.comm import ring_allreduce

    p = len(chunks)
    mean = ring_allreduce([np.concatenate(client.gather(row)) for row in chunks], executor=client).values
    return [client.scatter(np.array_split(m * p, p)) for m in mean]


@pytest.mark.parametrize("wrong, says", [
    (_skip_all_gather, "do not hold the sum"),
    (_all_to_all, "all-to-all"),
    (_in_this_process, "no task ran on the cluster"),
    (_ring_then_extra_copies, "2(p - 1) = 4 per rank"),
    (_mean, "hold the mean"),
    # forgeries only the scheduler's record exposes: the values are right
    (_in_this_process_plus_dummies, "3 summed chunks your answer needs were not computed by any task on the cluster"),
    (_laundered, "rank 0's chunk 0 holds the sum, but not as the result of your tasks combining the chunks"),
    (_one_step_at_a_time, "tasks that computed your summed chunks ran one at a time"),
    (_plsims_ring, "plsim's own (plsim.comm.ring_allreduce's)"),
    (_not_pinned, "12 of your 12 tasks were not pinned to a worker"),
])
def test_wrong_rings_fail(client, wrong, says):
    fb = check_code("ring_allreduce_by_hand", wrong, client=client, quiet=True)
    assert fb.correct is False and says in fb, fb


def _wrong_chunk_sent(client, chunks, where):
    """A plausible schedule mistake: in reduce-scatter step s rank r sends chunk (r + s) mod p."""
    p = len(chunks)
    chunks = [list(row) for row in chunks]
    for s in range(p - 1):
        moved = {}
        for r in range(p):
            dst, c = (r + 1) % p, (r + s) % p
            moved[dst, c] = client.submit(np.add, chunks[dst][c], chunks[r][c], workers=[where[dst]], pure=False)
        for (dst, c), f in moved.items():
            chunks[dst][c] = f
    for s in range(p - 1):
        moved = {}
        for r in range(p):
            dst, c = (r + 1) % p, (r + 1 - s) % p
            moved[dst, c] = client.submit(np.copy, chunks[r][c], workers=[where[dst]], pure=False)
        for (dst, c), f in moved.items():
            chunks[dst][c] = f
    return chunks


@pytest.mark.parametrize("wrong", [_skip_all_gather, _wrong_chunk_sent])
def test_wrong_sum_feedback_never_states_the_schedule(client, wrong):
    fb = check_code("ring_allreduce_by_hand", wrong, client=client, quiet=True)
    assert fb.correct is False and "do not hold the sum" in fb, fb
    assert "mod p" not in fb and "(r - s)" not in fb and "(r + 1 - s)" not in fb, fb
    # it says what the student's own chunk holds instead: which ranks' parts, which are missing or repeated
    assert re.search(r"rank \d's chunk \d holds rank \d's part", fb), fb
    assert "missing rank(s)" in fb or "times" in fb, fb


def test_ring_without_client_says_what_to_pass():
    fb = check_code("ring_allreduce_by_hand", _mean, quiet=True)
    assert fb.correct is False and "client=client" in fb


# -- ring_exchange_time (predict -> run -> explain) ---------------------------------------------------

def _exchange(seconds, n_workers=2):
    return ExchangeTimes(rows=[{"algorithm": "ring", "n_bytes": 8e6, "seconds": seconds, "all_seconds": [seconds],
                                "max_error": 0.0, "ranks": 2, "kind": "measured"}], n_ranks=2, n_workers=n_workers)


def test_ring_time_reveal_explains_from_the_numbers():
    link = LinkModel(alpha=1e-3, beta=1e-9)
    model_ms = comm_time("ring", 2, 8e6, link) * 1e3  # 2 alpha + 8e6 beta = 2 ms + 8 ms
    assert model_ms == pytest.approx(10.0)
    predict("ring_exchange_time", 10.0, quiet=True)
    fb = reveal("ring_exchange_time", 30.0, link=link, exchange=_exchange(0.030), quiet=True)
    assert fb.correct is False and "too low" in fb
    assert "10.0 ms" in fb and "3.00 times the model" in fb and "Slower than the model" in fb
    predict("ring_exchange_time", 100.0, quiet=True)
    fb = reveal("ring_exchange_time", 5.0, link=link, exchange=_exchange(0.005, n_workers=1), quiet=True)
    assert "Faster than the model" in fb and "one worker" in fb and "far from the model" in fb
    predict("ring_exchange_time", 11.0, quiet=True)
    fb = reveal("ring_exchange_time", 10.5, link=link, exchange=_exchange(0.0105), quiet=True)
    assert fb.correct is True and "fair guide" in fb


def test_ring_time_solution_predicts_from_the_fitted_model():
    link = LinkModel(alpha=1e-3, beta=1e-9)
    ns = _exec_solution("ring_exchange_time", comm_time=comm_time, here=link, exchanges=_exchange(0.01),
                        ring_ratios=[1.5, 2.0, 3.0])
    assert ns["prediction"] == pytest.approx(20.0)  # 10 ms from the model x the median ratio 2
    assert _core._PREDICTIONS["ring_exchange_time"] == pytest.approx(20.0)


# -- answers -------------------------------------------------------------------------------------------

def test_bubble_micro_batches():
    assert 3 / (27 + 3) == pytest.approx(0.1) and 3 / (26 + 3) > 0.1  # by hand: m = 27
    ns = _exec_solution("bubble_micro_batches", bubble_fraction=bubble_fraction)
    assert ns["answer"] == 27 and ns["_feedback"][-1].correct is True
    assert check("bubble_micro_batches", 26, quiet=True).correct is False
    assert check("bubble_micro_batches", 28, quiet=True).correct is False
    assert check("bubble_micro_batches", 27.0, quiet=True).correct is True


class _Ring:
    def __init__(self, length):
        self.values = [np.zeros(length)]
        self.bytes_per_rank = [0]


def test_ring_bytes_64():
    ring = _Ring(10_001)
    n = 10_001 * 8
    by_hand = 2 * 63 * n / 64
    assert by_hand == pytest.approx(157_515.75)
    ns = _exec_solution("ring_bytes_64", ring=ring)
    assert ns["answer"] == pytest.approx(by_hand) and ns["_feedback"][-1].correct is True
    # the 4-rank figure, or a parameter server's p n, are not it
    assert check("ring_bytes_64", 2 * 3 * n / 4, ring=ring, quiet=True).correct is False
    assert check("ring_bytes_64", 64 * n, ring=ring, quiet=True).correct is False


def test_every_exercise_has_a_misconception_and_this_notebook():
    mine = {n: e for n, e in _core.registered().items() if e.notebook == ex.NOTEBOOK}
    assert set(mine) == {"ring_exchange_time", "ring_allreduce_by_hand", "bubble_micro_batches", "ring_bytes_64"}
    assert all(e.misconception for e in mine.values())
    assert all((SOLUTIONS / f"{n}.py").exists() for n in mine)

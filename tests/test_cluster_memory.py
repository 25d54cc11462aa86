"""Memory: the smallest worker start_cluster accepts can run plsim's tasks, MEM_LIMIT gives fewer workers
rather than workers that die, data too large for a worker is refused up front, and a worker restarted for
its memory limit ends the run with a message that says so (issue 15, item 2)."""

from __future__ import annotations

import os
import pickle
import time

import numpy as np
import psutil
import pytest

import plsim
from plsim.cluster import (
    MIN_WORKER_MEMORY,
    WORKER_PEAK_MEMORY,
    WORKER_TASK_MEMORY,
    WorkerMemoryError,
    close_cluster,
    parse_memory_limit,
    start_cluster,
)
from plsim.executor import DataTooLargeError, check_data_fits, explain_worker_loss, memory_guard
from plsim.resources import Resources

MiB = 2**20


@pytest.fixture(autouse=True)
def _no_cluster_left():
    yield
    close_cluster()


def _children() -> set[int]:
    """Worker processes (multiprocessing spawn children); not the interpreter's own resource_tracker."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.Error:
            continue
    return found


def _no_new_children(before: set[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = _children() - before
        if not new:
            return []
        time.sleep(0.2)
    return sorted(_children() - before)


def _scheduler_memory_limits(client) -> list[int]:
    return sorted(client.run_on_scheduler(
        lambda dask_scheduler: [ws.memory_limit for ws in dask_scheduler.workers.values()]))


# -- the smallest memory limit -------------------------------------------------------------------------


def test_the_minimum_covers_the_measured_need_below_dasks_pause_and_restart_thresholds():
    # The measured needs (benchmarks/bench_worker_memory.py): held memory under the 80 % at which Dask
    # pauses a worker, the peak under the 95 % at which its nanny restarts it.
    assert WORKER_TASK_MEMORY <= 0.8 * MIN_WORKER_MEMORY
    assert WORKER_PEAK_MEMORY <= 0.95 * MIN_WORKER_MEMORY
    assert parse_memory_limit(MIN_WORKER_MEMORY) == MIN_WORKER_MEMORY


@pytest.mark.parametrize("small", ["64MiB", "128MiB", 223 * MiB])
def test_a_memory_limit_below_the_minimum_is_refused_with_the_numbers(small):
    before = _children()
    with pytest.raises(ValueError) as caught:
        start_cluster(n_workers=1, memory_limit=small, quiet=True)
    message = str(caught.value)
    assert f"memory_limit={small!r}" in message
    assert "224 MiB" in message and "152 MiB" in message and "187 MiB" in message and "pauses" in message
    assert plsim.current_client() is None and _children() == before


@pytest.mark.slow
def test_the_smallest_accepted_worker_fits_an_ensemble_and_a_federated_round():
    from plsim.data import load_dataset, partition
    from plsim.ensembles import ParallelBaggingClassifier, demo_data
    from plsim.federated.runner import run_federated
    from plsim.models import MLP

    X_train, X_test, y_train, y_test = demo_data()
    data = load_dataset("digits")
    parts = partition(data.y_train, 10, "iid")
    model = MLP(n_features=data.X_train.shape[1], n_classes=data.n_classes, hidden=(32,))
    sequential = ParallelBaggingClassifier(n_estimators=4, random_state=0).fit(X_train, y_train)
    with start_cluster(n_workers=1, memory_limit=MIN_WORKER_MEMORY, quiet=True) as client:
        with memory_guard(client, what="the test"):
            fitted = ParallelBaggingClassifier(n_estimators=4, random_state=0, executor=client).fit(X_train, y_train)
            history = run_federated(model, data, parts, rounds=2, client_fraction=0.5, executor=client, random_state=0)
        assert len(client.nthreads()) == 1  # the worker was never restarted away
    np.testing.assert_array_equal(fitted.predict(X_test), sequential.predict(X_test))
    assert len(history.rounds) == 2


# -- MEM_LIMIT: fewer workers that can run -------------------------------------------------------------


def _allowance(cpus: int, memory: int) -> Resources:
    return Resources(cpus=cpus, cpu_source=f"CPU_LIMIT={cpus}", memory_bytes=memory, memory_source="MEM_LIMIT")


@pytest.mark.slow
def test_mem_limit_300mb_starts_one_worker_not_two_and_says_why():
    # 80 % of 300e6 bytes = 240e6 = 228.9 MiB for workers: room for one worker of >= 224 MiB, not two.
    with pytest.warns(UserWarning, match=r"starting 1 worker\(s\), not 2") as caught:
        client = start_cluster(resources=_allowance(2, 300_000_000), quiet=True)
    note = str(caught[0].message)
    assert "MEM_LIMIT" in note and "229 MiB" in note and "224 MiB" in note
    assert _scheduler_memory_limits(client) == [240_000_000]


@pytest.mark.slow
def test_mem_limit_from_the_environment_gives_workers_that_can_fit(monkeypatch):
    from plsim.ensembles import ParallelBaggingClassifier, demo_data

    monkeypatch.setenv("MEM_LIMIT", "300000000")
    monkeypatch.setenv("CPU_LIMIT", "2")
    with pytest.warns(UserWarning, match="not 2"):
        client = start_cluster(quiet=True)
    X_train, X_test, y_train, _ = demo_data()
    with memory_guard(client, what="the fit"):
        ParallelBaggingClassifier(n_estimators=2, random_state=0, executor=client).fit(X_train, y_train)
    assert len(client.nthreads()) == 1


def test_enough_memory_keeps_one_worker_per_cpu():
    client = start_cluster(resources=_allowance(2, 4 * 2**30), processes=False, quiet=True)
    # 80 % of 4 GiB split over 2 workers, computed by hand: 1717986918 bytes each.
    assert _scheduler_memory_limits(client) == [1_717_986_918, 1_717_986_918]


def test_an_allowance_too_small_for_one_worker_starts_nothing_and_says_so():
    before = _children()
    with pytest.raises(WorkerMemoryError, match=r"not enough memory for one Dask worker.*191 MiB.*153 MiB.*224 MiB"):
        start_cluster(resources=_allowance(1, 200_000_000), quiet=True)  # 200e6 B = 190.7 MiB; 80 % = 160e6 B = 152.6 MiB
    assert plsim.current_client() is None and _children() == before


# -- data larger than a worker's share -----------------------------------------------------------------


def _room(limit: int) -> int:
    # Independently of the code: Dask pauses at 80 % of the limit and restarts at 95 %; plsim's tasks
    # hold WORKER_TASK_MEMORY and peak at WORKER_PEAK_MEMORY.
    return min(int(limit * 0.8) - WORKER_TASK_MEMORY, int(limit * 0.95) - WORKER_PEAK_MEMORY)


def test_data_up_to_the_room_passes_and_one_byte_more_is_refused_with_the_numbers():
    limit = 256 * MiB
    client = start_cluster(n_workers=2, memory_limit=limit, processes=False, quiet=True)
    room = _room(limit)
    # By hand: min(214748364 - 159383552 (152 MiB), 255013683 - 196083712 (187 MiB)) = 55364812.
    assert room == 55_364_812
    check_data_fits(client, room, what="the training data X, y")
    with pytest.raises(DataTooLargeError) as caught:
        check_data_fits(client, room + 1, what="the training data X, y")
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.nbytes, error.memory_limit, error.room) == (room + 1, limit, room)
    message = str(error)
    for words in ("the training data X, y is 53 MiB", "memory limit is 256 MiB", "leaves 53 MiB",
                  "Shrink the training data X, y", "memory_limit="):
        assert words in message, message
    clone = pickle.loads(pickle.dumps(error))
    assert (str(clone), clone.room) == (message, room)


def test_the_smallest_worker_decides():
    client = start_cluster(n_workers=1, memory_limit=512 * MiB, processes=False, quiet=True)
    check_data_fits(client, _room(512 * MiB), what="X")
    with pytest.raises(DataTooLargeError, match="memory limit is 512 MiB"):
        check_data_fits(client, 10**12, what="X")


def test_no_client_or_no_limit_checks_nothing():
    check_data_fits(None, 10**15, what="X")


@pytest.mark.parametrize(("nbytes", "what", "error"), [
    (1.5, "X", TypeError), (True, "X", TypeError), ("10", "X", TypeError), (-1, "X", ValueError),
    (10, "", TypeError), (10, None, TypeError),
])
def test_check_data_fits_bad_input(nbytes, what, error):
    with pytest.raises(error, match="nbytes|what"):
        check_data_fits(None, nbytes, what=what)


# -- a worker restarted for its memory limit ----------------------------------------------------------


def _hog(mib: int) -> float:
    block = np.ones(mib * MiB // 8)  # touched pages: resident, beyond the worker's limit
    time.sleep(2)  # long enough for the nanny's memory monitor (every 100 ms) to see it
    return float(block.sum())


def _die() -> None:
    os._exit(1)


@pytest.mark.slow
def test_a_worker_killed_by_its_memory_limit_ends_the_run_with_a_clear_memory_error():
    from distributed import KilledWorker

    before = _children()
    with start_cluster(n_workers=1, memory_limit=256 * MiB, quiet=True) as client:
        with pytest.raises(WorkerMemoryError) as caught, memory_guard(client, what="the ensemble fit"):
            client.submit(_hog, 400).result()
        # Wrapped by plsim's own message (``raise ... from exc``), the loss is still recognised.
        wrapped = RuntimeError("member 3 could not be fitted")
        wrapped.__cause__ = caught.value.__cause__
        assert isinstance(explain_worker_loss(wrapped, client, what="the fit"), WorkerMemoryError)
        # The cluster is still usable afterwards: the nanny starts a fresh worker.
        client.wait_for_workers(1, timeout=120)
        assert client.submit(sum, [1, 2]).result(timeout=120) == 3
    message = str(caught.value)
    assert isinstance(caught.value, MemoryError)
    assert isinstance(caught.value.__cause__, KilledWorker)
    for words in ("the ensemble fit ran out of memory", "memory limit of 256 MiB", "restarted",
                  "fewer or smaller models", "fewer clients", "memory_limit="):
        assert words in message, message
    assert _no_new_children(before) == []


@pytest.mark.slow
def test_scattered_data_lost_with_the_restarted_worker_is_explained_too():
    with start_cluster(n_workers=1, memory_limit=256 * MiB, quiet=True) as client:
        with pytest.raises(WorkerMemoryError, match="ran out of memory") as caught:
            with memory_guard(client, what="the federated run"):
                shard = client.scatter(np.ones(1000), broadcast=True)
                client.submit(lambda x, mib: _hog(mib) + x.sum(), shard, 400).result()
    from concurrent.futures import CancelledError as FuturesCancelled
    from asyncio import CancelledError

    assert isinstance(caught.value.__cause__, (CancelledError, FuturesCancelled))


@pytest.mark.slow
def test_a_worker_lost_for_another_reason_is_not_called_a_memory_problem():
    from distributed import KilledWorker

    with start_cluster(n_workers=1, memory_limit=512 * MiB, quiet=True) as client:
        with pytest.raises(KilledWorker), memory_guard(client, what="the run"):
            client.submit(_die).result()


def test_other_errors_pass_through_unchanged():
    client = start_cluster(n_workers=1, processes=False, quiet=True)
    original = ValueError("member 3 could not be fitted")
    with pytest.raises(ValueError) as caught, memory_guard(client, what="the fit"):
        raise original
    assert caught.value is original
    assert explain_worker_loss(original, client) is None
    assert explain_worker_loss(KeyboardInterrupt(), client) is None
    with memory_guard(None, what="the fit"):
        pass
    with pytest.raises(TypeError, match="what"), memory_guard(client, what=""):
        pass

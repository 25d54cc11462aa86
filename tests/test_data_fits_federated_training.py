"""The federated and training runners refuse, before scattering anything, data a worker cannot hold.

A real one-worker cluster at the smallest memory limit plsim accepts (``MIN_WORKER_MEMORY``):
Dask pauses the worker at 80 % of it (plsim's own tasks hold ``WORKER_TASK_MEMORY``) and the nanny
restarts it at 95 % (plsim's tasks peak at ``WORKER_PEAK_MEMORY``); training data just above the smaller
room left must be refused with a ``DataTooLargeError`` that names
the data, before any task or scattered array reaches the scheduler. (Runs that fit are what
every other cluster test does.)
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from plsim import federated as F
from plsim.cluster import MIN_WORKER_MEMORY, WORKER_PEAK_MEMORY, WORKER_TASK_MEMORY
from plsim.executor import DataTooLargeError
from plsim.models import MLP, SoftmaxRegression
from plsim.training.async_ps import async_sgd
from plsim.training.local_sgd import local_sgd
from plsim.training.pipeline import pipeline_gradient
from plsim.training.sync import sync_sgd

# A worker's room, computed here independently of the runners: what it may hold before Dask pauses it (80 %)
# and what its peak may reach before the nanny restarts it (95 %), less plsim's own measured needs.
ROOM = min(int(MIN_WORKER_MEMORY * 0.8) - WORKER_TASK_MEMORY, int(MIN_WORKER_MEMORY * 0.95) - WORKER_PEAK_MEMORY)
ROWS = ROOM // (64 * 8) + 100  # X alone (64 float64 columns) is above the room


@pytest.fixture(scope="module")
def small_cluster():
    import plsim

    # in-process worker: nothing may run on it (this process is larger than its limit), only be refused
    c = plsim.start_cluster(n_workers=1, threads_per_worker=1, memory_limit=MIN_WORKER_MEMORY, processes=False,
                            quiet=True, set_as_default=False)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def big():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(ROWS, 64))
    y = rng.integers(0, 10, size=ROWS)
    assert X.nbytes > ROOM > 0  # the premise of the test
    return X, y


RUNS = {
    "run_federated": lambda c, X, y: F.run_federated(
        SoftmaxRegression(64, 10), SimpleNamespace(X_train=X, y_train=y, X_test=X[:50], y_test=y[:50]),
        np.array_split(np.arange(len(y)), 4), rounds=1, executor=c, random_state=0),
    "sync_sgd": lambda c, X, y: sync_sgd(SoftmaxRegression(64, 10), X, y, executor=c, n_steps=1, random_state=0),
    "async_sgd": lambda c, X, y: async_sgd(SoftmaxRegression(64, 10), X, y, executor=c, n_updates=1, random_state=0),
    "local_sgd": lambda c, X, y: local_sgd(SoftmaxRegression(64, 10), X, y, executor=c, n_rounds=1, random_state=0),
    "pipeline_gradient": lambda c, X, y: pipeline_gradient(MLP(64, (8,), 10), MLP(64, (8,), 10).init_params(0),
                                                           X, y, executor=c),
}
WHAT = {"run_federated": "the federated clients' data", "pipeline_gradient": "the batch X, y"}


@pytest.mark.parametrize("name", list(RUNS))
def test_data_larger_than_a_worker_is_refused_before_it_is_sent(small_cluster, big, name):
    X, y = big
    before = set(small_cluster.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks)))
    with pytest.raises(DataTooLargeError, match=WHAT.get(name, "the training data X, y")) as info:
        RUNS[name](small_cluster, X, y)
    assert f"{MIN_WORKER_MEMORY / 2**20:.0f} MiB" in str(info.value) and info.value.nbytes > info.value.room
    assert info.value.room == ROOM
    after = set(small_cluster.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks)))
    assert after == before  # nothing was scattered or submitted


@pytest.mark.parametrize("name", ["run_federated", "sync_sgd", "local_sgd"])
def test_a_worker_lost_to_its_memory_limit_ends_the_run_with_a_memory_error(client, monkeypatch, name):
    """SIMULATED loss: the gather fails as Dask's does after a nanny restarted a worker for memory.

    The real mechanism (a task allocating past a worker's limit) is tested in tests/test_cluster_memory.py;
    here only the wiring: each runner's Dask path is inside plsim.executor.memory_guard.
    """
    from distributed import KilledWorker

    from plsim.cluster import WorkerMemoryError

    def gather_after_a_restart(*args, **kwargs):
        # what a nanny logs when it restarts its worker for memory, then what the run sees
        client.log_event("worker-restart-memory", {"worker": "tcp://127.0.0.1:1", "rss": 300 * 2**20})
        raise KilledWorker("a-task", None, 3)

    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(200, 64)), rng.integers(0, 10, size=200)
    monkeypatch.setattr(client, "gather", gather_after_a_restart)
    with pytest.raises(WorkerMemoryError, match=f"{name} ran out of memory on a Dask worker") as info:
        if name == "local_sgd":  # its Dask path waits with Future.result, not gather
            monkeypatch.setattr("distributed.Future.result", lambda self, timeout=None: gather_after_a_restart())
        RUNS[name](client, X, y)
    assert isinstance(info.value.__cause__, KilledWorker) and "Shrink it" in str(info.value)

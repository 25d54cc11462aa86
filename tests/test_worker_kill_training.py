"""A worker SIGKILLed in the middle of a distributed-training run changes no result.

Every shard is placed as a task (its lineage) and every step is a deterministic task seeded from
the seed tree, so when a worker dies Dask recomputes what it held -- shards, replica chains,
gradients in flight -- on the worker left (or its restarted replacement). Checked on a 2-worker
LocalCluster started through the public API and on the separate-process
:class:`plsim.deployment.LocalDeployment` (``dask scheduler`` + ``dask worker`` processes).

The kill comes from the progress callback after step ``k`` (``tests/_worker_kill.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from plsim.data import load_dataset
from plsim.models import SoftmaxRegression
from plsim.training import async_sgd, local_sgd, sync_sgd
from _worker_kill import CLUSTER_KINDS, kill_after, two_worker_cluster

pytestmark = pytest.mark.slow

DS = load_dataset("digits")
X, Y = DS.X_train[:400], DS.y_train[:400]
SOFT = SoftmaxRegression(X.shape[1], 10)


@pytest.fixture(scope="module", params=CLUSTER_KINDS)
def cluster_client(request):
    with two_worker_cluster(request.param) as client:
        yield client


@pytest.fixture
def c(cluster_client):
    cluster_client.wait_for_workers(2, timeout=180)  # the nanny restarted the worker a previous test killed
    return cluster_client


def test_sync_sgd_with_a_killed_worker_gives_the_unkilled_parameters(c):
    kw = dict(n_workers=2, lr=0.3, n_steps=8, batch_size=64, random_state=5, lag=2)
    reference = sync_sgd(SOFT, X, Y, **kw)  # sequential == 2 workers (tested in test_training.py)
    callback, killed = kill_after(c, 3)
    h = sync_sgd(SOFT, X, Y, executor=c, callback=callback, **kw)
    assert killed and h.stopped_reason is None and h.steps == list(range(1, 9))
    np.testing.assert_allclose(h.params, reference.params, rtol=0, atol=1e-12)
    np.testing.assert_allclose(h.loss, reference.loss, rtol=0, atol=1e-12)
    assert h.info["replicas_identical"]


def test_local_sgd_with_a_killed_worker_gives_the_unkilled_parameters(c):
    kw = dict(n_workers=2, H=2, n_rounds=5, lr=0.3, batch_size=32, random_state=6)
    reference = local_sgd(SOFT, X, Y, **kw)
    callback, killed = kill_after(c, 2)
    h = local_sgd(SOFT, X, Y, executor=c, callback=callback, **kw)
    assert killed and h.steps == reference.steps
    np.testing.assert_allclose(h.params, reference.params, rtol=0, atol=1e-12)


def test_async_sgd_one_worker_with_a_killed_worker_gives_the_unkilled_parameters(c):
    # One asynchronous worker: no race, so the run is deterministic (== sequential SGD).
    kw = dict(n_workers=1, lr=0.1, n_updates=8, batch_size=32, random_state=7, delays=[0.05])
    reference = async_sgd(SOFT, X, Y, **kw)
    callback, killed = kill_after(c, 3)  # the worker holding the shard: where the gradient in flight runs
    h = async_sgd(SOFT, X, Y, executor=c, callback=callback, **kw)
    assert killed and h.steps == list(range(9)) and h.staleness == [0] * 8
    np.testing.assert_allclose(h.params, reference.params, rtol=0, atol=1e-12)


def test_async_sgd_two_workers_with_a_killed_worker_applies_every_update_with_a_consistent_log(c):
    n = 16
    callback, killed = kill_after(c, 4)
    h = async_sgd(SOFT, X, Y, executor=c, n_workers=2, lr=0.05, n_updates=n, batch_size=32, random_state=8,
                  delays=[0.02, 0.02], callback=callback)
    assert killed and h.stopped_reason is None
    assert h.steps == list(range(n + 1)) and len(h.loss) == n + 1 and len(h.staleness) == n == len(h.bytes_sent)
    # update u read a version between 0 and u - 1: staleness in [0, u - 1]
    assert all(0 <= s <= u for u, s in enumerate(h.staleness))
    assert np.all(np.isfinite(h.params)) and h.loss[-1] < h.loss[0]

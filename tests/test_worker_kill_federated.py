"""A worker SIGKILLed in the middle of a federated run changes no result.

Each party's data is placed as a task (its lineage), not broadcast-scattered, and every client
update is a deterministic task seeded from the seed tree; so when a worker dies, Dask recomputes
the parties' data it held on the worker left (or its restarted replacement) and the rounds go on
with the same updates. The issue this guards against (#14): with broadcast-scattered data a killed
worker aborted the run with ``FutureCancelledError ... lost dependencies``.

Checked on a 2-worker LocalCluster started through the public API and on the separate-process
:class:`plsim.deployment.LocalDeployment`. The kill comes from the progress callback after round
``k`` (``tests/_worker_kill.py``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from plsim import data, federated as F, models
from _worker_kill import CLUSTER_KINDS, kill_after, two_worker_cluster

pytestmark = pytest.mark.slow

DS = data.load_dataset("digits", n_samples=600, random_state=0)
PARTS = data.partition(DS.y_train, 12, "dirichlet", alpha=0.5, random_state=0)
MLP = models.MLP(DS.n_features, (16,), DS.n_classes)


@pytest.fixture(scope="module", params=CLUSTER_KINDS)
def c(request):
    with two_worker_cluster(request.param) as client:
        yield client


def _killed_run(client, k, which=0, **kw):
    """``run_federated`` on ``client`` with worker ``which`` SIGKILLed after round ``k``."""
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the worker a previous test killed
    callback, killed = kill_after(client, k, which=which)
    h = F.run_federated(MLP, DS, PARTS, executor=client, callback=callback, **kw)
    assert killed and h.stopped_reason is None and len(h) == kw["rounds"]
    return h


def _same_history(a, b):
    """Identical records (but for the measured wall-clock seconds) and identical final weights."""
    np.testing.assert_array_equal(a.weights, b.weights)
    for ra, rb in zip(a.records, b.records, strict=True):
        da, db = ra.as_dict(), rb.as_dict()
        da.pop("wall_seconds_measured"), db.pop("wall_seconds_measured")
        for key in da:
            if isinstance(da[key], float) and math.isnan(da[key]):
                assert math.isnan(db[key]), key
            else:
                assert da[key] == db[key], key


@pytest.mark.parametrize("which", [0, 1])
def test_fedavg_with_a_killed_worker_gives_the_unkilled_history(c, which):
    kw = dict(algorithm="fedavg", rounds=5, client_fraction=0.5, local_epochs=2, batch_size=10, lr=0.05,
              random_state=11)
    reference = F.run_federated(MLP, DS, PARTS, **kw)  # sequential == 2 workers (test_federated_cluster.py)
    h = _killed_run(c, 2, which=which, **kw)
    np.testing.assert_array_equal(h.accuracy, reference.accuracy)
    _same_history(h, reference)


def test_dp_secure_aggregation_with_drop_outs_and_a_killed_worker_gives_the_unkilled_history(c):
    strategy = F.SecAgg(F.DPFedAvg(F.FedProx(client_fraction=0.5, local_epochs=1, batch_size=10, lr=0.05, mu=0.1),
                                   F.DPConfig(clip=1.0, noise_multiplier=0.3, delta=1e-3)))
    kw = dict(strategy=strategy, rounds=4, dropout_rate=0.2, random_state=5,
              clock=F.VirtualClock(speed_sigma=0.8, deadline=0.3, straggler_policy="partial"))
    reference = F.run_federated(MLP, DS, PARTS, **kw)
    h = _killed_run(c, 1, **kw)
    _same_history(h, reference)

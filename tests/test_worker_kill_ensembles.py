"""A worker SIGKILLed in the middle of an ensemble fit changes no member and no prediction.

The training data is placed once per fit as a task (its lineage, :mod:`plsim.executor`), not
broadcast-scattered, and member ``i`` is a deterministic task seeded from branch ``("member", i)``
of the seed tree; so when a worker dies, Dask re-runs the members it was training (and the data
placement it held) on the worker left, and they come out exactly as they would have. The issue this
guards against (#14): with broadcast-scattered data a killed worker could abort the fit with
``FutureCancelledError ... lost dependencies``.

Checked on a 2-worker LocalCluster started through the public API (``distributed.LocalCluster``)
and on the separate-process :class:`plsim.deployment.LocalDeployment` (``dask worker`` processes).
Both run their workers under a nanny, which starts a replacement worker after the kill; the fit
does not wait for it (the kill callback waits only until the scheduler has seen the worker die, so
the members still pending run on the survivor, or on the replacement if it is up in time). The
kill comes from the ensemble's progress callback after ``k`` members (``tests/_worker_kill.py``).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.tree import DecisionTreeClassifier

from _worker_kill import CLUSTER_KINDS, kill_after, two_worker_cluster
from plsim.ensembles import ParallelBaggingClassifier, ParallelVotingClassifier

pytestmark = pytest.mark.slow

# Big enough that a member (a full-depth tree) takes ~0.5 s, so members are still pending at the
# kill; plain scikit-learn estimators, which the separate `dask worker` processes can import.
X, Y = make_classification(6000, 30, n_informative=10, n_classes=3, random_state=0)
N_MEMBERS = 8


@pytest.fixture(scope="module", params=CLUSTER_KINDS)
def c(request):
    with two_worker_cluster(request.param) as client:
        yield client


def _nothing_left(client, wait=10.0):
    """The plsim tasks (members and placed data) still on the scheduler, after a moment to forget them."""
    def _plsim_keys(dask_scheduler):  # local: pickled by value, as the `dask scheduler` process cannot import tests
        return sorted(str(k) for k in dask_scheduler.tasks if str(k).startswith("plsim-"))

    deadline = time.monotonic() + wait  # releases are messages: give the scheduler a moment
    while (left := client.run_on_scheduler(_plsim_keys)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture(scope="module")
def reference():
    """The unkilled fit, sequential (== 1 worker == 2 workers: tests/test_ensembles.py)."""
    return ParallelBaggingClassifier(n_estimators=N_MEMBERS, random_state=5).fit(X, Y)


@pytest.mark.parametrize("which", [0, 1])
def test_bagging_with_a_killed_worker_predicts_as_the_unkilled_fit(c, reference, which):
    c.wait_for_workers(2, timeout=60)  # the nanny restarted the worker a previous test killed
    callback, killed = kill_after(c, 2, which=which)
    model = ParallelBaggingClassifier(n_estimators=N_MEMBERS, executor=c, random_state=5)
    model.fit(X, Y, callback=callback)
    assert killed, "the worker was never killed"
    assert not model.partial_ and model.stopped_reason_ is None
    assert list(model.member_indices_) == list(range(N_MEMBERS))
    np.testing.assert_array_equal(model.predict_proba(X), reference.predict_proba(X))
    for got, want in zip(model.estimators_samples_, reference.estimators_samples_, strict=True):
        np.testing.assert_array_equal(got, want)
    assert _nothing_left(c) == []


def test_voting_with_a_killed_worker_keeps_every_member(c):
    members = [(f"depth{d}", DecisionTreeClassifier(max_depth=d)) for d in (4, 8, 12, None)]
    reference = ParallelVotingClassifier(members, voting="soft", random_state=2).fit(X, Y)
    c.wait_for_workers(2, timeout=60)
    callback, killed = kill_after(c, 1)
    model = ParallelVotingClassifier(members, voting="soft", executor=c, random_state=2).fit(X, Y, callback=callback)
    assert killed and not model.partial_
    np.testing.assert_array_equal(model.predict_proba(X), reference.predict_proba(X))
    assert _nothing_left(c) == []

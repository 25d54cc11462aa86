"""Stopped or interrupted ensemble fits keep the members that finished, flagged partial (issue 15, item 3).

The real mechanisms: the kernel's interrupt button raises KeyboardInterrupt in
the main thread, wherever it is (here: in the progress callback, which runs
there as each member comes back); a Stop (the widgets' Stop button) is the
:mod:`plsim.progress` callback returning True. ``tests/test_interrupt.py``
drives a real kernel.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from plsim.ensembles import (
    ParallelBaggingClassifier,
    ParallelBaggingRegressor,
    ParallelStackingClassifier,
    ParallelVotingClassifier,
    PartialResultWarning,
    RandomSubspaceClassifier,
    SweepEnsembleClassifier,
)

X, Y = make_classification(300, 8, n_informative=5, n_classes=3, random_state=0)


def stop_at(k, exc=None):
    """A plsim.progress callback that asks to stop (returns True) when the k-th member has come back,
    or raises ``exc`` then."""
    def callback(event):
        if event.done == k and exc is not None:
            raise exc()
        return event.done == k
    return callback


def assert_same_members(part, full):
    """Each kept member equals the member of the same index of the complete fit."""
    assert len(part.estimators_) == len(part.member_indices_)
    for j, i in enumerate(part.member_indices_):
        np.testing.assert_array_equal(part.estimators_samples_[j], full.estimators_samples_[i])
        np.testing.assert_array_equal(part.estimators_features_[j], full.estimators_features_[i])
        np.testing.assert_array_equal(part.estimators_[j].predict_proba(X[:, part.estimators_features_[j]]),
                                      full.estimators_[i].predict_proba(X[:, full.estimators_features_[i]]))


@pytest.mark.parametrize("make", [
    lambda: ParallelBaggingClassifier(n_estimators=8, random_state=3),
    lambda: RandomSubspaceClassifier(n_estimators=8, random_state=3),
], ids=["bagging", "subspace"])
def test_stop_keeps_exactly_the_first_members_sequentially(make):
    full = make().fit(X, Y)
    assert full.partial_ is False and list(full.member_indices_) == list(range(8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a requested Stop does not warn
        part = make().fit(X, Y, callback=stop_at(3))
    assert part.partial_ is True and list(part.member_indices_) == [0, 1, 2]
    assert part.stopped_reason_ == "stopped" and full.stopped_reason_ is None
    assert_same_members(part, full)
    # The partial ensemble predicts as the first three members of the complete one.
    np.testing.assert_array_equal(part.predict(X), list(full.staged_predict(X))[2])
    assert len(part.member_fit_times_) == len(part.member_workers_) == 3


def test_interrupt_keeps_the_members_warns_and_re_raises():
    model = ParallelBaggingClassifier(n_estimators=6, random_state=1)
    with pytest.warns(PartialResultWarning, match="kept the 2 of 6 members fitted before the interrupt"):
        with pytest.raises(KeyboardInterrupt) as info:
            model.fit(X, Y, callback=stop_at(2, KeyboardInterrupt))
    assert any("partial_=True" in note for note in info.value.__notes__)
    assert model.partial_ and list(model.member_indices_) == [0, 1]
    assert model.stopped_reason_ == "interrupted"
    assert_same_members(model, ParallelBaggingClassifier(n_estimators=6, random_state=1).fit(X, Y))


def test_interrupt_before_any_member_leaves_nothing_partial(monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("plsim.executor.Sequential.place", interrupted)
    model = ParallelBaggingClassifier(n_estimators=3)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y)
    assert not hasattr(model, "estimators_") and not hasattr(model, "partial_")


def test_regressor_and_voting_keep_what_finished():
    y = X[:, 0] * 2.0
    part = ParallelBaggingRegressor(n_estimators=5, random_state=0).fit(X, y, callback=stop_at(4))
    full = ParallelBaggingRegressor(n_estimators=5, random_state=0).fit(X, y)
    np.testing.assert_allclose(part.predict(X), full.predict_members(X)[:4].mean(axis=0))
    members = [("tree", DecisionTreeClassifier(random_state=0)), ("lr", LogisticRegression(max_iter=2000)),
               ("nb", GaussianNB())]
    voting = ParallelVotingClassifier(members, voting="soft", weights=[1, 2, 3]).fit(X, Y, callback=stop_at(2))
    assert voting.partial_ and list(voting.member_indices_) == [0, 1]
    assert set(voting.named_estimators_) == {"tree", "lr"}
    np.testing.assert_array_equal(voting.weights_, [1, 2])
    two = ParallelVotingClassifier(members[:2], voting="soft", weights=[1, 2]).fit(X, Y)
    np.testing.assert_array_equal(voting.predict_proba(X), two.predict_proba(X))


def test_stacking_and_sweep_keep_nothing_partial():
    from sklearn.exceptions import NotFittedError

    members = [("tree", DecisionTreeClassifier(random_state=0)), ("nb", GaussianNB())]
    stacking = ParallelStackingClassifier(members, cv=3).fit(X, Y)  # a complete fit first: the stop forgets it
    assert stacking.stopped_reason_ is None
    events = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a requested stop does not warn
        assert stacking.fit(X, Y, callback=lambda e: events.append(e) or e.done == 2) is stacking
    assert stacking.stopped_reason_ == "stopped" and not hasattr(stacking, "estimators_")
    assert [(e.done, e.total, e.unit) for e in events] == [(1, 8, "fit"), (2, 8, "fit")]
    with pytest.raises(NotFittedError):
        stacking.predict(X)
    sweep = SweepEnsembleClassifier(DecisionTreeClassifier(), {"max_depth": [1, 2]}, top_k=1, cv=2)
    sweep.fit(X, Y, callback=stop_at(5))  # stopped as the refit (fit 5 of 5) came back: nothing kept
    assert sweep.stopped_reason_ == "stopped" and not hasattr(sweep, "estimators_")
    with pytest.raises(KeyboardInterrupt):
        sweep.fit(X, Y, callback=stop_at(1, KeyboardInterrupt))
    assert not hasattr(sweep, "estimators_")


# -- on the cluster -------------------------------------------------------------------------------

def _plsim_keys(dask_scheduler, prefix):
    return sorted(str(k) for k in dask_scheduler.tasks if str(k).startswith(prefix))


def _no_plsim_tasks_left(client, prefix, wait=5.0):
    deadline = time.monotonic() + wait  # a cancel is a message: give the scheduler a moment
    while (left := client.run_on_scheduler(_plsim_keys, prefix=prefix)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.slow
@pytest.mark.parametrize("exc", [KeyboardInterrupt, None], ids=["interrupt", "stop"])
def test_cluster_interrupt_keeps_the_finished_members_and_the_cluster(client, exc):
    workers = sorted(client.nthreads())
    full = ParallelBaggingClassifier(n_estimators=12, random_state=9).fit(X, Y)
    model = ParallelBaggingClassifier(n_estimators=12, executor=client, random_state=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PartialResultWarning)
        if exc is KeyboardInterrupt:
            with pytest.raises(KeyboardInterrupt):
                model.fit(X, Y, callback=stop_at(3, exc))
        else:
            model.fit(X, Y, callback=stop_at(3, exc))
    # Exactly the three members that came back are kept (whichever finished first), each the
    # member of the same index of the uninterrupted fit.
    assert model.partial_ and len(model.member_indices_) == 3 == len(set(model.member_indices_))
    assert_same_members(model, full)
    # Nothing of the stopped fit is left on the cluster: pending members and the data were cancelled ...
    assert _no_plsim_tasks_left(client, "plsim-") == []
    # ... and the same client, with all its workers, fits again completely.
    again = ParallelBaggingClassifier(n_estimators=12, executor=client, random_state=9).fit(X, Y)
    assert not again.partial_ and sorted(client.nthreads()) == workers
    np.testing.assert_array_equal(again.predict_proba(X), full.predict_proba(X))


def test_stop_through_joblib_keeps_the_first_members():
    from joblib import Parallel

    full = ParallelBaggingClassifier(n_estimators=6, random_state=2).fit(X, Y)
    part = ParallelBaggingClassifier(n_estimators=6, executor=Parallel(n_jobs=1, return_as="generator"),
                                     random_state=2).fit(X, Y, callback=stop_at(2))
    assert part.partial_ and list(part.member_indices_) == [0, 1]
    assert_same_members(part, full)


# -- the kernel's interrupt button, as JupyterLab sends it --------------------------------------

KERNEL_FIT = """
model = ParallelBaggingClassifier(n_estimators=200, executor=client, random_state=0)
model.fit(X, y, callback=lambda event: event.done == 2 and print("STARTED", flush=True))
print("FINISHED")
"""

KERNEL_CHECK = """
kept = [int(i) for i in model.member_indices_]
same = ParallelBaggingClassifier(n_estimators=max(kept) + 1, executor=client, random_state=0).fit(X, y)
equal = all(np.array_equal(model.estimators_samples_[j], same.estimators_samples_[i])
            and np.array_equal(model.estimators_[j].predict_proba(X), same.estimators_[i].predict_proba(X))
            for j, i in enumerate(kept))
print("REPORT" + json.dumps(dict(partial=bool(model.partial_), kept=len(kept), equal=equal,
                                  predicts=len(model.predict(X[:5])) == 5)))
"""


@pytest.mark.slow
def test_kernel_interrupt_leaves_the_finished_members_in_the_model():
    pytest.importorskip("jupyter_client")
    from test_interrupt import SETUP, Kernel

    kernel = Kernel()
    try:
        kernel.report(SETUP)
        # Interrupted half a second after the second member came back.
        content, out = kernel.run(KERNEL_FIT, interrupt_after=0.5, timeout=90)
        assert content["status"] == "error" and content["ename"] == "KeyboardInterrupt", (content, out)
        assert "FINISHED" not in out
        assert any("kept the" in line and "partial_=True" in line for line in content["traceback"]), content
        report = kernel.report(KERNEL_CHECK, timeout=90)
        assert report["partial"] and 2 <= report["kept"] < 200 and report["equal"] and report["predicts"], report
        assert kernel.report("tasks_left()") == []
        after = kernel.report("report(len(ParallelBaggingClassifier(n_estimators=4, executor=client, "
                              "random_state=0).fit(X[:500], y[:500]).estimators_) == 4)", timeout=60)
        assert after == {"ok": True, "addresses": True, "n_workers": 2}
    finally:
        kernel.shutdown()

"""plsim.ensembles: same members and predictions sequential / 1 worker / 2 workers, data shipped once,
timings and workers recorded, errors that say what is wrong, and agreement with scikit-learn."""

from __future__ import annotations

import os
import pickle
import sys
import time
import traceback

import cloudpickle
import numpy as np
import pytest
from joblib import Parallel
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression, Perceptron, Ridge
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import plsim
from plsim.ensembles import (
    ParallelBaggingClassifier,
    ParallelBaggingRegressor,
    ParallelStackingClassifier,
    ParallelVotingClassifier,
    ParallelVotingRegressor,
    RandomSubspaceClassifier,
    SweepEnsembleClassifier,
    accuracy_curve,
    pairwise_disagreement,
)
from plsim.ensembles._base import hard_vote
from plsim.ensembles.bagging import draw_indices
from plsim.ensembles.diversity import mean_disagreement

# The helper estimator below lives in this test module, which workers cannot import: ship it by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

X_CLF, Y_CLF = make_classification(300, 8, n_informative=5, n_classes=3, random_state=0)
Y_STR = np.array(["ant", "bee", "cat"])[Y_CLF]  # string labels go through the encoding
X_REG, Y_REG = make_regression(200, 6, noise=5.0, random_state=0)


class SleepyClassifier(ClassifierMixin, BaseEstimator):
    """Predicts the majority class after sleeping ``delay`` seconds in fit (a task of known length)."""

    def __init__(self, delay=0.3):
        self.delay = delay

    def fit(self, X, y):
        time.sleep(self.delay)
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[np.argmax(counts)]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


def make_models(client):
    """One instance of every ensemble flavour, all with the given executor."""
    members = [("tree", DecisionTreeClassifier(max_depth=4)), ("lr", LogisticRegression(max_iter=500)),
               ("nb", GaussianNB())]
    return {
        "bagging": ParallelBaggingClassifier(n_estimators=6, executor=client, random_state=7),
        "subspace": RandomSubspaceClassifier(n_estimators=6, max_features=0.5, executor=client, random_state=7),
        "patches": ParallelBaggingClassifier(n_estimators=6, max_samples=0.6, max_features=0.6,
                                             bootstrap=False, executor=client, random_state=7),
        "voting": ParallelVotingClassifier(members, voting="soft", executor=client, random_state=7),
        "stacking": ParallelStackingClassifier(members, cv=3, executor=client, random_state=7),
        "sweep": SweepEnsembleClassifier(DecisionTreeClassifier(), {"max_depth": [2, 4, None],
                                                                     "min_samples_leaf": [1, 5]},
                                         top_k=3, cv=3, voting="soft", executor=client, random_state=7),
    }


def fingerprint(model):
    """Everything that identifies the fitted members and the predictions."""
    proba = model.predict_proba(X_CLF) if hasattr(model, "predict_proba") else None
    members = []
    for m in model.estimators_:
        if hasattr(m, "tree_"):
            members.append((m.tree_.feature.copy(), m.tree_.threshold.copy(), m.tree_.value.copy()))
        elif hasattr(m, "coef_"):
            members.append((m.coef_.copy(),))
        else:
            members.append((m.theta_.copy(),))
    return model.predict(X_CLF), proba, members


def assert_same(a, b):
    pa, proba_a, members_a = a
    pb, proba_b, members_b = b
    np.testing.assert_array_equal(pa, pb)
    if proba_a is not None:
        np.testing.assert_array_equal(proba_a, proba_b)
    assert len(members_a) == len(members_b)
    for ma, mb in zip(members_a, members_b):
        for xa, xb in zip(ma, mb):
            np.testing.assert_array_equal(xa, xb)


@pytest.fixture(scope="module")
def client1():
    """A real 1-worker LocalCluster, closed after this module."""
    with plsim.start_cluster(n_workers=1, quiet=True) as c:
        yield c


@pytest.fixture(scope="module")
def sequential_fits():
    return {name: fingerprint(model.fit(X_CLF, Y_STR)) for name, model in make_models(None).items()}


# -- same answer, any parallelism -------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", ["bagging", "subspace", "patches", "voting", "stacking", "sweep"])
def test_identical_sequential_one_and_two_workers(name, sequential_fits, client1, client):
    one = make_models(client1)[name].fit(X_CLF, Y_STR)
    two = make_models(client)[name].fit(X_CLF, Y_STR)
    assert_same(sequential_fits[name], fingerprint(one))
    assert_same(sequential_fits[name], fingerprint(two))
    assert set(one.member_workers_) == {next(iter(client1.nthreads()))}
    assert set(two.member_workers_) <= set(client.nthreads())


@pytest.mark.slow
def test_regressors_identical_sequential_and_two_workers(client):
    for make in (lambda c: ParallelBaggingRegressor(n_estimators=5, max_features=0.7, executor=c, random_state=3),
                 lambda c: ParallelVotingRegressor([("tree", DecisionTreeRegressor()), ("ridge", Ridge())],
                                                   executor=c, random_state=3)):
        seq = make(None).fit(X_REG, Y_REG)
        par = make(client).fit(X_REG, Y_REG)
        np.testing.assert_array_equal(seq.predict(X_REG), par.predict(X_REG))


# -- data goes to the workers once ------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", ["bagging", "stacking", "sweep"])
def test_data_placed_once_and_tasks_carry_no_data(name, client, monkeypatch):
    from plsim.executor.core import _identity

    placed, payloads = [], []
    real_map = client.map

    def spy_map(func, *iterables, **kwargs):
        if func is _identity:  # plsim.executor places shared data as tasks that return it (lineage)
            placed.extend(zip(kwargs["key"], iterables[0], strict=True))
        else:
            for args in zip(*iterables, strict=True):  # one task's own arguments
                payloads.append(len(cloudpickle.dumps(args)))
        return real_map(func, *iterables, **kwargs)

    monkeypatch.setattr(client, "map", spy_map)
    model = make_models(client)[name].fit(X_CLF, Y_STR)
    assert [key.split("-")[2] for key, _ in placed] == ["X", "y"], "X and y must be placed once per fit"
    np.testing.assert_array_equal(placed[0][1], X_CLF)
    n_tasks = {"bagging": 6, "stacking": 3 * (3 + 1), "sweep": 6 * 3 + 3}[name]
    assert len(payloads) == n_tasks
    # Each task refers to X by future: its own payload is far smaller than X itself.
    assert max(payloads) < X_CLF.nbytes / 2, (max(payloads), X_CLF.nbytes)
    assert model.score(X_CLF, Y_STR) > 0.7


def _wait_at_gate(gate: str) -> str:
    from distributed import Event

    if not Event(gate).wait(timeout=60):
        raise TimeoutError(f"gate {gate} never opened")
    return gate


def _scheduler_view(dask_scheduler, prefix: str) -> tuple[list[int], int]:
    """Tasks whose key starts with ``prefix``: how many each worker holds, and how many wait queued."""
    held = sorted(sum(str(ts.key).startswith(prefix) for ts in ws.processing)
                  for ws in dask_scheduler.workers.values())
    queued = sum(str(ts.key).startswith(prefix) for ts in dask_scheduler.queued)
    return held, queued


@pytest.mark.slow
def test_tasks_wait_queued_until_a_worker_is_free(client):
    # Greedy list scheduling: a worker holds only the task it is running, the rest wait
    # on the scheduler and go, in task order, to whichever worker frees up first. Had the
    # first tasks been bound to workers on arrival, member 2 would wait behind member 0
    # even while the other worker sat idle (the bench's 16 trees lost ~1 % to that).
    import threading
    import uuid

    from distributed import Event

    from plsim.executor import Dask

    gate = Event(f"plsim-test-gate-{uuid.uuid4().hex}", client=client)
    name = f"gated{uuid.uuid4().hex[:6]}"
    results: list = []
    runner = threading.Thread(target=lambda: results.append(
        Dask(client).map(_wait_at_gate, {}, [{"gate": gate.name}] * 6, name=name)))
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            held, queued = client.run_on_scheduler(_scheduler_view, prefix=name)
            if sum(held) + queued == 6 and sum(held) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert (held, queued) == ([1, 1], 4)  # one running task per 1-thread worker, 4 waiting
    finally:
        gate.set()
        runner.join(timeout=60)
    assert [r.value for r in results[0]] == [gate.name] * 6
    assert len({r.worker for r in results[0]}) == 2


# -- measured fit times and the workers that ran them -----------------------------------------

@pytest.mark.slow
def test_fit_times_and_workers_recorded_and_members_overlap(client):
    # warm-up: ship this module's helper class to the workers before timing
    ParallelBaggingClassifier(SleepyClassifier(delay=0.0), n_estimators=4, executor=client).fit(X_CLF, Y_CLF)
    model = ParallelBaggingClassifier(SleepyClassifier(delay=0.5), n_estimators=4, executor=client, random_state=0)
    start = time.perf_counter()
    model.fit(X_CLF, Y_CLF)
    wall = time.perf_counter() - start
    assert model.member_fit_times_.shape == (4,)
    assert np.all(model.member_fit_times_ >= 0.5)
    assert set(model.member_workers_) == set(client.nthreads())  # both workers used
    # Sleeping members overlap even on a busy machine: 2 s of member time, ideally 1 s of wall time.
    assert wall < 0.9 * model.member_fit_times_.sum()

    seq = ParallelBaggingClassifier(SleepyClassifier(delay=0.05), n_estimators=3, random_state=0).fit(X_CLF, Y_CLF)
    assert seq.member_workers_ == ["local"] * 3
    assert np.all(seq.member_fit_times_ >= 0.05)


def test_callback_gets_one_progress_event_per_finished_member():
    events = []
    model = ParallelBaggingClassifier(n_estimators=4, random_state=0).fit(X_CLF, Y_CLF, callback=events.append)
    assert [(e.done, e.total, e.unit) for e in events] == [(1, 4, "member"), (2, 4, "member"), (3, 4, "member"),
                                                           (4, 4, "member")]
    # record: the member's TaskResult (sequential: in member order)
    assert [e.record.value[0] for e in events] == model.estimators_
    assert all(e.record.worker == "local" and "member" in e.message for e in events)
    events.clear()
    SweepEnsembleClassifier(DecisionTreeClassifier(), {"max_depth": [1, 2]}, top_k=1, cv=2).fit(
        X_CLF, Y_CLF, callback=events.append)
    assert [(e.done, e.total, e.unit) for e in events] == [(d, 5, "fit") for d in range(1, 6)]


def test_callback_must_be_callable():
    with pytest.raises(TypeError, match=r"callback=3 \(int\) is not allowed"):
        ParallelBaggingClassifier(n_estimators=2).fit(X_CLF, Y_CLF, callback=3)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bagging", "stacking", "sweep"])
def test_joblib_executor_gives_the_same_fit_as_sequential(name, sequential_fits):
    # executor=joblib.Parallel changes only who runs the tasks: members and predictions stay identical.
    model = make_models(Parallel(n_jobs=2, return_as="generator"))[name]
    calls = []
    model.fit(X_CLF, Y_STR, callback=lambda e: calls.append((e.done, e.total)))
    assert_same(sequential_fits[name], fingerprint(model))
    total = calls[-1][1]
    assert calls == [(i, total) for i in range(1, total + 1)]
    pids = set(model.member_workers_)
    assert all(p.startswith("pid ") and p != f"pid {os.getpid()}" for p in pids)  # loky worker processes


def test_joblib_executor_with_one_job_runs_here_and_rejects_unordered_results():
    model = ParallelBaggingClassifier(n_estimators=3, executor=Parallel(n_jobs=1), random_state=0).fit(X_CLF, Y_CLF)
    assert model.member_workers_ == ["local"] * 3  # joblib runs n_jobs=1 in this process
    unordered = ParallelBaggingClassifier(executor=Parallel(n_jobs=2, return_as="generator_unordered"))
    with pytest.raises(ValueError, match=r"Parallel\(return_as='generator_unordered'\) is not allowed"):
        unordered.fit(X_CLF, Y_CLF)


@pytest.mark.slow
def test_joblib_member_exception_names_the_member():
    bad = ParallelBaggingClassifier(DecisionTreeClassifier(max_depth=-3), n_estimators=4, executor=Parallel(n_jobs=2))
    with pytest.raises(ValueError, match="max_depth") as info:
        bad.fit(X_CLF, Y_CLF)
    assert "through joblib" in "".join(traceback.format_exception(info.value))


# -- a member's failure ------------------------------------------------------------------------

@pytest.mark.slow
def test_member_exception_reaches_caller_with_traceback_and_cluster_survives(client):
    bad = ParallelBaggingClassifier(DecisionTreeClassifier(max_depth=-3), n_estimators=4, executor=client)
    with pytest.raises(ValueError, match="max_depth") as info:
        bad.fit(X_CLF, Y_CLF)
    text = "".join(traceback.format_exception(info.value))
    assert "_fit_member" in text and "_param_validation" in text  # frames from the worker
    assert "member" in text and "Dask cluster" in text  # the note saying which task failed
    assert client.submit(sum, [1, 2, 3]).result() == 6
    ok = ParallelBaggingClassifier(n_estimators=2, executor=client, random_state=0).fit(X_CLF, Y_CLF)
    assert ok.score(X_CLF, Y_CLF) > 0.8

    with pytest.raises(ValueError, match="max_depth") as info_seq:
        clone(bad).set_params(executor=None).fit(X_CLF, Y_CLF)
    assert "sequentially" in "".join(traceback.format_exception(info_seq.value))


# -- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("model, X, y, error, match", [
    (ParallelBaggingClassifier(n_estimators=0), X_CLF, Y_CLF, ValueError, r"n_estimators=0 must be a positive integer \(>= 1\)"),
    (ParallelBaggingClassifier(n_estimators=2.5), X_CLF, Y_CLF, TypeError, r"n_estimators must be a positive integer, got 2.5"),
    (ParallelBaggingClassifier("tree"), X_CLF, Y_CLF, TypeError, r"estimator='tree' .* is not a scikit-learn estimator"),
    (ParallelBaggingClassifier(DecisionTreeClassifier), X_CLF, Y_CLF, TypeError, r"is a class"),
    (ParallelBaggingClassifier(), X_CLF, Y_CLF[:-5], ValueError, r"inconsistent numbers of samples"),
    (ParallelBaggingClassifier(max_samples=0.0), X_CLF, Y_CLF, ValueError, r"max_samples=0.0"),
    (ParallelBaggingClassifier(max_features=99), X_CLF, Y_CLF, ValueError, r"max_features=99 must be between 1 and 8"),
    (ParallelBaggingClassifier(executor="cluster"), X_CLF, Y_CLF, ValueError, r"executor='cluster' is not allowed"),
    (ParallelBaggingClassifier(executor=object()), X_CLF, Y_CLF, TypeError, r"executor=<object .* is not allowed"),
    (ParallelBaggingClassifier(random_state=-1), X_CLF, Y_CLF, ValueError, r"random_state=-1"),
    (ParallelVotingClassifier([]), X_CLF, Y_CLF, ValueError, r"non-empty list"),
    (ParallelVotingClassifier([("a", GaussianNB()), ("a", GaussianNB())]), X_CLF, Y_CLF, ValueError, r"unique"),
    (ParallelVotingClassifier([("p", Perceptron())], voting="soft"), X_CLF, Y_CLF, ValueError, r"predict_proba"),
    (ParallelVotingClassifier([("nb", GaussianNB())], voting="maybe"), X_CLF, Y_CLF, ValueError, r"voting='maybe'"),
    (ParallelVotingClassifier([("nb", GaussianNB())], weights=[1, 2]), X_CLF, Y_CLF, ValueError, r"weights"),
    (ParallelStackingClassifier([("nb", GaussianNB())], stack_method="vote"), X_CLF, Y_CLF, ValueError,
     r"stack_method='vote'"),
    (SweepEnsembleClassifier(GaussianNB(), {"var_smoothing": [1e-9]}, top_k=2), X_CLF, Y_CLF, ValueError,
     r"top_k=2 is more than the 1 configurations"),
    (SweepEnsembleClassifier(GaussianNB(), {"var_smoothing": []}), X_CLF, Y_CLF, ValueError, r"no values"),
])
def test_bad_input_raises_clear_errors_from_fit(model, X, y, error, match):
    with pytest.raises(error, match=match):
        model.fit(X, y)


def test_nan_rejected_only_when_the_base_estimator_rejects_it():
    X = X_CLF.copy()
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ParallelBaggingClassifier(LogisticRegression(), n_estimators=2).fit(X, Y_CLF)
    with pytest.raises(ValueError, match="NaN"):
        ParallelVotingClassifier([("lr", LogisticRegression()), ("tree", DecisionTreeClassifier())]).fit(X, Y_CLF)
    # Decision trees handle missing values natively, so the ensemble accepts them.
    model = ParallelBaggingClassifier(n_estimators=2, random_state=0).fit(X, Y_CLF)
    assert model.predict(X).shape == (len(X),)


def test_inputs_not_mutated():
    X, y = X_CLF.copy(), Y_STR.copy()
    for model in make_models(None).values():
        model.fit(X, y)
        np.testing.assert_array_equal(X, X_CLF)
        np.testing.assert_array_equal(y, Y_STR)


# -- reproducibility and seeds ------------------------------------------------------------------

def test_random_state_controls_members_and_prefix_property():
    a = ParallelBaggingClassifier(n_estimators=8, random_state=1).fit(X_CLF, Y_CLF)
    b = ParallelBaggingClassifier(n_estimators=8, random_state=1).fit(X_CLF, Y_CLF)
    c = ParallelBaggingClassifier(n_estimators=8, random_state=2).fit(X_CLF, Y_CLF)
    short = ParallelBaggingClassifier(n_estimators=3, random_state=1).fit(X_CLF, Y_CLF)
    np.testing.assert_array_equal(a.predict_proba(X_CLF), b.predict_proba(X_CLF))
    assert not all(np.array_equal(s, t) for s, t in zip(a.estimators_samples_, c.estimators_samples_))
    # Member i depends on (random_state, i) only: a 3-member ensemble is the first 3 of the 8.
    for s, t in zip(short.estimators_samples_, a.estimators_samples_[:3]):
        np.testing.assert_array_equal(s, t)
    np.testing.assert_array_equal(short.predict(X_CLF), list(a.staged_predict(X_CLF))[2])


def test_draw_indices_bootstrap_subspace_and_patches():
    rows, cols = draw_indices(5, 100, 10, 100, True, 10, False)
    assert len(rows) == 100 and len(np.unique(rows)) < 100  # with replacement: repeats
    np.testing.assert_array_equal(cols, np.arange(10))
    rows, cols = draw_indices(5, 100, 10, 100, False, 4, False)
    np.testing.assert_array_equal(rows, np.arange(100))
    assert len(cols) == 4 and len(np.unique(cols)) == 4 and np.all(np.diff(cols) > 0)
    rows, cols = draw_indices(5, 100, 10, 30, False, 5, False)
    assert len(rows) == 30 == len(np.unique(rows)) and len(cols) == 5
    again = draw_indices(5, 100, 10, 30, False, 5, False)
    np.testing.assert_array_equal(rows, again[0])


def test_subspace_members_see_all_rows_and_their_columns():
    model = RandomSubspaceClassifier(n_estimators=4, max_features=3, random_state=0).fit(X_CLF, Y_CLF)
    for rows, cols, member in zip(model.estimators_samples_, model.estimators_features_, model.estimators_):
        np.testing.assert_array_equal(rows, np.arange(len(X_CLF)))
        assert len(cols) == 3 and member.n_features_in_ == 3


def test_one_member_without_sampling_is_the_base_estimator():
    model = ParallelBaggingClassifier(n_estimators=1, bootstrap=False, random_state=4).fit(X_CLF, Y_STR)
    seed = model.estimators_[0].random_state
    alone = DecisionTreeClassifier(random_state=seed).fit(X_CLF, Y_STR)
    np.testing.assert_array_equal(model.predict(X_CLF), alone.predict(X_CLF))


def test_members_without_predict_proba_vote():
    model = ParallelBaggingClassifier(Perceptron(), n_estimators=5, random_state=0).fit(X_CLF, Y_CLF)
    votes = model.predict_members(X_CLF)
    counts = np.stack([(votes == k).sum(axis=0) for k in range(3)], axis=1)
    np.testing.assert_allclose(model.predict_proba(X_CLF), counts / 5)


# -- agreement with scikit-learn's own ensembles -------------------------------------------------

def test_soft_voting_matches_sklearn():
    members = [("lr", LogisticRegression(max_iter=500)), ("nb", GaussianNB())]
    ours = ParallelVotingClassifier(members, voting="soft", weights=[2, 1]).fit(X_CLF, Y_STR)
    theirs = VotingClassifier(members, voting="soft", weights=[2, 1]).fit(X_CLF, Y_STR)
    np.testing.assert_allclose(ours.predict_proba(X_CLF), theirs.predict_proba(X_CLF))
    np.testing.assert_array_equal(ours.predict(X_CLF), theirs.predict(X_CLF))
    assert set(ours.named_estimators_) == {"lr", "nb"}


def test_hard_vote_hand_checked():
    preds = np.array([[0, 1, 2, 1], [0, 2, 2, 0], [1, 2, 0, 2]])
    np.testing.assert_array_equal(hard_vote(preds, 3), [0, 2, 2, 0])  # last column: 3-way tie -> smallest
    np.testing.assert_array_equal(hard_vote(preds, 3, np.array([3.0, 1, 1])), [0, 1, 2, 1])


def test_stacking_matches_sklearn():
    members = [("lr", LogisticRegression(max_iter=500)), ("nb", GaussianNB())]
    cv = StratifiedKFold(4)
    ours = ParallelStackingClassifier(members, cv=cv).fit(X_CLF, Y_STR)
    theirs = StackingClassifier(members, cv=cv).fit(X_CLF, Y_STR)
    np.testing.assert_allclose(ours.predict_proba(X_CLF), theirs.predict_proba(X_CLF), atol=1e-8)
    np.testing.assert_allclose(ours.meta_features(X_CLF), theirs.transform(X_CLF), atol=1e-10)
    assert ours.cv_fit_times_.shape == (2, 4)
    # binary: one probability column per member, as scikit-learn does
    yb = (Y_CLF == 0).astype(int)
    assert ParallelStackingClassifier(members, cv=3).fit(X_CLF, yb).meta_features(X_CLF).shape == (300, 2)


def test_sweep_scores_match_gridsearch_and_best_vote():
    grid = {"n_neighbors": [1, 3, 7, 15, 31]}
    ours = SweepEnsembleClassifier(KNeighborsClassifier(), grid, top_k=2, cv=3).fit(X_CLF, Y_CLF)
    search = GridSearchCV(KNeighborsClassifier(), grid, cv=StratifiedKFold(3)).fit(X_CLF, Y_CLF)
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(ours.cv_results_["rank_test_score"], search.cv_results_["rank_test_score"])
    best_two = np.argsort(-search.cv_results_["mean_test_score"], kind="stable")[:2]
    np.testing.assert_array_equal(ours.selected_, best_two)
    assert ours.cv_results_["selected"].sum() == 2
    one = SweepEnsembleClassifier(KNeighborsClassifier(), grid, top_k=1, cv=3).fit(X_CLF, Y_CLF)
    np.testing.assert_array_equal(one.predict(X_CLF), search.best_estimator_.predict(X_CLF))
    single_configs = SweepEnsembleClassifier(KNeighborsClassifier(), [{"n_neighbors": 1}, {"n_neighbors": 5}],
                                             top_k=1, cv=3).fit(X_CLF, Y_CLF)
    assert [p["n_neighbors"] for p in single_configs.cv_results_["params"]] == [1, 5]


# -- executor parameter: cloning, pickling, "auto" ----------------------------------------------

def test_clone_keeps_executor_and_pickle_drops_it(monkeypatch):
    sentinel = type("FakeClient", (), {"submit": lambda self: None, "scatter": lambda self: None})()
    model = ParallelBaggingClassifier(n_estimators=2, executor=sentinel, random_state=0)
    assert clone(model).executor is sentinel
    assert model.get_params()["executor"] is sentinel
    fitted = ParallelBaggingClassifier(n_estimators=2, random_state=0).fit(X_CLF, Y_CLF)
    fitted.executor = sentinel
    restored = pickle.loads(pickle.dumps(fitted))
    assert restored.executor is None
    assert pickle.loads(pickle.dumps(clone(fitted).set_params(executor="auto"))).executor == "auto"
    np.testing.assert_array_equal(restored.predict(X_CLF), fitted.predict(X_CLF))


def test_auto_executor_is_sequential_without_a_cluster(monkeypatch):
    monkeypatch.setattr("plsim.executor.core.current_client", lambda: None)
    model = ParallelBaggingClassifier(n_estimators=2, executor="auto", random_state=0).fit(X_CLF, Y_CLF)
    assert model.member_workers_ == ["local", "local"]


@pytest.mark.slow
def test_auto_executor_uses_the_plsim_cluster(monkeypatch, client):
    monkeypatch.setattr("plsim.executor.core.current_client", lambda: client)
    model = ParallelBaggingClassifier(n_estimators=2, executor="auto", random_state=0).fit(X_CLF, Y_CLF)
    assert set(model.member_workers_) <= set(client.nthreads())


# -- diversity ----------------------------------------------------------------------------------

def test_pairwise_disagreement_hand_checked():
    preds = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [1, 1, 0, 0]])
    d = pairwise_disagreement(preds)
    np.testing.assert_allclose(d, [[0, 0.25, 1.0], [0.25, 0, 0.75], [1.0, 0.75, 0]])
    np.testing.assert_allclose(mean_disagreement(preds), [0.625, 0.5, 0.875])
    with pytest.raises(ValueError, match="shape"):
        pairwise_disagreement([1, 2, 3])


def test_accuracy_curve_matches_manual_staging():
    model = ParallelBaggingClassifier(n_estimators=5, random_state=0).fit(X_CLF[:200], Y_STR[:200])
    curve = accuracy_curve(model, X_CLF[200:], Y_STR[200:])
    assert list(curve.n_members) == [1, 2, 3, 4, 5]
    assert curve.ensemble[-1] == pytest.approx(model.score(X_CLF[200:], Y_STR[200:]))
    for k, member in enumerate(model.estimators_):
        pred = model.classes_[member.predict(X_CLF[200:][:, model.estimators_features_[k]])]
        assert curve.members[k] == pytest.approx(np.mean(pred == Y_STR[200:]))
    assert curve.ensemble[0] == pytest.approx(curve.members[0])  # one member is its own ensemble
    assert "measured" in repr(curve)
    with pytest.raises(TypeError, match="staged_predict"):
        accuracy_curve(GaussianNB().fit(X_CLF, Y_CLF), X_CLF, Y_CLF)


# -- a closed form the notebook uses (its exercises are tested in test_exercises_ensembles.py) ------

def test_a_bootstrap_sample_misses_about_one_row_in_e():
    model = ParallelBaggingClassifier(n_estimators=3, random_state=0).fit(X_CLF, Y_CLF)
    unseen = 1 - len(np.unique(model.estimators_samples_[0])) / len(X_CLF)
    assert abs(unseen - (1 - 1 / len(X_CLF)) ** len(X_CLF)) < 0.06  # (1 - 1/n)^n, about 1/e


def test_error_correlation_by_hand():
    from plsim.ensembles import error_correlation

    y = np.array([0, 0, 0, 0])
    # Errors (1 = wrong): a = 1100, b = 1100 (identical), c = 0011 (opposite of a).
    preds = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]])
    # Pairs: r(a, b) = 1, r(a, c) = -1, r(b, c) = -1 -> mean -1/3.
    assert error_correlation(preds, y) == pytest.approx(-1 / 3)
    # A member that is never wrong has no variance and is left out: only the pair (a, b) remains.
    assert error_correlation(np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]), y) == pytest.approx(1.0)
    assert np.isnan(error_correlation(np.array([[1, 1, 0, 0]]), y))
    with pytest.raises(ValueError, match="predictions must have shape"):
        error_correlation(preds[:, :3], y)


class _FakeEnsemble:
    """Members' and ensemble's predictions fixed by hand."""

    def __init__(self, members, combined):
        self.named_estimators_ = {f"m{i}": None for i in range(len(members))}
        self._members, self._combined = np.array(members), np.array(combined)

    def predict_members(self, X):
        return self._members

    def predict(self, X):
        return self._combined


def test_compare_with_members_names_the_best_member_and_the_reason():
    from plsim.ensembles import compare_with_members

    y = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    strong = [0, 1, 0, 1, 0, 1, 0, 1, 1, 0]          # 8 of 10
    weak1 = [1, 0, 0, 1, 0, 1, 1, 0, 1, 0]           # 4 of 10
    weak2 = [1, 0, 1, 0, 0, 1, 0, 1, 1, 0]           # 4 of 10
    outvoted = _FakeEnsemble([strong, weak1, weak2], [1, 0, 0, 1, 0, 1, 0, 1, 1, 0])  # 6 of 10
    c = compare_with_members(outvoted, None, y, name="vote")
    assert (c.best_member, c.best_accuracy, c.ensemble_accuracy) == ("m0", 0.8, 0.6)
    assert c.gain == pytest.approx(-0.2)
    # 10 test rows: the vote is wrong on 2 rows m0 gets right, right on none m0 gets wrong. Two discordant rows
    # lost out of two: exact McNemar p = 2 * 0.5**2 = 0.5, nowhere near a difference.
    assert (c.versus_best.only_a, c.versus_best.only_b) == (0, 2)
    assert c.versus_best.p_value == pytest.approx(0.5)
    assert c.relation == "is about as good as" and not c.beats_best
    assert "about as good as it" in c.explain() and "40+ points weaker than m0" in c.explain()
    helped = _FakeEnsemble([strong, weak1, weak2], y)  # 10 of 10, +20 points on 10 rows: p = 0.5 again
    assert "about as good as it" in str(compare_with_members(helped, None, y, name="vote"))
    # The same rows ten times over: 20 discordant rows, all one way, p = 2 * 0.5**20. Now it shows.
    many = np.tile(y, 10)
    worse = compare_with_members(_FakeEnsemble(np.tile([strong, weak1, weak2], 10), np.tile(outvoted._combined, 10)),
                                 None, many, name="vote")
    assert worse.relation == "is beaten by" and worse.versus_best.p_value == pytest.approx(2 * 0.5**20)
    assert "worse (-20.0 points, 95% interval" in worse.explain() and "on the same 100 test rows" in worse.explain()
    better = compare_with_members(_FakeEnsemble(np.tile([strong, weak1, weak2], 10), many), None, many, name="vote")
    assert better.beats_best and "better (+20.0 points, 95% interval" in str(better)
    with pytest.raises(TypeError, match=r"ensemble=object has no predict\(\)"):
        compare_with_members(object(), None, y)


# -- data larger than a worker can hold ------------------------------------------------------------

@pytest.mark.slow
def test_data_too_large_for_a_worker_is_refused_before_it_is_sent(client, monkeypatch):
    from plsim.cluster import WORKER_TASK_MEMORY
    from plsim.executor import DataTooLargeError

    calls = []
    real_submit, real_map = client.submit, client.map
    monkeypatch.setattr(client, "submit", lambda *a, **k: calls.append(a) or real_submit(*a, **k))
    monkeypatch.setattr(client, "map", lambda *a, **k: calls.append(a) or real_map(*a, **k))
    # Workers whose memory limit leaves no room once plsim's own tasks are counted (only the limits
    # the scheduler reports are replaced; the check itself is plsim.executor.check_data_fits).
    small = {address: WORKER_TASK_MEMORY for address in client.nthreads()}
    monkeypatch.setattr("plsim.executor.memory._worker_memory_limits", lambda c: small)
    for model in (ParallelBaggingClassifier(n_estimators=2, executor=client),
                  ParallelStackingClassifier([("nb", GaussianNB())], cv=2, executor=client)):
        with pytest.raises(DataTooLargeError, match=r"the training data \(X, y\) is .* more than a worker can hold"):
            model.fit(X_CLF, Y_CLF)
    with pytest.raises(DataTooLargeError, match=r"the training data \(X, y, sample_weight\)") as info:
        ParallelBaggingClassifier(n_estimators=2, executor=client).fit(X_CLF, Y_CLF, sample_weight=np.arange(300.0))
    assert info.value.nbytes == X_CLF.nbytes + Y_CLF.nbytes + 300 * 8  # y encoded as int64, weights float64
    assert calls == []  # refused before anything was sent
    monkeypatch.undo()
    assert len(ParallelBaggingClassifier(n_estimators=2, executor=client).fit(X_CLF, Y_CLF).estimators_) == 2

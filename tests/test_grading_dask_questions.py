"""The assignments' Dask questions (Q5 of A1, A2, A3) are judged by what the scheduler saw, on a real cluster.

Each test runs a submission's function on the session's 2-worker LocalCluster while
:func:`plsim.exercises.scheduler_record.watch_scheduler` records what the scheduler saw, then judges it with
the pure functions of :mod:`plsim.grading.dask_checks`. The worked solutions are read from the source notebooks
themselves (the cells ``q5-given`` and ``q5-answer``), so what passes here is what the course ships. Forgeries:
plsim's own implementation, kernel work plus dummy tasks, the training data inside every task (A1), one task at a
time, and each question's typical mistake.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import nbformat
import numpy as np
import pytest

from plsim.exercises.scheduler_record import watch_scheduler
from plsim.grading import dask_checks as dc
from plsim.grading.dask_cases import bagging_data, fedavg_data, ps_data

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {"a1": "a1_speedup_ensembles", "a2": "a2_federated_learning", "a3": "a3_distributed_training"}
CASE_A1 = {"data_seed": 5, "n_train": 480, "n_test": 80, "n_features": 10, "n_members": 6, "random_state": 123}
CASE_A2 = {"data_seed": 7, "n_clients": 8, "client_fraction": 0.5, "round_index": 3, "random_state": 42}
CASE_A3 = {"data_seed": 3, "n_workers": 3, "n_updates": 9, "lr": 0.1}


def _solution(a: str) -> dict:
    """The notebook's given cell and worked solution (and A2's fedavg from Q1), run in a fresh namespace."""
    nb = nbformat.read(ROOT / "notebooks" / "assignments" / "source" / a / f"{NOTEBOOKS[a]}.ipynb", as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    from plsim import federated
    ns = {"__name__": f"{a}_solution", "np": np, "federated": federated}   # a module Dask pickles by value
    for grade_id in (("q1-answer",) if a == "a2" else ()) + ("q5-given", "q5-answer"):
        exec(compile(cells[grade_id], f"{a}:{grade_id}", "exec"), ns)
    return ns


def _watched(client, run):
    with watch_scheduler(client) as seen:
        out = run()
    return seen.record, seen.results, out


def _no_answer_in(verdict: dc.Verdict, *arrays) -> None:
    """Feedback never quotes the reference: no expected array's values appear in it."""
    for arr in arrays:
        shown = np.array2string(np.asarray(arr)[:6], separator=", ").strip("[]")
        assert shown not in verdict.message, verdict.message


# -- A1: bagging ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def a1():
    ns = _solution("a1")
    X, y, X_test = bagging_data(CASE_A1)
    m, r = CASE_A1["n_members"], CASE_A1["random_state"]
    return ns, X, y, X_test, m, r


def _judge_a1(client, run) -> dc.Verdict:
    record, results, labels = _watched(client, run)
    return dc.judge_bagging(record, results, CASE_A1, labels)


def test_a1_worked_solution_scores_3(client, a1):
    ns, X, y, X_test, m, r = a1
    verdict = _judge_a1(client, lambda: ns["bag_on_cluster"](client, X, y, X_test, m, r))
    assert verdict.points == 3, verdict.message
    # Independently of the judge: the vote of trees fitted here on member_draws' rows.
    members, vote = dc.bagging_reference(CASE_A1)
    assert len(members) == m and vote.shape == (len(X_test),)


def test_a1_plsims_own_bagging_scores_0(client, a1):
    from plsim.ensembles import ParallelBaggingClassifier
    _, X, y, X_test, m, r = a1
    verdict = _judge_a1(client, lambda: ParallelBaggingClassifier(n_estimators=m, random_state=r, executor=client)
                        .fit(X, y).predict(X_test))
    assert verdict.points == 0, verdict.message
    assert "plsim's own" in verdict.reason("members")


def test_a1_kernel_work_plus_dummy_tasks_scores_0(client, a1):
    ns, X, y, X_test, m, r = a1

    def forged():
        labels = np.stack([ns["fit_member"](X, y, X_test, rows, seed)
                           for rows, seed in ns["member_draws"](m, len(y), r)])
        client.gather(client.map(abs, range(m), pure=False))           # tasks for show
        return np.array([np.bincount(col).argmax() for col in labels.T])

    verdict = _judge_a1(client, forged)
    assert verdict.points == 0, verdict.message
    assert "none of them returned a member's predictions" in verdict.reason("members")
    _no_answer_in(verdict, dc.bagging_reference(CASE_A1)[1])


def test_a1_data_inside_every_task_loses_the_scatter_point_and_is_taught_scatter(client, a1):
    ns, X, y, X_test, m, r = a1

    def per_task():
        futures = [client.submit(ns["fit_member"], X, y, X_test, rows, seed, pure=False)
                   for rows, seed in ns["member_draws"](m, len(y), r)]
        return np.array([np.bincount(col).argmax() for col in np.stack(client.gather(futures)).T])

    verdict = _judge_a1(client, per_task)
    assert verdict.points == 2, verdict.message
    reason = verdict.reason("scatter-once")
    assert f"{m} of your {m} member tasks carried the training data" in reason and "client.scatter" in reason


def test_a1_a_scatter_per_member_loses_the_scatter_point(client, a1):
    ns, X, y, X_test, m, r = a1

    def scatter_each():
        futures = []
        for rows, seed in ns["member_draws"](m, len(y), r):
            X_f, y_f = client.scatter([X, y], hash=False)
            futures.append(client.submit(ns["fit_member"], X_f, y_f, X_test, rows, seed, pure=False))
        return np.array([np.bincount(col).argmax() for col in np.stack(client.gather(futures)).T])

    verdict = _judge_a1(client, scatter_each)
    assert verdict.points == 2 and f"from {m} different copies" in verdict.reason("scatter-once"), verdict.message


def test_a1_one_member_at_a_time_loses_the_concurrency_point(client, a1):
    ns, X, y, X_test, m, r = a1

    def sequential():
        X_f, y_f = client.scatter([X, y], broadcast=True, hash=False)
        preds = [client.submit(ns["fit_member"], X_f, y_f, X_test, rows, seed, pure=False).result()
                 for rows, seed in ns["member_draws"](m, len(y), r)]
        return np.array([np.bincount(col).argmax() for col in np.stack(preds).T])

    verdict = _judge_a1(client, sequential)
    assert verdict.points == 2, verdict.message
    assert "one at a time" in verdict.reason("members-at-once")


def test_a1_a_wrong_vote_scores_0(client, a1):
    ns, X, y, X_test, m, r = a1

    def first_member_only():
        X_f, y_f = client.scatter([X, y], broadcast=True, hash=False)
        futures = [client.submit(ns["fit_member"], X_f, y_f, X_test, rows, seed, pure=False)
                   for rows, seed in ns["member_draws"](m, len(y), r)]
        return client.gather(futures)[0]

    verdict = _judge_a1(client, first_member_only)
    assert verdict.points == 0 and "majority vote" in verdict.reason("members"), verdict.message


# -- A2: one FedAvg round ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def a2():
    return _solution("a2"), *fedavg_data(CASE_A2)


def _call_a2(fn, client, model, w, parties):
    c = CASE_A2
    return fn(client, model, w, parties, c["client_fraction"], c["round_index"], c["random_state"])


def _judge_a2(client, run) -> dc.Verdict:
    record, results, new_w = _watched(client, run)
    return dc.judge_fedavg(record, results, CASE_A2, new_w)


def _round(client, ns, model, w, parties, *, clients=None, weighted=True, one_at_a_time=False):
    """A FedAvg round written with the given mistakes (for the forgeries)."""
    from plsim import federated
    c = CASE_A2
    selected, _ = federated.select_clients(len(parties), c["client_fraction"], c["round_index"], c["random_state"])
    train = selected if clients is None else clients
    futures = []
    for k in train:
        f = client.submit(ns["client_update"], model, w, *parties[k],
                          federated.client_seed(c["random_state"], c["round_index"], k), pure=False)
        futures.append(f.result() if one_at_a_time else f)
    results = futures if one_at_a_time else client.gather(futures)
    results = [res for k, res in zip(train, results) if k in selected]
    deltas, ns_ = [d for d, _ in results], [n for _, n in results]
    return w - (np.average(deltas, axis=0, weights=ns_) if weighted else np.mean(deltas, axis=0))


def test_a2_worked_solution_scores_3(client, a2):
    ns, model, w, parties = a2
    verdict = _judge_a2(client, lambda: _call_a2(ns["fedavg_round_on_cluster"], client, model, w, parties))
    assert verdict.points == 3, verdict.message
    selected, _, new_w = dc.fedavg_reference(CASE_A2)
    assert len(selected) == 4 and new_w.shape == w.shape   # 8 clients, C = 0.5


def test_a2_plsims_own_run_federated_scores_0(client, a2):
    from plsim import data, federated
    _, model, w, _ = a2
    c = CASE_A2
    ds = data.load_dataset("digits", n_samples=360, random_state=c["data_seed"])
    parts = data.partition(ds.y_train, c["n_clients"], "quantity", sigma=0.8, random_state=c["data_seed"])
    verdict = _judge_a2(client, lambda: federated.run_federated(
        model, ds, parts, rounds=1, client_fraction=c["client_fraction"], local_epochs=2, batch_size=16, lr=0.1,
        random_state=c["random_state"], executor=client, initial_weights=w).weights)
    assert verdict.points == 0, verdict.message
    assert "plsim's own" in verdict.reason("updates")


def test_a2_kernel_work_plus_dummy_tasks_scores_0(client, a2):
    ns, model, w, parties = a2
    selected, updates, want = dc.fedavg_reference(CASE_A2)

    def forged():
        client.gather(client.map(abs, range(len(selected)), pure=False))
        return want.copy()                                                  # computed in the kernel

    verdict = _judge_a2(client, forged)
    assert verdict.points == 0, verdict.message
    _no_answer_in(verdict, want)


def test_a2_unweighted_mean_loses_the_weighting_point(client, a2):
    ns, model, w, parties = a2
    verdict = _judge_a2(client, lambda: _round(client, ns, model, w, parties, weighted=False))
    assert verdict.points == 2 and "equal weights" in verdict.reason("weighted"), verdict.message


def test_a2_training_every_client_fails(client, a2):
    ns, model, w, parties = a2
    verdict = _judge_a2(client, lambda: _round(client, ns, model, w, parties, clients=range(len(parties))))
    assert verdict.points == 0 and "not selected" in verdict.reason("updates"), verdict.message


def test_a2_one_client_at_a_time_loses_the_concurrency_point(client, a2):
    ns, model, w, parties = a2
    verdict = _judge_a2(client, lambda: _round(client, ns, model, w, parties, one_at_a_time=True))
    assert verdict.points == 2 and "one at a time" in verdict.reason("clients-at-once"), verdict.message


# -- A3: an asynchronous, staleness-aware parameter server -----------------------------------------------

@pytest.fixture(scope="module")
def a3():
    return _solution("a3"), *ps_data(CASE_A3)


def _judge_a3(client, run) -> dc.Verdict:
    with client.as_current():   # as_completed() finds the client as a notebook's default client
        record, results, out = _watched(client, run)
    return dc.judge_async_server(record, results, CASE_A3, out)


def test_a3_worked_solution_scores_3(client, a3):
    ns, model, shards, w0 = a3
    before = w0.copy()
    verdict = _judge_a3(client, lambda: ns["async_server"](client, model, shards, w0, CASE_A3["lr"],
                                                           CASE_A3["n_updates"]))
    assert verdict.points == 3, verdict.message
    assert np.array_equal(w0, before)


def _one_at_a_time(client, ns, model, shards, w0, lr, n, *, scaled=True):
    """A valid asynchronous log, but only one gradient task on the cluster at any moment."""
    w, log = w0.copy(), []
    pending = deque((i, 0, w0.copy()) for i in range(len(shards)))
    while len(log) < n:
        i, read, w_read = pending.popleft()
        g = client.submit(ns["gradient"], model, w_read, *shards[i], pure=False).result()
        w = w - (lr / (1 + len(log) - read) if scaled else lr) * g
        log.append((i, read))
        pending.append((i, len(log), w.copy()))
    return w, log


def test_a3_full_learning_rate_loses_the_rule_point(client, a3):
    ns, model, shards, w0 = a3
    lr, n = CASE_A3["lr"], CASE_A3["n_updates"]

    def plain():
        from dask.distributed import as_completed
        w, log = w0.copy(), []
        reads = {client.submit(ns["gradient"], model, w, *shard, pure=False): (i, 0) for i, shard in enumerate(shards)}
        done = as_completed(list(reads))
        for f in done:
            i, read = reads.pop(f)
            w = w - lr * f.result()
            log.append((i, read))
            if len(log) == n:
                break
            again = client.submit(ns["gradient"], model, w, *shards[i], pure=False)
            reads[again] = (i, len(log))
            done.add(again)
        for f in reads:
            f.cancel()
        return w, log

    verdict = _judge_a3(client, plain)
    assert verdict.points == 2 and "full learning rate" in verdict.reason("staleness-rule"), verdict.message


def test_a3_one_gradient_at_a_time_loses_the_concurrency_point(client, a3):
    ns, model, shards, w0 = a3
    verdict = _judge_a3(client, lambda: _one_at_a_time(client, ns, model, shards, w0, CASE_A3["lr"],
                                                       CASE_A3["n_updates"]))
    assert verdict.points == 2 and "one at a time" in verdict.reason("gradients-at-once"), verdict.message


def test_a3_kernel_simulation_plus_dummy_tasks_scores_0(client, a3):
    ns, model, shards, w0 = a3
    n = CASE_A3["n_updates"]
    log = [(k % len(shards), 0 if k < len(shards) else k - len(shards) + 1) for k in range(n)]
    want, _ = dc.staleness_replay(model, shards, w0, CASE_A3["lr"], log)

    def forged():
        client.gather(client.map(np.zeros, [w0.size] * n, pure=False))   # tasks of the right shape, for show
        return want, log

    verdict = _judge_a3(client, forged)
    assert verdict.points == 0, verdict.message
    assert "none of them returned a worker's gradient" in verdict.reason("gradients")


def test_a3_plsims_own_async_sgd_scores_0(client, a3):
    from plsim.training import async_sgd
    _, model, shards, w0 = a3
    X, y = np.concatenate([s[0] for s in shards]), np.concatenate([s[1] for s in shards])
    n, p = CASE_A3["n_updates"], len(shards)

    def own():
        hist = async_sgd(model, X, y, executor=client, n_workers=p, lr=CASE_A3["lr"], n_updates=n,
                         batch_size=None, w0=w0, random_state=0)
        return hist.params, [(k % p, 0 if k < p else k - p + 1) for k in range(n)]

    verdict = _judge_a3(client, own)
    assert verdict.points == 0, verdict.message
    assert "plsim's own" in verdict.reason("gradients")


# -- the graded cells' checks, as the grader calls them ------------------------------------------------

def test_the_graded_cells_are_registered_and_judge_through_the_record(client, a1):
    from plsim.grading.checks import CheckContext, load_checks
    from plsim.grading.record import RecordedRun

    ns, X, y, X_test, m, r = a1
    for a, criteria in (("a1", dc.A1_CRITERIA), ("a2", dc.A2_CRITERIA), ("a3", dc.A3_CRITERIA)):
        checks = load_checks(a)
        assert {f"q5-{c}" for c in criteria} <= set(checks)
        assert all(checks[f"q5-{c}"].needs_record for c in criteria)
    checks = load_checks("a1")
    [case] = checks["q5-members"].draw(np.random.default_rng(0))
    Xc, yc, Xc_test = bagging_data(case)
    with watch_scheduler(client) as good:
        labels = ns["bag_on_cluster"](client, Xc, yc, Xc_test, case["n_members"], case["random_state"])
    with watch_scheduler(client) as dummy:
        client.gather(client.map(abs, range(case["n_members"]), pure=False))
    # As the grader gets them: through JSON from the sandboxed cluster host (plain data only).
    good, dummy = (RecordedRun.from_json(RecordedRun.from_watch(seen).to_json()) for seen in (good, dummy))
    for criterion in dc.A1_CRITERIA:
        check = checks[f"q5-{criterion}"]
        assert check.judge(CheckContext("a1", check.grade_id, [case], [labels], good)) is None
        reason = check.judge(CheckContext("a1", check.grade_id, [case], [labels], dummy))
        assert reason and "none of them returned" in reason
    assert "no record" in checks["q5-members"].judge(CheckContext("a1", "q5-members", [case], [labels], None))


def test_a2_and_a3_results_survive_the_graders_json(client, a2, a3):
    """A2's tasks return (update, n) tuples, A3's float vectors: both must reach the grader's judge intact."""
    from plsim.grading.record import RecordedRun

    def through_json(seen):
        run = RecordedRun.from_json(RecordedRun.from_watch(seen).to_json())
        return run.record, run.results

    ns, model, w, parties = a2
    with watch_scheduler(client) as seen:
        new_w = _call_a2(ns["fedavg_round_on_cluster"], client, model, w, parties)
    assert dc.judge_fedavg(*through_json(seen), CASE_A2, new_w).points == 3
    ns, model, shards, w0 = a3
    with client.as_current(), watch_scheduler(client) as seen:
        out = ns["async_server"](client, model, shards, w0, CASE_A3["lr"], CASE_A3["n_updates"])
    assert dc.judge_async_server(*through_json(seen), CASE_A3, out).points == 3

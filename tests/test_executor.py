"""plsim.executor: one interface (place, map, submit/gather, as_completed, running) over
sequential, Dask and joblib execution, with the same results on each.

The worker-kill tests SIGKILL a worker process that holds the placed data (the only copy)
and check that the run still finishes with the same values: placed data is a task, so
Dask recomputes it from its lineage on another worker (scattered data would be lost).
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from plsim.executor import Dask, Done, Executor, Joblib, Sequential, TaskResult, resolve_executor


def _square_plus(X, *, i):
    return float((X * X).sum() + i)


def _slow_square_plus(X, *, i, delay=0.3):
    time.sleep(delay)
    return _square_plus(X, i=i)


def _x_plus_first_y(X, y):
    return X + y[0]


def _fails(X, *, i):
    if i == 2:
        raise ArithmeticError("task two fails")
    return i


X = np.arange(12.0)
TASKS = [dict(i=i) for i in range(6)]
EXPECTED = [float((X * X).sum() + i) for i in range(6)]


# -- resolve_executor ---------------------------------------------------------------------------------
def test_none_and_sequential_are_sequential():
    assert isinstance(resolve_executor(None), Sequential)
    assert isinstance(resolve_executor("sequential"), Sequential)
    ex = Sequential()
    assert resolve_executor(ex) is ex


def test_a_client_gives_dask_and_auto_gives_the_default_client(client):
    ex = resolve_executor(client)
    assert isinstance(ex, Dask) and ex.client is client
    from distributed import default_client

    try:
        default = default_client()
    except ValueError:
        default = None
    auto = resolve_executor("auto")
    if default is None:
        assert isinstance(auto, Sequential)
    else:
        assert isinstance(auto, Dask) and auto.client is default


def test_a_joblib_parallel_gives_joblib():
    from joblib import Parallel

    assert isinstance(resolve_executor(Parallel(n_jobs=1)), Joblib)
    with pytest.raises(ValueError, match="return_as='generator_unordered'.* not allowed"):
        resolve_executor(Parallel(n_jobs=1, return_as="generator_unordered"))


@pytest.mark.parametrize("bad, error, match", [
    ("fast", ValueError, r"executor='fast' is not allowed; use None, 'auto', 'sequential'"),
    (3, TypeError, r"executor=3 \(int\) is not allowed"),
    (object, TypeError, r"is not allowed; use None \(sequential\), 'auto', a dask.distributed.Client"),
])
def test_bad_executors_are_refused_by_name(bad, error, match):
    with pytest.raises(error, match=match):
        resolve_executor(bad)


def test_a_closed_client_is_refused():
    class Closed:
        status = "closed"

        def submit(self):
            pass

        def scatter(self):
            pass

    with pytest.raises(ValueError, match="is closed; start a cluster"):
        resolve_executor(Closed())


# -- the same results everywhere ----------------------------------------------------------------------
def _run_map(ex: Executor, func=_square_plus):
    done = []
    with ex.running("test"), ex.shared(X=X) as data:
        results = ex.map(func, data, TASKS, progress=lambda d, t: done.append((d, t)))
    assert done == [(k, len(TASKS)) for k in range(1, len(TASKS) + 1)]
    assert all(isinstance(r, TaskResult) and r.seconds >= 0 for r in results)
    return [r.value for r in results]


def test_map_gives_the_same_values_in_task_order_on_every_executor(client):
    from joblib import Parallel

    assert _run_map(Sequential()) == EXPECTED
    assert _run_map(Joblib(Parallel(n_jobs=2, return_as="generator"))) == EXPECTED
    assert _run_map(Dask(client)) == EXPECTED


def test_embedded_values_reach_every_task_like_placed_ones(client):
    from joblib import Parallel

    for ex in (Sequential(), Joblib(Parallel(n_jobs=2)), Dask(client)):
        assert [r.value for r in ex.map(_square_plus, {}, TASKS, embed={"X": X})] == EXPECTED


def test_map_tasks_run_on_the_workers_and_leave_nothing_behind(client):
    ex = Dask(client)
    before = set(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks)))
    with ex.running("test"), ex.shared(X=X) as data:
        results = ex.map(_slow_square_plus, data, [dict(i=i, delay=0.05) for i in range(6)])
    assert {r.worker for r in results} <= set(ex.workers())
    deadline = time.monotonic() + 5
    while (left := set(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks))) - before) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left


def test_restrict_to_runs_only_on_the_chosen_worker(client):
    ex = Dask(client)
    first = ex.workers()[:1]
    with ex.shared(X=X) as data:
        results = ex.map(_square_plus, data, TASKS, restrict_to=first)
    assert {r.worker for r in results} == set(first)
    with pytest.raises(ValueError, match="restrict_to is only for a Dask executor"):
        Sequential().map(_square_plus, {"X": X}, TASKS, restrict_to=first)


@pytest.mark.parametrize("kind", ["sequential", "dask"])
def test_a_failing_task_raises_its_error_with_a_note_naming_the_task(client, kind):
    ex = Sequential() if kind == "sequential" else Dask(client)
    finished = {}
    with pytest.raises(ArithmeticError, match="task two fails") as info:
        ex.map(_fails, {"X": X}, TASKS, describe=lambda i: f"member {i}", finished=finished)
    assert any("member 2" in note for note in info.value.__notes__)
    if kind == "sequential":
        assert sorted(finished) == [0, 1]


def test_a_stop_raised_by_progress_keeps_what_finished_sequentially():
    finished = {}

    def stop_after_three(done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Sequential().map(_square_plus, {"X": X}, TASKS, progress=stop_after_three, finished=finished)
    assert [finished[i].value for i in sorted(finished)] == EXPECTED[:3]


def test_place_each_gives_each_group_its_handles_everywhere(client):
    groups = [{"X": X + k, "y": np.full(3, k)} for k in range(3)]
    for ex in (Sequential(), Dask(client)):
        placed = ex.place_each(groups)
        assert [sorted(part) for part in placed] == [["X", "y"]] * 3
        values = ex.gather([ex.submit(_x_plus_first_y, part["X"], part["y"]) for part in placed])
        assert all(np.array_equal(v, X + 2 * k) for k, v in enumerate(values))
        ex.release([h for part in placed for h in part.values()])


def test_submit_chains_handles_the_same_way_here_and_on_dask(client):
    for ex in (Sequential(), Dask(client)):
        with ex.running("chain"):
            placed = ex.place(X=X)
            a = ex.submit(np.add, placed["X"], 1.0)
            b = ex.submit(np.multiply, a, 2.0)
            assert np.array_equal(ex.gather([b])[0], (X + 1.0) * 2.0)
            ex.release([placed["X"], a, b])


def test_sequential_handles_and_as_completed_are_first_in_first_out():
    ex = Sequential()
    handles = [ex.submit(int, i) for i in range(3)]
    assert all(isinstance(h, Done) and h.done() for h in handles)
    order = ex.as_completed(handles[:2])
    seen = []
    for h in order:
        seen.append(h.result())
        if len(seen) == 1:
            order.add(handles[2])
    assert seen == [0, 1, 2]


def test_joblib_refuses_chained_tasks():
    from joblib import Parallel

    ex = Joblib(Parallel(n_jobs=1))
    with pytest.raises(TypeError, match="joblib.Parallel runs independent tasks only"):
        ex.submit(int, 1)
    with pytest.raises(TypeError, match="no futures"):
        ex.as_completed([])


def test_an_interrupt_inside_running_cancels_the_tasks_made_there(client):
    ex = Dask(client)
    with pytest.raises(KeyboardInterrupt), ex.running("test"):
        handles = [ex.submit(time.sleep, 5, name="plsim-sleep") for _ in range(4)]
        raise KeyboardInterrupt
    time.sleep(0.5)
    assert all(h.status == "cancelled" for h in handles)


# -- a lost worker changes nothing ---------------------------------------------------------------------
# The tasks are plsim's own importable workload, python_work(iterations, data): the separate
# `dask worker` processes of LocalDeployment cannot import this test module.
KILL_TASKS = [dict(iterations=300_000 + 1000 * i) for i in range(6)]


def _kill_holder_then_map(dask_client):
    """Place X (one copy, on one worker), SIGKILL that worker, then map over X, kill again mid-map, chain on X."""
    from plsim.speedup import python_work

    ex = Dask(dask_client)
    pids = dask_client.run(os.getpid)
    with ex.running("kill test"):
        placed = ex.place(data=X)
        placed["data"].result()
        (holder,) = dask_client.who_has([placed["data"]])[placed["data"].key]  # the only copy
        os.kill(pids[holder], signal.SIGKILL)
        killed = {"done": False}

        def kill_another_mid_run(done, total):  # and a second kill while tasks run
            if done == 2 and not killed["done"]:
                killed["done"] = True
                dask_client.wait_for_workers(2, timeout=60)  # the first one is back (its nanny restarted it)
                now = dask_client.run(os.getpid)
                os.kill(now[sorted(now)[-1]], signal.SIGKILL)

        values = [r.value for r in ex.map(python_work, placed, KILL_TASKS, progress=kill_another_mid_run)]
        chained = ex.gather([ex.submit(np.add, placed["data"], 1.0)])[0]
        ex.release(list(placed.values()))
    assert killed["done"]
    return values, chained


def _expected():
    from plsim.speedup import python_work

    return [r.value for r in Sequential().map(python_work, {"data": X}, KILL_TASKS)]


def _groups_spread_and_kept_together(dask_client):
    """place_each on idle workers: one group per worker, each group's fields on the same worker, right values."""
    ex = Dask(dask_client)
    groups = [{"X": X + k, "y": np.full(3, k)} for k in range(2)]
    placed = ex.place_each(groups, name="shard")
    got = [{name: handle.result() for name, handle in part.items()} for part in placed]
    assert all(np.array_equal(got[k]["X"], X + k) and np.array_equal(got[k]["y"], np.full(3, k)) for k in range(2))
    who = dask_client.who_has([h for part in placed for h in part.values()])
    homes = [{w for h in part.values() for w in who[h.key]} for part in placed]
    ex.release([h for part in placed for h in part.values()])
    assert all(len(home) == 1 for home in homes)  # a group stays together
    assert homes[0] != homes[1]  # and the two groups start on different workers


@pytest.mark.slow
def test_a_killed_worker_holding_the_only_copy_of_placed_data_changes_nothing_on_a_local_cluster():
    import dask.config
    from distributed import Client, LocalCluster

    # As on the deployment below: a fetch from the killed worker retries until the connect timeout.
    with dask.config.set({"distributed.comm.timeouts.connect": "5s"}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as c:
        _groups_spread_and_kept_together(c)
        values, chained = _kill_holder_then_map(c)
    assert values == _expected() and np.array_equal(chained, X + 1.0)


@pytest.mark.slow
def test_a_killed_worker_changes_nothing_on_the_separate_process_deployment(monkeypatch):
    from distributed import Client

    from plsim.deployment import LocalDeployment

    # A worker that was fetching the placed data from the killed one retries the refused connection until
    # Dask's connect timeout, 30 s by default (seen in about one run in three); on loopback 5 s is ample.
    monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "5s")
    with LocalDeployment(n_workers=2) as deployment, Client(deployment.address, set_as_default=False) as c:
        values, chained = _kill_holder_then_map(c)
    assert values == _expected() and np.array_equal(chained, X + 1.0)


# -- what an executor answers (code above the executor layer asks these, never its kind) -------------------
def _where_am_i(value):
    from distributed import get_worker

    return get_worker().address, value


def test_sequential_and_joblib_answer_what_they_can_run():
    from joblib import Parallel

    from plsim.resources import detect_resources

    seq = Sequential()
    assert (seq.concurrent, seq.on_cluster, seq.workers(), seq.threads(), seq.cpus, seq.parallelism) == (
        False, False, ["local"], {"local": 1}, 1, 1)
    handle = seq.send(np.arange(3.0), worker="local")
    seq.wait([handle])  # already there
    assert np.array_equal(seq.gather([seq.submit(np.sum, handle, worker="local")])[0], 3.0)
    with seq.task_stream() as records:
        seq.submit(abs, -1)
    assert records == []  # no scheduler here to record anything
    with pytest.raises(ValueError, match=r"runs sequential; calibrate runs on the workers of a Dask cluster.*"
                                         r"or use something else"):
        seq.require_cluster("calibrate", instead="something else")
    two = Joblib(Parallel(n_jobs=2))
    assert two.concurrent and not two.on_cluster and two.threads() == {"local": 2}
    assert two.cpus == min(2, detect_resources().cpus) and two.parallelism == two.cpus
    assert not Joblib(Parallel(n_jobs=1)).concurrent
    with pytest.raises(TypeError, match="independent tasks only"):
        two.send(1)


def test_dask_answers_from_its_cluster_and_runs_a_task_on_the_worker_asked(client):
    from plsim.cluster import is_local_cluster
    from plsim.resources import detect_resources

    ex = Dask(client)
    threads = dict(client.nthreads())
    assert ex.concurrent and ex.on_cluster and ex.threads() == threads and ex.workers() == sorted(threads)
    assert is_local_cluster(client) and ex.cpus == detect_resources().cpus  # a local cluster shares this machine's
    assert ex.parallelism == max(1, min(sum(threads.values()), ex.cpus))
    ex.require_cluster("calibrate")  # no error on a cluster
    with ex.running("the test"), ex.task_stream() as records:
        for w in ex.workers():  # each worker, asked by name, several times
            sent = ex.send(np.full(4, 2.0), worker=w)
            ex.wait([sent])
            assert client.who_has([sent])[sent.key] == (w,)  # the data went where asked, nowhere else
            handles = [ex.submit(_where_am_i, sent, name="plsim-where", worker=w) for _ in range(3)]
            ex.wait(handles, timeout=60)
            assert [(where, float(v.sum())) for where, v in ex.gather(handles)] == [(w, 8.0)] * 3
            ex.release([sent, *handles])
    ran = sorted(r["worker"] for r in records if str(r["key"]).startswith("plsim-where-"))
    assert ran == sorted(ex.workers() * 3)  # the task stream saw every one of them, each on its worker

"""What the scheduler saw during a call: the record (on a real cluster) and the judging (on hand-made records).

The judging functions are checked on records written out by hand, with the answers worked out in the comments;
the recorder against what a block of Dask code certainly did (how many tasks, which inputs, the bytes of an array
passed inline). ``cluster_work`` (the exercises' one verdict) is checked on hand-made records too.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from plsim.exercises._core import cluster_work, values_in
from plsim.exercises.scheduler_record import (
    DataSeen,
    SchedulerRecord,
    TaskSeen,
    data_sent,
    inputs_of,
    most_in_flight,
    most_outstanding,
    most_running,
    plsim_own,
    producers,
    watch_scheduler,
)


def _task(key, submitted, finished, *, deps=(), state="memory", worker="tcp://w:1", started=None, stopped=None,
          payload=100, function="__main__.f", result_type="int"):
    return TaskSeen(key=key, name=key.split("-")[0], function=function, client="c", submitted=submitted,
                    processing=submitted, started=started, stopped=stopped, finished=finished, state=state,
                    worker=worker, payload_bytes=payload, dependencies=tuple(deps), result_bytes=28,
                    result_type=result_type)


# -- judging, on records written by hand ----------------------------------------------------------------

def test_most_in_flight_counts_overlaps_on_the_schedulers_clock():
    # [0, 2] and [1, 3] overlap; [3, 4] starts when [1, 3] ends: a hand-over, not a third at once
    assert most_in_flight([_task("a", 0, 2), _task("b", 1, 3), _task("c", 3, 4)]) == 2
    # one at a time: each submitted when the previous finished
    assert most_in_flight([_task("a", 0, 1), _task("b", 1, 2), _task("c", 2, 3)]) == 1
    # an unfinished task is in flight until the window ends
    assert most_in_flight([_task("a", 0, None), _task("b", 5, 6)], until=10) == 2
    assert most_in_flight([_task("a", 0, None), _task("b", 5, 6)], until=3) == 1  # the window ended before b
    assert most_in_flight([]) == 0


def test_most_outstanding_counts_tasks_submitted_before_their_results_were_asked_for():
    # short tasks submitted in a loop, each done before the next arrives, then all gathered at 10: all 3 at once
    fast = [_task("a", 0, 0.5), _task("b", 1, 1.5), _task("c", 2, 2.5)]
    assert most_in_flight(fast) == 1 and most_outstanding(fast, [(10, ("a", "b", "c"))]) == 3
    # each result asked for (at 0.6, 1.6) before the next submission: one at a time
    assert most_outstanding(fast, [(0.6, ("a",)), (1.6, ("b",)), (2.6, ("c",))]) == 1
    # never gathered: outstanding until the window ends (a task whose future only feeds other tasks)
    assert most_outstanding(fast, [], until=3) == 3
    assert most_outstanding(fast, [(0.6, ("a",))], until=3) == 2
    # only a key's first gather counts; a gather of other keys changes nothing
    assert most_outstanding(fast, [(0.6, ("a",)), (5, ("a", "b", "c")), (0.1, ("zzz",))]) == 2


def test_most_running_counts_compute_intervals():
    tasks = [_task("a", 0, 9, started=1, stopped=3), _task("b", 0, 9, started=2, stopped=4),
             _task("c", 0, 9, started=4, stopped=5), _task("d", 0, 9)]  # d never started: not counted
    assert most_running(tasks) == 2


def test_plsim_own_and_computed():
    tasks = (_task("plsim-task-1", 0, 1), _task("f-2", 0, 1), _task("f-3", 0, 1, state="released"),
             _task("f-4", 0, 1, worker=None))
    record = SchedulerRecord(0, 2, tasks)
    assert plsim_own(tasks) == 1
    # released before it finished, or never on a worker: not computed
    assert [t.key for t in record.computed()] == ["plsim-task-1", "f-2"]
    assert record.task("f-2") is tasks[1] and record.task("nope") is None


def test_producers_match_results_with_parts():
    tasks = [_task("a", 0, 1), _task("b", 0, 1), _task("c", 0, 1, state="erred")]
    results = {"a": [1, 2], "b": [3], "c": [4]}
    found = producers(tasks, results, [2, 3, 4], lambda result, part: part in result)
    # 2 in a's result, 3 in b's; c erred, so 4 came from no computed task
    assert [[t.key for t in f] for f in found] == [["a"], ["b"], []]
    # a `same` that raises on a result of another type means "not this part"
    assert producers(tasks, {"a": 1, "b": [3]}, [3], lambda r, p: p in r)[0][0].key == "b"


def test_inputs_of_follows_dependencies_down_to_data():
    # x, y scattered; s1 = f(x), s2 = g(s1, y); t = h(z) where z came from elsewhere
    tasks = (_task("s1", 0, 1, deps=["x"]), _task("s2", 1, 2, deps=["s1", "y"]), _task("t", 0, 1, deps=["z"]))
    record = SchedulerRecord(0, 3, tasks, {k: DataSeen(k, 8, True, 1) for k in "xyz"})
    assert inputs_of(record, "s2") == {"x", "y"}
    assert inputs_of(record, "t") == {"z"}
    assert inputs_of(record, SimpleNamespace(key="s1")) == {"x"}  # a Future's key


def test_data_sent_counts_shared_data_once():
    data = {"X": DataSeen("X", 1000, True, 2)}
    shared = [_task(f"m-{i}", 0, 1, deps=["X"], payload=50) for i in range(4)]
    inline = [_task(f"m-{i}", 0, 1, payload=1050) for i in range(4)]
    assert data_sent(SchedulerRecord(0, 1, tuple(shared), data), shared) == ([50] * 4, 1000)
    assert data_sent(SchedulerRecord(0, 1, tuple(inline), {}), inline) == ([1050] * 4, 0)


def test_record_round_trips_through_json():
    record = SchedulerRecord(1.5, 2.5, (_task("a-1", 1.6, 2.0, deps=["x"], started=1.7, stopped=1.9),),
                             {"x": DataSeen("x", 8, True, 2)}, ((2.1, ("a-1",)),))
    assert SchedulerRecord.from_json(record.to_json()) == record


def test_values_in_finds_parts_wherever_they_are():
    @__import__("dataclasses").dataclass
    class Update:
        delta: np.ndarray
        n: int

    d = np.arange(3.0)
    found = values_in((Update(d, 4), "label"))
    assert any(v is d for v in found)
    assert [v for v in found if isinstance(v, (int, str))] == [4, "label"]
    assert values_in({"a": [1, [2]]}, depth=1) == [{"a": [1, [2]]}, [1, [2]]]


def _seen(tasks, results, stop=10.0, gathers=()):
    return SimpleNamespace(record=SchedulerRecord(0.0, stop, tuple(tasks), {}, tuple(gathers)), results=results)


def test_cluster_work_verdicts_in_order():
    same = lambda result, part: result == part  # noqa: E731
    kw = dict(what="squares", how="submit one square per task", own="plsim.square")
    # 1. plsim's own tasks
    fb = cluster_work(_seen([_task("plsim-task-1", 0, 1)], {"plsim-task-1": 1}), [1], same, **kw)
    assert fb.problem.startswith("1 of the 1 tasks were plsim's own (plsim.square's)")
    fb = cluster_work(_seen([_task("g-1", 0, 1, function="plsim.comm.g")], {"g-1": 1}), [1], same,
                      own_modules=("plsim.comm.",), **kw)
    assert "plsim's own" in fb.problem
    # 2. nothing ran
    assert cluster_work(_seen([], {}), [1], same, **kw).problem.startswith("no task ran on the cluster")
    # 3. dummy tasks: they ran, but none returned a part (work done elsewhere)
    fb = cluster_work(_seen([_task("abs-1", 0, 1), _task("abs-2", 0, 1)], {"abs-1": 0, "abs-2": 1}), [1, 4, 9],
                      same, **kw)
    assert fb.problem.startswith("2 of the 3 squares your answer needs were not computed by any task") and \
        "returned int" in fb.problem
    # 4. every part computed, but each result asked for before the next task was submitted
    seq = [_task("sq-1", 0, 0.5), _task("sq-2", 1, 1.5), _task("sq-3", 2, 2.5)]
    results = {"sq-1": 1, "sq-2": 4, "sq-3": 9}
    waited = [(0.7, ("sq-1",)), (1.7, ("sq-2",)), (2.7, ("sq-3",))]
    fb = cluster_work(_seen(seq, results, gathers=waited), [1, 4, 9], same, **kw)
    assert "the 3 tasks that computed your squares ran one at a time" in fb.problem
    assert cluster_work(_seen(seq, results, gathers=waited), [1, 4, 9], same, concurrent=False, **kw).problem == ""
    # all good: the same quick tasks, all submitted before any result was asked for
    fb = cluster_work(_seen(seq, results, gathers=[(3, ("sq-1", "sq-2", "sq-3"))]), [1, 4, 9], same, **kw)
    assert fb.problem == "" and fb.in_flight == 3 and [t.key for t in fb.tasks] == ["sq-1", "sq-2", "sq-3"]


# -- recording, on a real cluster --------------------------------------------------------------------

def _inc(x):
    return x + 1


def _total(X, i):
    return float(X[i].sum())


def test_watch_scheduler_records_what_ran(client):
    X = np.random.default_rng(0).normal(size=(500, 20))  # 80 kB
    with watch_scheduler(client) as seen:
        X_f = client.scatter(X, broadcast=True)
        shared = client.map(_total, [X_f] * 3, range(3), pure=False)
        inline = client.submit(_total, X, 0, pure=False)
        client.gather(shared + [inline])
        one = client.submit(_inc, 1, pure=False).result()
        del shared, inline  # dropped futures: the results are still read (the recorder pinned them)
    record = seen.record
    computed = record.computed()
    assert one == 2 and len(computed) == 5 and len(record.tasks) == 5
    assert sorted(seen.results.values()) == sorted([float(X[i].sum()) for i in (0, 1, 2)] + [float(X[0].sum()), 2])
    (x_key,) = record.data
    assert record.data[x_key].scattered and record.data[x_key].nbytes == X.nbytes
    by_name = {}
    for t in computed:
        by_name.setdefault(t.name, []).append(t)
        assert t.function.endswith(t.name) and t.worker in client.scheduler_info()["workers"]
        assert record.start <= t.submitted <= t.processing <= t.finished <= record.stop
    shared_tasks = [t for t in by_name["total"] if t.dependencies == (x_key,)]
    (inline_task,) = [t for t in by_name["total"] if not t.dependencies]
    assert len(shared_tasks) == 3 and inline_task.payload_bytes >= X.nbytes
    assert all(t.payload_bytes < X.nbytes / 10 for t in shared_tasks)
    # the scheduler saw the gathers: the 4 _total results asked for together, after all were submitted
    assert any(set(keys) == {t.key for t in by_name["total"]} for _, keys in record.gathers)
    assert most_outstanding(by_name["total"], record.gathers, until=record.stop) == 4
    assert most_outstanding(by_name["inc"], record.gathers, until=record.stop) == 1
    # nothing of the recorder is left on the scheduler: no plugin, no pseudo-client, no key it still wants, and
    # the scheduler's own gather handler is back
    left = client.run_on_scheduler(lambda dask_scheduler: (
        [n for n in dask_scheduler.plugins if n.startswith("plsim-watch-")],
        [c for c in dask_scheduler.clients if c.startswith("plsim-watch-")],
        [k for k, ts in dask_scheduler.tasks.items()
         if any(cs.client_key.startswith("plsim-watch-") for cs in ts.who_wants or ())],
        dask_scheduler.handlers["gather"] == dask_scheduler.gather))
    assert left == ([], [], [], True)


def test_watch_scheduler_reads_every_result_of_a_collection(client):
    """A dask.array's tasks have tuple keys; their intermediate results are pinned and read too."""
    import dask.array as da

    with watch_scheduler(client) as seen:
        total = client.compute(da.arange(10, chunks=5).sum()).result()
    computed = seen.record.computed()
    chunk_keys = [t.key for t in computed if t.key.startswith("(")]
    assert total == 45 and len(chunk_keys) >= 2
    assert set(seen.results) == {t.key for t in computed}  # the chunks' partial sums too, not only the total
    assert 45 in [int(np.sum(v)) for v in seen.results.values()]


def test_watch_scheduler_cleans_up_when_the_code_raises(client):
    with pytest.raises(ZeroDivisionError):
        with watch_scheduler(client) as seen:
            client.submit(_inc, 1, pure=False).result()
            1 / 0
    assert len(seen.record.computed()) == 1 and seen.results == {}  # results are not read after an error
    assert client.run_on_scheduler(
        lambda dask_scheduler: [c for c in dask_scheduler.clients if c.startswith("plsim-watch-")]) == []


def test_watch_scheduler_needs_a_client():
    with pytest.raises(TypeError):
        watch_scheduler(None)


@pytest.mark.slow
def test_only_this_client_leaves_out_another_notebooks_tasks(client):
    # On a session cluster shared by several notebooks, another kernel's client computes while a check records.
    from dask.distributed import Client

    with Client(client.scheduler.address, set_as_default=False) as other:
        with watch_scheduler(client, only_this_client=True) as mine, watch_scheduler(client) as everyone:
            theirs = other.map(abs, range(-3, 0), pure=False)
            ours = client.map(abs, range(-2, 0), pure=False)
            assert client.gather(ours) == [2, 1] and other.gather(theirs) == [3, 2, 1]
    assert sorted(mine.results.values()) == [1, 2]
    assert {t.client for t in mine.record.tasks} == {str(client.id)}
    assert sorted(everyone.results.values()) == [1, 1, 2, 2, 3]

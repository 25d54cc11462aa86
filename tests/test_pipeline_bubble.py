"""The pipeline bubble measured from Dask's task stream: the computation on hand-made streams, and on the cluster."""

import contextlib

import numpy as np
import pytest

from plsim.models import MLP
from plsim.speedup import TaskRecord
from plsim.training.pipeline import (Timeline, _wait_for_stages, bubble_fraction, gpipe_schedule, measure_bubble,
                                     pipeline_gradient, timeline_from_task_stream)


def _stream(schedule, t0=1.7e9, extra=True):
    """Task-stream dicts (as distributed.get_task_stream records them) of a schedule's stage tasks, plus noise:
    input transfers before each task, an activation task between tasks, another client's task."""
    records, labels = [], {}
    for i, (s, kind, j, start, end) in enumerate(schedule.events):
        key = f"plsim-{'forward' if kind == 'F' else 'backward'}-run-{i}"
        labels[key] = (s, kind, j)
        spans = [{"action": "compute", "start": t0 + start, "stop": t0 + end}]
        if extra:
            spans.insert(0, {"action": "transfer", "start": t0 + start - 0.3, "stop": t0 + start})
        records.append({"key": key, "worker": f"tcp://127.0.0.1:{4000 + s}", "startstops": spans})
    if extra:
        records.append({"key": "plsim-activation-run-99", "worker": "tcp://127.0.0.1:4000",
                        "startstops": [{"action": "compute", "start": t0 - 5.0, "stop": t0 + 500.0}]})
        records.append({"key": "someone-else-1", "worker": "tcp://127.0.0.1:4001",
                        "startstops": [{"action": "compute", "start": t0 - 9.0, "stop": t0 - 8.0}]})
    return records, labels


@pytest.mark.parametrize("p, m", [(2, 1), (2, 4), (3, 5), (4, 8)])
def test_bubble_from_a_hand_made_task_stream_equals_the_formula(p, m):
    schedule = gpipe_schedule(p, m, forward_time=0.03, backward_time=0.06)
    records, labels = _stream(schedule)
    timeline = timeline_from_task_stream(records, labels, p, m)
    assert timeline.kind == "measured" and len(timeline.events) == 2 * p * m
    # transfers, the activation task and the other client's work are not stage work
    assert timeline.bubble_fraction == pytest.approx((p - 1) / (m + p - 1), abs=1e-6)  # epoch seconds: ~1e-7 s
    assert timeline.makespan == pytest.approx((m + p - 1) * 0.09, abs=1e-6)
    assert min(e[3] for e in timeline.events) == 0.0
    # each stage's idle share of the window, averaged, is the bubble; with equal stages they are all equal
    assert np.allclose(timeline.idle_shares(), (p - 1) / (m + p - 1), atol=1e-6)


def test_a_stage_that_idles_more_raises_the_bubble_by_its_share():
    p, m = 2, 4
    schedule = gpipe_schedule(p, m, forward_time=1.0, backward_time=2.0)   # makespan 15, each stage busy 12
    events = [(s, k, j, a, b if (s, k, j) != (1, "B", 0) else b - 1.0) for s, k, j, a, b in schedule.events]
    records, labels = _stream(Timeline(p, m, events, "simulated"), extra=False)
    timeline = timeline_from_task_stream(records, labels, p, m)
    # stage 1 worked 1 s less in the same 15 s window: its idle share is 4/15, stage 0's 3/15
    assert timeline.idle_shares() == pytest.approx([3 / 15, 4 / 15])
    assert timeline.bubble_fraction == pytest.approx(3.5 / 15)


def test_task_records_are_accepted_and_missing_stage_tasks_refused():
    schedule = gpipe_schedule(2, 2)
    records, labels = _stream(schedule, extra=False)
    as_records = [TaskRecord(r["worker"], r["startstops"][0]["start"], r["startstops"][0]["stop"], r["key"])
                  for r in records]
    assert timeline_from_task_stream(as_records, labels, 2, 2).bubble_fraction == pytest.approx(bubble_fraction(2, 2))
    with pytest.raises(ValueError, match="1 of the 8 stage tasks are not in the task stream"):
        timeline_from_task_stream(records[1:], labels, 2, 2)


MODEL = MLP(12, hidden=(16, 16, 16), n_classes=4)


def _batch(n=64):
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, 12)), rng.integers(0, 4, n)


def test_measure_bubble_in_this_process_says_why_it_measures_nothing():
    X, y = _batch()
    b = measure_bubble(MODEL, MODEL.init_params(0), X, y, n_stages=2, n_micro=4, repeats=2)
    assert b.measured is None and "one task after the other" in b.reason
    assert b.predicted == pytest.approx(1 / 5) and len(b.repeats) == 2
    # the simulated schedule uses the measured task times, equal for every stage: exactly the formula
    assert b.simulated.kind == "simulated" and b.simulated.bubble_fraction == pytest.approx(1 / 5)


@pytest.mark.slow
def test_on_two_workers_each_stage_has_its_own_and_the_bubble_comes_from_the_task_stream(client):
    assert len(client.nthreads()) == 2
    X, y = _batch()
    w = MODEL.init_params(0)
    res = pipeline_gradient(MODEL, w, X, y, n_stages=2, n_micro=4, executor=client)
    np.testing.assert_allclose(res.gradient, MODEL.gradient(w, X, y), atol=1e-12)
    assert res.info["timeline_source"] == "task stream"
    # stage s on worker s, all its tasks: each stage ran on exactly one worker, a different one each
    assert all(len(stage) == 1 for stage in res.info["workers"])
    assert len({stage[0] for stage in res.info["workers"]}) == 2
    assert [stage[0] for stage in res.info["workers"]] == res.info["stage_workers"] == sorted(client.nthreads())
    # each stage, like one device, ran GPipe's order: its forwards by micro-batch, then its backwards from the last
    for s in range(2):
        ran = [(kind, j) for stage, kind, j, _, _ in sorted(res.timeline.events, key=lambda e: e[3]) if stage == s]
        assert ran == [("F", j) for j in range(4)] + [("B", j) for j in (3, 2, 1, 0)], (s, ran)
    b = measure_bubble(MODEL, w, X, y, n_stages=2, n_micro=4, executor=client, repeats=2, cpus=2)
    assert b.reason == "" and b.measured == pytest.approx(float(np.median(b.repeats)))
    assert 0 < b.measured < 1 and b.timeline.kind == "measured"
    # on one CPU the same run is not a measurement, and says so
    one = measure_bubble(MODEL, w, X, y, n_stages=2, n_micro=4, executor=client, repeats=1, cpus=1)
    assert one.measured is None and "take turns" in one.reason


def test_a_pass_whose_stage_worker_left_fails_instead_of_waiting_for_good():
    """A restricted task whose worker is gone would wait in 'no-worker' for ever: the pass says so instead."""

    class Pending:
        def done(self):
            return False

    class Executor:  # the cluster now: worker b (stage 1's) is gone, a restarted worker came back elsewhere
        def threads(self):
            return {"tcp://a:1": 1, "tcp://c:3": 1}

        def wait(self, handles, *, timeout=None):
            raise TimeoutError  # still waiting

    with pytest.raises(RuntimeError, match=r"\['tcp://b:2'\] holding a pipeline stage left the cluster"):
        _wait_for_stages(Executor(), [Pending()], ["tcp://a:1", "tcp://b:2"])
    _wait_for_stages(Executor(), [Pending()], [None, None])   # nothing pinned (one worker): nothing to watch


@pytest.mark.slow
def test_killing_a_stage_worker_mid_pass_fails_the_pass_with_a_clear_error():
    import os
    import signal
    import threading

    from _worker_kill import two_worker_cluster

    big = MLP(64, hidden=(512, 512, 512), n_classes=10)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(2048, 64)), rng.integers(0, 10, 2048)
    with two_worker_cluster("local_cluster") as c:
        outcome = {}

        def run():
            try:
                outcome["result"] = pipeline_gradient(big, big.init_params(0), X, y, n_stages=2, n_micro=16, executor=c)
            except Exception as exc:  # noqa: BLE001 - the test reads it
                outcome["error"] = exc

        pids = c.run(os.getpid)
        stage_1 = sorted(pids)[1]
        thread = threading.Thread(target=run)
        thread.start()
        deadline = 0
        while not c.who_has() and deadline < 100:   # the pass has started placing data
            threading.Event().wait(0.05)
            deadline += 1
        os.kill(pids[stage_1], signal.SIGKILL)
        thread.join(timeout=60)
        assert not thread.is_alive(), "the pass still waits for a worker that is gone"
        if "error" in outcome:  # the usual case: the pass was still running when its stage-1 worker died
            assert "holding a pipeline stage left the cluster" in str(outcome["error"])
        else:  # it finished just before the kill: then it is complete and exact
            np.testing.assert_allclose(outcome["result"].gradient, big.gradient(big.init_params(0), X, y),
                                       atol=1e-12)

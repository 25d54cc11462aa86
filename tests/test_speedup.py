"""plsim.speedup: laws against closed forms, the cost model's limits, and real measurements."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plsim import speedup as sp
from plsim.executor import resolve_executor


# -- laws -------------------------------------------------------------------
def test_amdahl_and_gustafson_closed_forms():
    assert sp.amdahl_speedup(0.0, 8) == pytest.approx(8.0)
    assert sp.amdahl_speedup(1.0, 8) == pytest.approx(1.0)
    assert sp.amdahl_speedup(0.1, 4) == pytest.approx(1 / (0.1 + 0.9 / 4))  # 3.0769...
    assert sp.gustafson_speedup(0.1, 4) == pytest.approx(4 - 0.1 * 3)  # 3.7
    assert sp.gustafson_speedup(0.0, 16) == pytest.approx(16.0)


@pytest.mark.parametrize("f", [0.0, 0.05, 0.2, 0.5])
def test_fit_amdahl_recovers_known_serial_fraction(f):
    ps = [1, 2, 3, 4, 8]
    t1 = 10.0
    times = [t1 * (f + (1 - f) / p) for p in ps]  # synthetic timings obeying Amdahl exactly
    speedups = [t1 / t for t in times]
    assert sp.fit_amdahl(ps, speedups) == pytest.approx(f, abs=1e-12)


def test_fit_amdahl_least_squares_on_noisy_points():
    # Two points: least squares in f on 1/S = 1/p + f (1 - 1/p), computed by hand.
    ps, ss = [2, 4], [1.6, 2.5]
    xs = [0.5, 0.75]
    ys = [1 / 1.6 - 0.5, 1 / 2.5 - 0.25]
    expected = (xs[0] * ys[0] + xs[1] * ys[1]) / (xs[0] ** 2 + xs[1] ** 2)
    assert sp.fit_amdahl(ps, ss) == pytest.approx(expected)


def test_fit_amdahl_needs_more_than_one_worker():
    with pytest.raises(ValueError, match="at least one count above 1"):
        sp.fit_amdahl([1], [0.9])
    with pytest.raises(ValueError, match="one speedup per count"):
        sp.fit_amdahl([1, 2], [1.0])


def test_karp_flatt_closed_form_and_amdahl_consistency():
    # S = 1.6 on 2 workers: e = (1/1.6 - 1/2) / (1 - 1/2) = 0.25
    assert sp.karp_flatt(1.6, 2) == pytest.approx(0.25)
    # For speedups that follow Amdahl exactly, Karp-Flatt returns the serial fraction at every p.
    for p in (2, 3, 8):
        assert sp.karp_flatt(sp.amdahl_speedup(0.15, p), p) == pytest.approx(0.15)
    with pytest.raises(ValueError, match="at least 2 workers"):
        sp.karp_flatt(1.0, 1)


# -- cost model ---------------------------------------------------------------
@pytest.mark.parametrize("p", [1, 2, 3, 4, 6, 12])
def test_cost_model_without_overhead_is_amdahl(p):
    model = sp.CostModel(task_seconds=0.5, n_tasks=12, serial=1.5)
    f = 1.5 / (1.5 + 12 * 0.5)
    assert model.serial_fraction == pytest.approx(f)
    assert model.speedup(p) == pytest.approx(sp.amdahl_speedup(f, p))
    assert model.efficiency(p) == pytest.approx(sp.amdahl_speedup(f, p) / p)


def test_cost_model_granularity_waves():
    # 5 tasks on 2 workers take 3 waves, not 2.5.
    model = sp.CostModel(task_seconds=1.0, n_tasks=5)
    assert model.parallel_time(2) == pytest.approx(3.0)
    assert model.speedup(2) == pytest.approx(5 / 3)
    assert model.speedup(5) == pytest.approx(5.0)
    assert model.speedup(8) == pytest.approx(5.0)  # more workers than tasks do not help


def test_cost_model_terms_by_hand():
    model = sp.CostModel(task_seconds=0.1, n_tasks=10, serial=0.2, overhead_per_task=0.01,
                         bytes_per_task=1000, bytes_once=5000, bandwidth=1e4)
    parts = model.breakdown(2)
    assert parts == pytest.approx({"serial": 0.2, "overhead": 0.1, "transfer": (10 * 1000 + 2 * 5000) / 1e4,
                                   "compute": 0.5})
    assert model.sequential_time() == pytest.approx(1.2)
    assert model.speedup(2) == pytest.approx(1.2 / (0.2 + 0.1 + 2.0 + 0.5))
    assert model.dominant_cost(2) == "transfer"


def test_huge_overhead_gives_slowdown_and_the_explanation_names_it():
    model = sp.CostModel(task_seconds=0.001, n_tasks=500, overhead_per_task=0.01)
    assert model.speedup(2) < 1
    assert model.dominant_cost(2) == "overhead"
    text = model.explain(2)
    assert "Slower than sequential" in text and "overhead" in text and "bigger" in text


def test_huge_transfer_explanation_names_data_transfer():
    model = sp.CostModel(task_seconds=0.01, n_tasks=10, bytes_per_task=1e8, bandwidth=1e8)
    assert model.speedup(2) < 1
    assert "data transfer" in model.explain(2)


def test_cost_model_bad_inputs():
    with pytest.raises(ValueError, match="n_tasks=0"):
        sp.CostModel(task_seconds=1.0, n_tasks=0)
    with pytest.raises(ValueError, match="task_seconds=-1"):
        sp.CostModel(task_seconds=-1.0, n_tasks=3)
    with pytest.raises(ValueError, match="bandwidth=0"):
        sp.CostModel(task_seconds=1.0, n_tasks=3, bandwidth=0)
    with pytest.raises(TypeError, match="n_tasks"):
        sp.CostModel(task_seconds=1.0, n_tasks=2.5)
    with pytest.raises(ValueError, match="workers=0"):
        sp.CostModel(task_seconds=1.0, n_tasks=3).speedup(0)


def test_law_bad_inputs():
    with pytest.raises(ValueError, match="serial_fraction=1.5"):
        sp.amdahl_speedup(1.5, 2)
    with pytest.raises(ValueError, match="workers=0.5"):
        sp.gustafson_speedup(0.1, 0.5)
    with pytest.raises(TypeError, match="workers"):
        sp.amdahl_speedup(0.1, "2")


# -- result object ------------------------------------------------------------
def test_speedup_result_numbers_and_tables():
    model = sp.CostModel(task_seconds=0.25, n_tasks=8, serial=0.0)
    res = sp.SpeedupResult.from_seconds(2.0, {1: 2.2, 2: 1.25}, model=model, title="demo")
    assert res.speedup(2) == pytest.approx(1.6)
    assert res.efficiency(2) == pytest.approx(0.8)
    assert res.karp_flatt(2) == pytest.approx(0.25)
    assert res.serial_fraction == pytest.approx(0.25)  # one point above p=1 -> Karp-Flatt value
    assert res.predicted_speedup(2) == pytest.approx(2.0)
    text = str(res)
    assert "measured" in text and "predicted" in text and "1.60" in text and "2.00" in text
    html = res._repr_html_()
    assert html.startswith("<div>") and "<table>" in html and "measured" in html and "predicted" in html
    assert "slower than the plain loop" in res.explanation()
    d = res.as_dict()
    assert d["rows"][2]["measured_speedup"] == pytest.approx(1.6)
    assert d["rows"][2]["predicted_speedup"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="was not measured"):
        res.speedup(4)


def test_speedup_result_explains_slowdown_without_model():
    res = sp.SpeedupResult.from_seconds(1.0, {2: 3.0})
    assert res.speedup(2) == pytest.approx(1 / 3)
    assert "Slower than sequential" in res.explanation()


def test_time_call_median_and_warmup():
    calls = []
    timing, result = sp.time_call(lambda: calls.append(1) or len(calls), repeats=3, warmup=2)
    assert len(calls) == 5 and result == 5 and len(timing.runs) == 3
    assert timing.seconds == sorted(timing.runs)[1]
    with pytest.raises(ValueError, match="repeats=0"):
        sp.time_call(lambda: None, repeats=0)
    with pytest.raises(TypeError, match="callable"):
        sp.time_call(3)


def test_python_work_is_fixed_work():
    assert sp.python_work(1000) == sp.python_work(1000)
    assert sp.python_work(10, data=np.ones(7)) == pytest.approx(sp.python_work(10) + 7)
    assert sp.python_work_iterations(5) >= 1
    with pytest.raises(ValueError, match="milliseconds=0"):
        sp.python_work_iterations(0)


def test_timeline_from_task_stream_records():
    stream = [
        {"worker": "tcp://w:2", "key": ("f-2",), "startstops": [
            {"action": "transfer", "start": 1.0, "stop": 1.5}, {"action": "compute", "start": 1.5, "stop": 2.0}]},
        {"worker": "tcp://w:1", "key": "f-1", "startstops": [{"action": "compute", "start": 0.5, "stop": 1.0}]},
    ]
    tl = sp.timeline_from_task_stream(stream)
    assert tl == [sp.TaskRecord("tcp://w:1", 0.5, 1.0, "f-1"), sp.TaskRecord("tcp://w:2", 1.5, 2.0, "f-2")]
    both = sp.timeline_from_task_stream(stream, actions=("compute", "transfer"))
    assert [r.action for r in both] == ["compute", "transfer", "compute"]
    with pytest.raises(TypeError, match="startstops"):
        sp.timeline_from_task_stream([{"worker": "x"}])


# -- on a real cluster ---------------------------------------------------------
@pytest.mark.slow
def test_run_parallel_matches_sequential_and_keeps_order(client):
    tasks = [1000, 2000, 3000, 4000, 5000]
    data = np.arange(10.0)
    expected = sp.run_sequential(sp.python_work, tasks, data)
    assert sp.run_parallel(None, sp.python_work, tasks, data) == expected  # the sequential executor
    for ship in ("scatter", "per-task"):
        for workers in (1, 2):
            assert sp.run_parallel(client, sp.python_work, tasks, data, workers=workers, ship=ship) == expected
    events = []
    sp.run_parallel(client, sp.python_work, tasks, workers=2, callback=events.append)
    assert [(e.done, e.total, e.unit) for e in events] == [(i, 5, "task") for i in range(1, 6)]
    with pytest.raises(ValueError, match="has 2 worker"):
        sp.run_parallel(client, sp.python_work, tasks, workers=3)
    with pytest.raises(ValueError, match="ship='email'"):
        sp.run_parallel(client, sp.python_work, tasks, ship="email")
    with pytest.raises(TypeError, match="callback"):
        sp.run_parallel(client, sp.python_work, tasks, callback="print")


@pytest.mark.parametrize("executor", [None, "client"])
def test_run_parallel_stops_when_the_callback_says_so(executor, request):
    executor = request.getfixturevalue("client") if executor == "client" else executor
    tasks = list(range(100, 110))
    got = sp.run_parallel(executor, sp.python_work, tasks, callback=lambda e: e.done >= 3)
    # What finished and was handed back, in task order: the 3 the callback saw.
    assert len(got) == 3
    assert set(got) <= set(sp.run_sequential(sp.python_work, tasks))


@pytest.mark.slow
def test_measure_speedup_on_two_workers_is_sane(client):
    iterations = sp.python_work_iterations(20)
    cal = sp.calibrate(executor=client, n_tasks=50, megabytes=1, repeats=1)
    assert 0 < cal.overhead_per_task < 1 and cal.bandwidth > 1e6
    # It says how it measured: the notebooks print this line.
    assert (cal.n_tasks, cal.repeats, cal.nbytes) == (50, 1, 2**20)
    assert "(measured: 50 empty tasks, median of 1 run(s), divided by 50)" in str(cal)
    assert "(measured: 1 MiB scattered to one worker)" in str(cal)
    events = []
    res = sp.measure_speedup(sp.python_work, [iterations] * 6, executor=client, repeats=1, warmup=1,
                             calibration=cal, callback=events.append)
    assert res.workers == [1, 2] and res.stopped_reason is None and not res.partial
    # One event per run (warm-up and timed) of the sequential baseline and of each worker count.
    assert [(e.done, e.total, e.unit) for e in events] == [(i, 6, "run") for i in range(1, 7)]
    assert events[0].message.startswith("sequential, warm-up") and events[-1].message.startswith("2 worker(s), run")
    for p in (1, 2):
        assert math.isfinite(res.speedup(p)) and 0 < res.speedup(p) < 10
        assert 0 < res.predicted_speedup(p) <= p
    assert res.model.n_tasks == 6 and res.model.overhead_per_task == cal.overhead_per_task
    assert "measured" in str(res)
    with pytest.raises(ValueError, match="has 2 worker"):
        sp.measure_speedup(sp.python_work, [10], executor=client, workers=[4])
    with pytest.raises(ValueError, match="tasks is empty"):
        sp.measure_speedup(sp.python_work, [], executor=client)
    with pytest.raises(ValueError, match="Dask cluster"):
        sp.measure_speedup(sp.python_work, [10], executor=None)


@pytest.mark.slow
def test_measure_speedup_stopped_keeps_what_was_measured(client):
    # Stop after the sequential warm-up + run and the 1-worker warm-up + run: 1 worker measured, 2 not.
    res = sp.measure_speedup(sp.python_work, [1000] * 4, executor=client, repeats=1, warmup=1, predict=False,
                             callback=lambda e: e.done >= 4)
    assert res.stopped_reason == "stopped" and res.partial and res.workers == [1]
    assert len(res.sequential.runs) == 1 and "Partial: stopped" in str(res)
    early = sp.measure_speedup(sp.python_work, [1000] * 4, executor=client, repeats=1, warmup=1, predict=False,
                               callback=lambda e: e.done >= 2)
    assert early.workers == [] and early.explanation() is None and early.reading() is None
    assert early.rows()[0]["run"] == "sequential" and len(early.rows()) == 1


@pytest.mark.slow
def test_record_timeline_sees_every_task_on_its_worker(client):
    iterations = sp.python_work_iterations(10)
    with sp.record_timeline(executor=client) as timeline:
        sp.run_parallel(client, sp.python_work, [iterations] * 4, workers=2)
    compute = [r for r in timeline if r.action == "compute"]
    assert len(compute) == 4
    assert {r.worker for r in compute} <= set(resolve_executor(client).workers())
    assert all(r.stop >= r.start for r in compute)
    assert all(r.key.startswith("plsim-speedup-task") for r in compute)


def test_explanation_when_measurement_is_worse_than_the_model_says():
    model = sp.CostModel(task_seconds=0.5, n_tasks=16)
    text = model.explain(2, measured_speedup=0.8)
    assert "predicts 2.00x" in text and "do not explain" in text and "shared" in text


def test_a_measurement_below_the_prediction_is_not_blamed_on_the_modelled_costs():
    # 8 tasks of 77 ms, 7.6 ms overhead each: 1.67x predicted on 2 workers.
    model = sp.CostModel(task_seconds=0.0774, n_tasks=8, overhead_per_task=0.00757)
    assert model.speedup(2) == pytest.approx(8 * 0.0774 / (8 * 0.00757 + 4 * 0.0774))
    low = model.explain(2, measured_speedup=1.18)  # below 85 % of 1.67x: something the model leaves out
    assert "cost model 1.67x" in low and "largest loss the model knows of is per-task scheduling overhead" in low
    assert "do not explain the rest of the gap" in low and "other programs" in low
    close = model.explain(2, measured_speedup=1.55)  # 93 % of the prediction: the modelled costs explain it
    assert "do not explain" not in close
    assert model.explain(2).startswith("Predicted speedup 1.67x on 2 workers (ideal 2x); the largest loss is")


def test_calibration_written_by_hand_prints_without_how():
    assert str(sp.Calibration(0.002, 5e8)) == "per-task overhead 2.00 ms; bandwidth 500 MB/s"


def test_one_worker_slowdown_is_not_blamed_on_task_size():
    # 1 s tasks with 6 ms overhead on one worker: batching would not help; one worker saves nothing.
    model = sp.CostModel(task_seconds=1.0, n_tasks=8, overhead_per_task=0.006)
    text = model.explain(1, measured_speedup=0.94)
    assert "one worker saves no compute" in text and "bigger" not in text
    # On two workers, 1 ms of work under 10 ms of overhead is a task-size problem.
    tiny = sp.CostModel(task_seconds=0.001, n_tasks=100, overhead_per_task=0.01)
    assert "bigger" in tiny.explain(2)


def test_demo_settings_shrink_in_small_mode(monkeypatch):
    full, small = sp.demo_settings(small=False), sp.demo_settings(small=True)
    assert isinstance(full, sp.SpeedupDemo) and full == sp.SpeedupDemo()
    assert small.task_ms < full.task_ms and small.repeats <= full.repeats and small.data_mb < full.data_mb
    monkeypatch.setenv("PLSIM_SMALL", "1")
    assert sp.demo_settings() == small
    monkeypatch.delenv("PLSIM_SMALL")
    assert sp.demo_settings() == full

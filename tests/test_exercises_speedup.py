"""The exercises of notebooks 00 and 01: worked solutions pass, wrong answers fail, feedback fits the numbers.

Expected values are worked out by hand in the comments (closed forms), not
taken from the registry the checks use.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

import plsim
from plsim import speedup as sp
from plsim.exercises import _core, check, check_code, predict, registered, reveal
from plsim.exercises import speedup as ex
from plsim.executor import Dask

from _exercise_solutions import (  # noqa: F401 (autouse, fixtures)
    SOLUTIONS,
    exec_solution,
    no_predictions_left,
    on_clusters,
)

NAMES = ("speedup_ceiling", "first_speedup", "waves", "tiny_task_speedup", "threads_speedup",
         "amdahl_from_run", "task_size_for_speedup", "batched_tasks")


def run_solution(name: str, **namespace):
    """Execute ``notebooks/solutions/<name>.py`` as the notebook would; return its namespace and its feedback."""
    ns = exec_solution(name, **{"sp": sp, **namespace})
    assert len(ns["_feedback"]) == 1, f"{name}.py should end with exactly one check/predict call"
    return ns, ns["_feedback"][0]


class FakeClient:
    """What the exercises read from a client: its worker threads (a remote cluster: no ``cluster``)."""

    cluster = None
    status = "running"

    def __init__(self, threads):
        self._threads = {f"tcp://10.0.0.{i}:1": t for i, t in enumerate(threads)}

    def nthreads(self):
        return dict(self._threads)

    def submit(self, *args, **kwargs):  # a client's shape, so that plsim.executor.resolve_executor takes it
        raise AssertionError("the exercise ran a task on a fake cluster")

    scatter = submit


def test_every_exercise_is_registered_with_a_misconception_and_a_notebook():
    reg = registered()
    for name in NAMES:
        assert name in reg, name
        assert reg[name].misconception and reg[name].notebook in ("00_start_here", "01_speedup"), name
        assert (SOLUTIONS / f"{name}.py").is_file(), name


# -- 00_start_here --------------------------------------------------------------------------------

def test_speedup_ceiling_is_the_smaller_of_threads_and_cpus(monkeypatch):
    # A remote cluster of 3 single-thread workers: 3 tasks at once, 3x at most.
    three = FakeClient([1, 1, 1])
    assert check("speedup_ceiling", 3, client=three, quiet=True).correct is True
    # The same 3 workers squeezed onto one usable CPU: they take turns, 1x at most.
    monkeypatch.setattr(Dask, "cpus", property(lambda self: 1))
    assert check("speedup_ceiling", 1, client=three, quiet=True).correct is True
    assert check("speedup_ceiling", 3, client=three, quiet=True).correct is False


def test_speedup_ceiling_solution_on_a_real_cluster(client):
    resources = plsim.detect_resources()
    _, fb = run_solution("speedup_ceiling", client=client, resources=resources)
    assert fb.correct is True
    # The host's core count is the classic wrong answer when it differs from the allowance.
    wrong = sum(client.nthreads().values()) + 1
    assert check("speedup_ceiling", wrong, client=client, quiet=True).correct is False


def test_first_speedup_solution_predicts_from_waves():
    # 2 workers on 2 CPUs: 8 tasks in 4 waves -> ideal 2x, minus a few percent -> 0.95 * 2 = 1.9.
    _, fb = run_solution("first_speedup", client=FakeClient([1, 1]), resources=SimpleNamespace(cpus=2))
    assert fb.correct is True and _core._PREDICTIONS["first_speedup"] == pytest.approx(1.9)
    assert reveal("first_speedup", 1.85, workers=2, cpus=2, quiet=True).correct is True
    # 3 workers on 3 CPUs: ceil(8 / 3) = 3 waves -> 8 / 3 = 2.67x ideal, 0.95 of it = 2.53.
    run_solution("first_speedup", client=FakeClient([1, 1, 1]), resources=SimpleNamespace(cpus=3))
    assert _core._PREDICTIONS["first_speedup"] == pytest.approx(0.95 * 8 / 3)
    # One usable CPU: no speedup is possible, the prediction is just under 1.
    run_solution("first_speedup", client=FakeClient([1]), resources=SimpleNamespace(cpus=1))
    assert _core._PREDICTIONS["first_speedup"] == pytest.approx(0.95)


def test_first_speedup_feedback_follows_the_machine():
    predict("first_speedup", 8, quiet=True)
    fb = reveal("first_speedup", 1.9, workers=2, cpus=2, n_tasks=8, quiet=True)
    assert fb.correct is False and "too high" in fb and "could not come true" in fb and "ceiling" in fb
    assert "came close" in fb
    one_cpu = reveal("first_speedup", 0.93, workers=1, cpus=1, n_tasks=8, quiet=True)
    assert "one usable CPU" in one_cpu and "0.93x" in one_cpu
    # 8 tasks on 3 workers do not split evenly: a low measurement names the partly idle last wave.
    low = reveal("first_speedup", 2.2, workers=3, cpus=3, n_tasks=8, quiet=True)
    assert "3 waves" in low and "stayed below" in low
    # Far below the ceiling with 0.25 s tasks: overhead cannot explain it, a busy machine can.
    busy = reveal("first_speedup", 1.04, workers=2, cpus=2, n_tasks=8, quiet=True)
    assert "far below" in busy and "other programs" in busy and "waves" not in busy
    above = reveal("first_speedup", 2.6, workers=2, cpus=2, n_tasks=8, quiet=True)
    assert "above that ceiling" in above


def test_first_speedup_feedback_quotes_the_calibrated_overhead_and_the_prediction():
    # 2 CPUs, 1.44x against 1.97x predicted from 3.5 ms per task: the overhead explains the prediction only.
    busy = reveal("first_speedup", 1.44, workers=2, cpus=2, n_tasks=8, overhead_per_task=0.0035,
                  predicted=1.97, quiet=True)
    assert "3.5 ms per task (measured by calibrate, with empty tasks)" in busy
    assert "explains only the cost model's 1.97x" in busy and "other programs" in busy
    close = reveal("first_speedup", 1.9, workers=2, cpus=2, n_tasks=8, overhead_per_task=0.0035,
                   predicted=1.97, quiet=True)
    assert "came close" in close and "3.5 ms Dask spends" in close and "expects 1.97x" in close
    # One CPU: 1.17x is above what one CPU can do; the cluster's real cost is the calibrated one.
    above = reveal("first_speedup", 1.17, workers=1, cpus=1, n_tasks=8, overhead_per_task=0.0067,
                   predicted=0.99, quiet=True)
    assert "above 1x, which one CPU cannot do" in above and "6.7 ms per task" in above
    below = reveal("first_speedup", 0.97, workers=1, cpus=1, n_tasks=8, overhead_per_task=0.0067,
                   predicted=0.99, quiet=True)
    assert "blurred by the noise" in below and "expects 0.99x" in below and "cannot do" not in below


def test_waves():
    # 10 tasks of 1 s on 3 CPUs: waves of 3, 3, 3, 1 -> 4 s (not 10 / 3 s).
    assert check("waves", 4, quiet=True).correct is True
    assert check("waves", 10 / 3, quiet=True).correct is False
    ns, fb = run_solution("waves")
    assert fb.correct is True and ns["answer"] == 4.0


# -- 01_speedup -----------------------------------------------------------------------------------

def test_tiny_task_solution_predicts_with_the_measured_overhead():
    # 200 tasks of 1 ms, 1 ms overhead each, 2 workers: T1 = 0.2 s, Tp = 0.2 + 100 x 1 ms = 0.3 s -> 0.667x.
    _, fb = run_solution("tiny_task_speedup", cfg=sp.SpeedupDemo(tiny_ms=1, tiny_tasks=200), CPUS=2,
                         calibration=SimpleNamespace(overhead_per_task=0.001))
    assert fb.correct is True and _core._PREDICTIONS["tiny_task_speedup"] == pytest.approx(0.2 / 0.3)


def test_tiny_task_feedback_names_the_overhead():
    model = sp.CostModel(task_seconds=0.001, n_tasks=200, overhead_per_task=0.002)
    result = sp.SpeedupResult.from_seconds(0.2, {2: 0.5}, model=model, cpus=2)
    predict("tiny_task_speedup", 1.9, quiet=True)
    fb = reveal("tiny_task_speedup", result.speedup(2), result=result, quiet=True)
    # 200 tasks x 2 ms = 0.4 s of scheduling next to 0.2 s of work; measured 0.4x: slower than the loop.
    assert fb.correct is False and "too high" in fb
    assert "0.4 s of scheduling" in fb and "0.2 s of work" in fb and "batching" in fb
    one_cpu = sp.SpeedupResult.from_seconds(0.2, {1: 0.3}, model=model, cpus=1)
    assert "one usable CPU" in ex.explain_tiny_tasks(None, 0.67, result=one_cpu)


def test_threads_solution_and_feedback():
    _, fb = run_solution("threads_speedup")
    assert fb.correct is True
    assert reveal("threads_speedup", 0.97, cpus=2, quiet=True).correct is True
    predict("threads_speedup", 2.0, quiet=True)
    fb = reveal("threads_speedup", 0.97, cpus=2, quiet=True)
    assert fb.correct is False and "Global Interpreter Lock" in fb and "releases the GIL" in fb
    assert "one-CPU machine" in ex.explain_threads(None, 0.9, cpus=1)
    assert "below 1x" in ex.explain_threads(None, 0.52, cpus=2) and "below 1x" not in fb


def test_amdahl_from_run_uses_the_runs_serial_fraction():
    # T1 = 1 s, T2 = 0.55 s: 1/S = 0.55 = 1/2 + f (1 - 1/2) -> f = 0.1; Amdahl on 8: 1 / (0.1 + 0.9 / 8) = 80 / 17.
    result = sp.SpeedupResult.from_seconds(1.0, {1: 1.0, 2: 0.55})
    assert result.serial_fraction == pytest.approx(0.1)
    assert check("amdahl_from_run", 80 / 17, result=result, quiet=True).correct is True
    assert check("amdahl_from_run", 8, result=result, quiet=True).correct is False  # linear scaling
    assert check("amdahl_from_run", 4 * (1 / 0.55), result=result, quiet=True).correct is False  # 4 x S(2)
    _, fb = run_solution("amdahl_from_run", result=result, f_fit=result.serial_fraction)
    assert fb.correct is True


def test_amdahl_from_run_on_one_worker_uses_the_cost_model():
    # One worker (Binder): the notebook fits f to the cost model's speedups on 1, 2, 4, 8 workers.
    # No overhead, serial 0.1 s of 1 s: the model is exactly Amdahl with f = 0.1 -> 80 / 17 again.
    model = sp.CostModel(task_seconds=0.1125, n_tasks=8, serial=0.1)
    result = sp.SpeedupResult.from_seconds(1.0, {1: 1.05}, model=model, cpus=1)
    assert result.serial_fraction is None
    assert check("amdahl_from_run", 80 / 17, result=result, quiet=True).correct is True
    f_model = sp.fit_amdahl([1, 2, 4, 8], [model.speedup(p) for p in (1, 2, 4, 8)])
    _, fb = run_solution("amdahl_from_run", result=result, f_fit=None, f_model=f_model)
    assert fb.correct is True


def test_task_size_for_speedup():
    # S = t / (o + t / 2) = 1.5 -> t = 6 o; with o = 2 ms, t = 12 ms.
    calibration = SimpleNamespace(overhead_per_task=0.002)
    assert sp.CostModel(task_seconds=0.012, n_tasks=200, overhead_per_task=0.002).speedup(2) == pytest.approx(1.5)
    assert check("task_size_for_speedup", 12.0, calibration=calibration, quiet=True).correct is True
    assert check("task_size_for_speedup", 0.012, calibration=calibration, quiet=True).correct is False  # seconds
    assert check("task_size_for_speedup", 3.0, calibration=calibration, quiet=True).correct is False  # 1.5 o
    _, fb = run_solution("task_size_for_speedup", calibration=calibration)
    assert fb.correct is True
    with pytest.raises(ValueError, match="speedup=2"):
        ex.task_seconds_for_speedup(0.001, speedup=2, workers=2)
    assert math.isclose(ex.task_seconds_for_speedup(0.001, speedup=3, workers=4), 0.012)  # 3 o / (1 - 3/4)


# -- 01_speedup: the Dask-code exercise, on a real cluster -----------------------------------------

@on_clusters
def test_batched_tasks_solution_passes_on_a_real_cluster(cluster, request):
    # 23 tasks in batches of 5: 5 Dask tasks (5 + 5 + 5 + 5 + 3), results identical to the plain loop.
    client = request.getfixturevalue(cluster)
    ns, fb = None, []
    ns = {"client": client, "check_code": lambda *a, **k: fb.append(check_code(*a, quiet=True, **k))}
    exec(compile((SOLUTIONS / "batched_tasks.py").read_text(), "batched_tasks.py", "exec"), ns)
    assert len(fb) == 1 and fb[0].correct is True, fb
    assert "computed in 5 Dask tasks" in fb[0]
    tasks = list(range(100, 111))
    assert ns["run_batched"](client, sp.python_work, tasks, 4) == [sp.python_work(t) for t in tasks]


def test_batched_tasks_wrong_implementations_fail(client):
    def one_task_each(client, func, tasks, batch_size):
        return client.gather(client.map(func, tasks))

    fb = check_code("batched_tasks", one_task_each, client=client, quiet=True)
    assert fb.correct is False and "ran 23 Dask task(s)" in fb

    def no_cluster(client, func, tasks, batch_size):
        return [func(t) for t in tasks]

    fb = check_code("batched_tasks", no_cluster, client=client, quiet=True)
    assert fb.correct is False and "ran 0 Dask task(s)" in fb

    def unflattened(client, func, tasks, batch_size):
        batches = [tasks[i:i + batch_size] for i in range(0, len(tasks), batch_size)]
        return client.gather(client.map(lambda b: [func(t) for t in b], batches))

    fb = check_code("batched_tasks", unflattened, client=client, quiet=True)
    assert fb.correct is False and "gave 5 results" in fb

    def out_of_order(client, func, tasks, batch_size):
        batches = [tasks[i:i + batch_size] for i in range(0, len(tasks), batch_size)]
        futures = client.map(lambda b: [func(t) for t in b], batches[::-1])
        return [r for rs in client.gather(futures) for r in rs]

    fb = check_code("batched_tasks", out_of_order, client=client, quiet=True)
    assert fb.correct is False and "task order" in fb

    def todo(client, func, tasks, batch_size):
        raise NotImplementedError

    assert check_code("batched_tasks", todo, client=client, quiet=True).correct is None


def _batches(tasks, batch_size):
    return [tasks[i:i + batch_size] for i in range(0, len(tasks), batch_size)]


def _run_batch(func, batch):
    return [func(t) for t in batch]


def test_batched_tasks_in_this_process_plus_dummy_tasks_fails(client):
    """The plain loop here, and exactly one task per batch for show: the count and the results are right."""
    def kernel_plus_dummies(client, func, tasks, batch_size):
        client.gather(client.map(abs, range(len(_batches(tasks, batch_size))), pure=False))
        return [func(t) for t in tasks]

    fb = check_code("batched_tasks", kernel_plus_dummies, client=client, quiet=True)
    assert fb.correct is False, fb
    assert "23 of the 23 results your answer needs were not computed by any task on the cluster" in fb, fb


def test_batched_tasks_one_batch_at_a_time_fails(client):
    def sequential(client, func, tasks, batch_size):
        return [r for b in _batches(tasks, batch_size) for r in client.submit(_run_batch, func, b).result()]

    fb = check_code("batched_tasks", sequential, client=client, quiet=True)
    assert fb.correct is False and "the 5 tasks that computed your results ran one at a time" in fb, fb


def test_batched_tasks_through_plsims_run_parallel_fails(client):
    def via_run_parallel(client, func, tasks, batch_size):
        batch_results = sp.run_parallel(client, lambda batch, f: _run_batch(f, batch), _batches(tasks, batch_size),
                                        func)  # func goes as data: scattered once, then run on every batch
        return [r for rs in batch_results for r in rs]

    fb = check_code("batched_tasks", via_run_parallel, client=client, quiet=True)
    assert fb.correct is False and "tasks were plsim's own (run_parallel's)" in fb, fb

"""The exercises of notebook 06: worked solutions pass, wrong answers fail, feedback fits the numbers.

Expected values are worked out by hand in the comments (closed forms of the
cost models), not taken from the registry the checks use.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from plsim.comm import LinkModel, comm_time
from plsim.exercises import check, predict, registered, reveal
from plsim.exercises import scaling as ex
from plsim.speedup import CostModel

from _exercise_solutions import SOLUTIONS, exec_solution, no_predictions_left  # noqa: F401 (autouse)

NAMES = ("ensemble_peak_workers", "federated_crossover", "tiny_tasks_best_workers", "tiny_tasks_best_speedup")
WORKERS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]


def run_solution(name: str, **namespace):
    """Execute ``notebooks/solutions/<name>.py`` as the notebook would; return its namespace and its feedback."""
    ns = exec_solution(name, **{"CostModel": CostModel, **namespace})
    assert len(ns["_feedback"]) == 1, f"{name}.py should end with exactly one check/predict call"
    return ns, ns["_feedback"][0]


def test_every_exercise_is_registered_with_a_misconception_and_a_notebook():
    reg = registered()
    for name in NAMES:
        assert reg[name].misconception and reg[name].notebook == "06_scaling_out", name
        assert (SOLUTIONS / f"{name}.py").is_file(), name


def _ensemble(overhead):
    # The notebook's 256-member bagging ensemble.
    return CostModel(task_seconds=0.5, n_tasks=256, serial=0.2, overhead_per_task=overhead,
                     bytes_once=10e6, bandwidth=125e6)


@pytest.mark.parametrize("overhead", [0.0005, 0.005])
def test_ensemble_peak(overhead):
    # Tp = 0.2 + 256 o + 0.08 p + ceil(256 / p) 0.5: at 32 workers 2.56 + 4 = 6.56 s, at 64 5.12 + 2 = 7.12 s,
    # at 16 1.28 + 8 = 9.28 s (plus the same 0.2 + 256 o everywhere) -> the peak is at 32 whatever o is.
    model = _ensemble(overhead)
    speedups = [model.speedup(p) for p in WORKERS]
    best = WORKERS[speedups.index(max(speedups))]
    assert best == 32
    ns, fb = run_solution("ensemble_peak_workers")
    assert fb.correct is True and ns["prediction"] == 32
    fb = reveal("ensemble_peak_workers", best, model=model, workers=WORKERS, quiet=True)
    assert fb.correct is True and "32 workers" in fb
    # 32 -> 64: the work falls from 4 s to 2 s, the data transfer grows from 2.56 s to 5.12 s.
    assert "saves 2 s of work but adds 2.56 s of data transfer" in fb


def test_ensemble_peak_wrong_guesses():
    model = _ensemble(0.002)
    predict("ensemble_peak_workers", 1024, quiet=True)
    fb = reveal("ensemble_peak_workers", 32, model=model, workers=WORKERS, quiet=True)
    assert fb.correct is False and "too high" in fb and "data has to reach every one" in fb
    predict("ensemble_peak_workers", 4, quiet=True)
    fb = reveal("ensemble_peak_workers", 32, model=model, workers=WORKERS, quiet=True)
    assert fb.correct is False and "too low" in fb and "first doublings" in fb


def test_federated_crossover():
    # Round communication 2 alpha + 2 K n beta = 0.1 + 0.064 K s > 2 s  <=>  K > 29.7  ->  K = 30.
    link = LinkModel(alpha=50e-3, beta=1 / 125e6)
    measured = next(k for k in range(2, 10**4) if comm_time("parameter_server", k, 4e6, link) > 2.0)
    assert measured == 30
    ns, fb = run_solution("federated_crossover")
    assert fb.correct is True and ns["prediction"] == 30
    fb = reveal("federated_crossover", measured, link=link, model_bytes=4e6, local_seconds=2.0, quiet=True)
    assert fb.correct is True and "0.1 s per round" in fb and "0.064 s per client" in fb and "From 30 clients" in fb
    predict("federated_crossover", 5000, quiet=True)
    fb = reveal("federated_crossover", measured, link=link, model_bytes=4e6, local_seconds=2.0, quiet=True)
    assert fb.correct is False and "too high" in fb and "sample clients" in fb


def test_tiny_tasks():
    # 200 tasks of 2 ms, o = 1 ms, 10 MB to each worker at 125 MB/s (0.08 s per worker):
    #   p = 1: 0.2 + 0.08 + 0.4 = 0.68 s;  p = 2: 0.2 + 0.16 + 0.2 = 0.56 s;  p = 4: 0.2 + 0.32 + 0.1 = 0.62 s
    # -> best at 2 workers, speedup 0.4 / 0.56 = 0.714: slower than the plain loop.
    cal = SimpleNamespace(overhead_per_task=0.001)
    assert ex.tiny_tasks_best(0.001) == (2, pytest.approx(0.4 / 0.56))
    assert check("tiny_tasks_best_workers", 2, calibration=cal, quiet=True).correct is True
    assert check("tiny_tasks_best_workers", 32, calibration=cal, quiet=True).correct is False  # the most workers
    assert check("tiny_tasks_best_speedup", 0.714, calibration=cal, quiet=True).correct is True
    assert check("tiny_tasks_best_speedup", 0.4 / 0.36, calibration=cal, quiet=True).correct is False  # no overhead
    ns, fb = run_solution("tiny_tasks_best_workers", cal=cal)
    assert fb.correct is True and ns["best_workers"] == 2
    ns, fb = run_solution("tiny_tasks_best_speedup", cal=cal)
    assert fb.correct is True and math.isclose(ns["best_speedup"], 0.4 / 0.56)


def test_tiny_tasks_follow_the_measured_overhead():
    # A slower cluster (o = 5 ms): the overhead is the same for every p, so the best count stays 2, but the
    # speedup falls to 0.4 / (1.0 + 0.36) = 0.294.
    cal = SimpleNamespace(overhead_per_task=0.005)
    assert check("tiny_tasks_best_speedup", 0.4 / 1.36, calibration=cal, quiet=True).correct is True
    assert check("tiny_tasks_best_speedup", 0.4 / 0.56, calibration=cal, quiet=True).correct is False
    _, fb = run_solution("tiny_tasks_best_speedup", cal=cal)
    assert fb.correct is True

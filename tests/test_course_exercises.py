"""The worked answers of the exercises in notebooks 00 and 05, computed independently, pass their checks."""

from __future__ import annotations

import math

from plsim.exercises import check
from plsim.speedup import CostModel


def test_00_waves():
    # 10 one-second tasks on 3 CPUs: ceil(10 / 3) waves.
    assert check("waves", math.ceil(10 / 3) * 1.0, 4.0, quiet=True).correct is True
    assert check("waves", 10 / 3, 4.0, quiet=True).correct is False
    assert check("waves", None, 4.0, quiet=True).correct is None


def test_05_tiny_tasks_best_worker_count():
    # By hand: T(p) = 200 * 1 ms + ceil(200 / p) * 2 ms -> p=16: 0.226 s, p=32: 0.214 s (smallest).
    by_hand = {p: 0.2 + math.ceil(200 / p) * 0.002 for p in (1, 2, 4, 8, 16, 32)}
    best = min(by_hand, key=by_hand.get)
    assert best == 32
    model = CostModel(task_seconds=0.002, n_tasks=200, overhead_per_task=0.001)
    for p, t in by_hand.items():
        assert math.isclose(model.parallel_time(p), t)
    assert check("tiny tasks", best, 32, quiet=True).correct is True

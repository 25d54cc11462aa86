"""read_speedup: a measured speedup judged against the CPUs it ran on (hand-checked cases)."""

from __future__ import annotations

import pytest

from plsim.speedup import CostModel, SpeedupResult, Timing, read_speedup
from plsim.resources import detect_resources
from plsim.speedup.judge import cluster_cpus


def kinds(reading):
    return [kind for kind, _ in reading.caveats]


def test_a_clean_measurement_on_two_cpus_has_no_caveat():
    r = read_speedup(1.9, 2, cpus=2, predicted=1.95, runs=[1.88, 1.9, 1.93])
    assert r.caveats == ()
    assert r.plausible and r.can_show_speedup
    assert r.ideal == 2 and r.efficiency == pytest.approx(0.95)
    assert str(r).endswith("predicted 1.95x.")


def test_one_cpu_says_no_speedup_can_be_measured():
    r = read_speedup(0.6, 1, cpus=1)
    assert kinds(r) == ["cpus", "slower"]
    assert not r.can_show_speedup
    assert "no parallel speedup can be measured" in str(r)
    assert "(expected here)" in str(r)


def test_two_workers_on_one_cpu_take_turns():
    r = read_speedup(0.95, 2, cpus=1)
    assert r.ideal == 1
    assert "2 workers take turns" in r.notes()[0]


def test_more_workers_than_cpus_caps_the_ideal():
    r = read_speedup(1.7, 4, cpus=2)
    assert r.ideal == 2 and kinds(r) == ["cpus"]
    assert "at most 2x" in r.notes()[0]


@pytest.mark.parametrize("speedup, workers, cpus", [(1.86, 1, 1), (2.3, 2, 2), (2.2, 4, 2)])
def test_above_the_ideal_is_implausible(speedup, workers, cpus):
    r = read_speedup(speedup, workers, cpus=cpus)
    assert "implausible" in kinds(r)
    assert not r.plausible


def test_five_percent_above_the_ideal_is_still_noise():
    assert "implausible" not in kinds(read_speedup(2.09, 2, cpus=2))
    assert "implausible" in kinds(read_speedup(2.11, 2, cpus=2))


def test_a_slowdown_the_model_predicts_is_explained_not_suspect():
    r = read_speedup(0.3, 2, cpus=2, predicted=0.4)
    assert kinds(r) == ["slower"] and r.plausible


def test_a_slowdown_the_model_does_not_predict_is_suspect():
    r = read_speedup(0.8, 2, cpus=2, predicted=1.9)
    assert kinds(r) == ["suspect"] and not r.plausible


def test_far_below_the_prediction_is_suspect():
    # 1.11x against 1.9x predicted: below 70 % of it (1.33x), as on a busy 2-CPU machine.
    assert kinds(read_speedup(1.11, 2, cpus=2, predicted=1.9)) == ["suspect"]
    assert kinds(read_speedup(1.40, 2, cpus=2, predicted=1.9)) == []


def test_repeats_that_disagree_are_flagged():
    # speedups 1.5, 1.8, 2.0: range 0.5 over median 1.8 = 28 % > 25 %.
    r = read_speedup(1.8, 2, cpus=2, runs=[1.5, 1.8, 2.0])
    assert kinds(r) == ["noisy"] and "28%" in r.notes()[0]


@pytest.mark.parametrize("bad, error", [(float("nan"), ValueError), (0.0, ValueError), (-1.0, ValueError),
                                        (float("inf"), ValueError), ("2", TypeError), (True, TypeError)])
def test_bad_speedup(bad, error):
    with pytest.raises(error, match="speedup"):
        read_speedup(bad, 2, cpus=2)


def test_bad_workers_cpus_predicted():
    with pytest.raises(ValueError, match="workers"):
        read_speedup(1.0, 0, cpus=2)
    with pytest.raises(ValueError, match="cpus"):
        read_speedup(1.0, 1, cpus=0)
    with pytest.raises(ValueError, match="predicted"):
        read_speedup(1.0, 1, cpus=1, predicted=float("nan"))


def test_speedup_result_prints_the_reading_under_its_table():
    # T1 = 1.0 s, T2 = 0.4 s: 2.5x on 2 workers of a 2-CPU machine is above the ideal.
    result = SpeedupResult(Timing((1.0,)), {1: Timing((1.1,)), 2: Timing((0.4,))}, cpus=2)
    assert "Implausible: 2.50x is above the ideal 2x" in str(result)
    assert result.as_dict()["caveats"] == result.reading().notes()
    one_cpu = SpeedupResult(Timing((1.0,)), {1: Timing((1.2,))}, cpus=1,
                            model=CostModel(task_seconds=0.1, n_tasks=10, overhead_per_task=0.02))
    text = str(one_cpu)
    assert "One usable CPU" in text
    # The cost model's explanation of the slowdown is printed once, not repeated by the reading.
    assert text.count("Slower than sequential") == 1


def test_cluster_cpus_of_a_local_cluster_are_the_usable_cpus(client, monkeypatch):
    monkeypatch.setenv("CPU_LIMIT", "1")
    assert cluster_cpus(client) == 1
    monkeypatch.delenv("CPU_LIMIT")
    # Not capped by the 2 workers: fewer workers than CPUs lower the ideal, not the CPUs.
    assert cluster_cpus(client) == detect_resources().cpus


def test_a_slowdown_without_a_model_is_not_called_suspect():
    r = read_speedup(0.8, 2, cpus=2)
    assert kinds(r) == ["slower"] and r.plausible
    assert "cost model" in r.notes()[0]


def test_one_worker_on_two_cpus_expects_no_gain_but_is_not_a_one_cpu_machine():
    r = read_speedup(0.94, 1, cpus=2)
    assert kinds(r) == ["slower"] and "with one worker there is nothing to gain" in r.notes()[0]

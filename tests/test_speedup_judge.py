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


# -- read_serial_fraction: the Amdahl fit and Karp-Flatt judged ------------------------------------

def test_a_karp_flatt_above_one_is_a_slowdown_not_a_serial_fraction():
    from plsim.speedup import read_serial_fraction

    # 0.65x on 2 workers: e = (1/0.65 - 1/2) / (1/2) = 2.077 (the "Karp-Flatt 2.056" case).
    r = read_serial_fraction({1: 0.9, 2: 0.65}, cpus=2)
    assert r.karp_flatt[2] == pytest.approx((1 / 0.65 - 0.5) / 0.5)
    assert r.serial_fraction == 1.0 and not r.plausible
    assert kinds(r) == ["slower"]
    note = r.notes()[0]
    assert "above 1" in note and "slower than the sequential one (measured 0.65x)" in note
    assert "clipped to 1.000" in note and "other programs" in note
    assert "serial fraction 1.000 -> at most 1.0x" in str(r) and "  * Karp-Flatt 2.077" in str(r)


def test_the_cost_model_says_whether_overhead_or_a_busy_machine_made_it_slow():
    from plsim.speedup import read_serial_fraction

    # Tiny tasks: the model itself predicts 0.3x, so the slowdown is the overhead it knows of.
    tiny = read_serial_fraction({2: 0.25}, cpus=2, predicted={2: 0.3})
    assert "as the cost model predicts (0.30x)" in tiny.notes()[0]
    # 50 ms tasks the model expects at 1.8x: a slowdown is something it leaves out.
    busy = read_serial_fraction({2: 0.9}, cpus=2, predicted={2: 1.8})
    assert "it expects 1.80x" in busy.notes()[0] and "other programs used the CPUs" in busy.notes()[0]
    assert busy.predicted_karp_flatt[2] == pytest.approx((1 / 1.8 - 0.5) / 0.5)


def test_karp_flatt_far_above_the_models_is_unexplained_and_close_is_clean():
    from plsim.speedup import read_serial_fraction

    # 1.18x measured, 1.67x predicted on 2 workers: e = 0.695 against the model's 0.198.
    r = read_serial_fraction({1: 0.74, 2: 1.18}, cpus=2, predicted={1: 0.91, 2: 1.67})
    assert kinds(r) == ["unexplained"]
    assert "accounts for 0.198 of the 0.695" in r.notes()[0] and "other 0.497" in r.notes()[0]
    # 1.55x against 1.67x: e = 0.290 against 0.198, within 0.15: nothing to say.
    clean = read_serial_fraction({1: 0.89, 2: 1.55}, cpus=2, predicted={1: 0.91, 2: 1.67})
    assert clean.caveats == () and clean.plausible
    assert "at most 3.4x" in str(clean) and "(the cost model, from the measured per-task overhead: 0.198)" in str(clean)
    # Better than the model by more than 0.15: the overhead was measured at a busier moment.
    quick = read_serial_fraction({2: 1.95}, cpus=2, predicted={2: 1.4})
    assert kinds(quick) == ["unexplained"] and "did better than the cost model" in quick.notes()[0]


def test_a_speedup_above_p_gives_a_negative_karp_flatt_flagged_as_implausible():
    from plsim.speedup import read_serial_fraction

    r = read_serial_fraction({2: 2.4}, cpus=2)
    assert r.karp_flatt[2] < 0 and r.serial_fraction == 0.0
    assert kinds(r) == ["implausible"] and "above 2x" in r.notes()[0]
    assert "serial fraction 0.000 -> no limit" in str(r)


def test_more_workers_than_cpus_make_the_fit_meaningless():
    from plsim.speedup import read_serial_fraction

    r = read_serial_fraction({2: 1.8, 4: 1.9}, cpus=2)
    assert "cpus" in kinds(r) and "4 workers share 2 usable CPU(s)" in r.notes()[-1]
    assert read_serial_fraction({2: 1.8, 4: 1.9}).caveats == ()  # CPUs unknown: nothing to say about them


def test_read_serial_fraction_bad_inputs_are_named():
    from plsim.speedup import read_serial_fraction

    with pytest.raises(TypeError, match="speedups must be a mapping"):
        read_serial_fraction([1.0, 1.8])
    with pytest.raises(ValueError, match="2 or more workers"):
        read_serial_fraction({1: 0.9})
    with pytest.raises(ValueError, match="finite number > 0"):
        read_serial_fraction({2: float("nan")})
    with pytest.raises(ValueError, match="workers"):
        read_serial_fraction({0: 1.0, 2: 1.5})
    with pytest.raises(ValueError, match="no speedup for workers"):
        read_serial_fraction({2: 1.5, 4: 2.5}, predicted={2: 1.8})
    with pytest.raises(ValueError, match="cpus"):
        read_serial_fraction({2: 1.5}, cpus=0)
    speedups = {1: 0.9, 2: 1.5}
    read_serial_fraction(speedups, cpus=2)
    assert speedups == {1: 0.9, 2: 1.5}


def test_speedup_result_footer_says_why_karp_flatt_above_one_means_nothing_once():
    # 200 tasks of 0.6 ms, 7.6 ms overhead each: 0.08x on 2 workers, Karp-Flatt 23.8 in the table.
    tiny = SpeedupResult(Timing((0.12,)), {2: Timing((1.49,))}, cpus=2,
                         model=CostModel(task_seconds=0.0006, n_tasks=200, overhead_per_task=0.00757))
    text = str(tiny)
    assert "Karp-Flatt above 1 (and a fit clipped to 1) is no serial fraction" in text
    assert text.count("Slower than sequential") == 1
    assert tiny.fit_reading().notes()[0].startswith("Karp-Flatt 23.8")
    assert tiny.as_dict()["fit_caveats"] == tiny.fit_reading().notes()
    # A run below the prediction: the explanation names the gap once, the fit does not repeat it.
    busy = SpeedupResult(Timing((0.62,)), {1: Timing((0.842,)), 2: Timing((0.527,))}, cpus=2,
                         model=CostModel(task_seconds=0.0774, n_tasks=8, overhead_per_task=0.00757))
    text = str(busy)
    assert "They do not explain the rest of the gap to the prediction" in text
    assert "accounts for" not in text and "Suspect" not in text
    assert "cost model 1.67x" in text and "the largest loss the model knows of" in text
    assert SpeedupResult(Timing((1.0,)), {1: Timing((1.1,))}, cpus=1).fit_reading() is None


def test_speedup_range_is_over_the_parallel_runs():
    r = SpeedupResult(Timing((1.0, 1.2, 1.1)), {2: Timing((0.5, 0.55, 0.6))}, cpus=2)
    assert r.speedup_range(2) == pytest.approx((1.1 / 0.6, 1.1 / 0.5))
    with pytest.raises(ValueError, match="was not measured"):
        r.speedup_range(4)


def test_a_one_cpu_slowdown_far_beyond_the_models_is_suspect():
    # 0.47x measured where the cluster's measured overhead predicts 0.82x on one CPU.
    r = read_speedup(0.47, 1, cpus=1, predicted=0.82)
    assert kinds(r) == ["cpus", "suspect"] and "0.82x" in r.notes()[1]
    assert kinds(read_speedup(0.7, 1, cpus=1, predicted=0.82)) == ["cpus", "slower"]


def test_a_slowdown_deeper_than_the_models_is_not_called_as_predicted():
    # One CPU, 0.25 s tasks: the measured overhead predicts 0.98x; 0.85x is a loss the model does not explain.
    deep = read_speedup(0.85, 1, cpus=1, predicted=0.98)
    assert kinds(deep) == ["cpus", "slower"] and "by more than the cost model predicted (0.98x" in deep.notes()[1]
    near = read_speedup(0.95, 1, cpus=1, predicted=0.98)
    assert "as the cost model predicted (0.98x)" in near.notes()[1]


def test_speedup_result_flags_a_smaller_worker_count_above_its_ideal():
    r = SpeedupResult(Timing((0.72,)), {1: Timing((0.54,)), 2: Timing((0.40,))}, cpus=2)
    assert "On 1 worker(s): Implausible: 1.33x is above the ideal 1x" in str(r)

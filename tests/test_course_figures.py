"""The one source of the course's figures: goals judged right, the guide's typical values up to date."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


figures = _load(ROOT / "benchmarks" / "course_figures.py")
typical = _load(ROOT / "docs" / "make_typical_values.py")

GOOD = {"fedavg_iid_round_ratio_e5": 6.0, "fedavg_iid_round_ratio_e20": 7.5, "fedsgd_best_lr_interior": True,
        "fedavg_best_lr_interior": True, "fedavg_noniid_round_ratio_e5": 0.8, "noniid_fedsgd_reached": True,
        "data_parallel_speedup_2w": 1.6, "data_parallel_small_speedup_2w": 0.2, "async_updates_over_sync": 1.3,
        "async_time_over_sync": 0.7, "ssp_max_staleness": 3, "ssp_bound": 3, "alpha_seconds": 0.002,
        "beta_seconds_per_byte": 1e-9, "alpha_beta_points": 8, "alpha_beta_heldout_median_ratio": 1.1,
        "bubble_measured_m1": 0.55, "bubble_predicted_m1": 0.5, "bubble_measured_m4": 0.25,
        "bubble_predicted_m4": 0.2}


def _verdicts(f, cpus=2):
    return {g["key"]: g["met"] for g in figures.judge(f, cpus)}


def test_a_run_meeting_every_goal_is_judged_so():
    assert set(_verdicts(GOOD).values()) == {True}


def test_each_goal_fails_on_the_wrong_side_of_its_bound():
    cases = {"fedavg_iid_round_ratio_e5": 4.9, "fedsgd_best_lr_interior": False, "data_parallel_speedup_2w": 1.49,
             "async_updates_over_sync": 1.19, "async_time_over_sync": 1.0, "ssp_max_staleness": 4,
             "alpha_beta_heldout_median_ratio": 1.26, "bubble_measured_m4": 0.31}
    for key, bad in cases.items():
        assert _verdicts({**GOOD, key: bad})[key] is False, key
    # drift: a non-IID ratio as large as the IID one shows no drift
    assert _verdicts({**GOOD, "fedavg_noniid_round_ratio_e5": 6.0})["fedavg_noniid_round_ratio_e5"] is False
    # the fit needs 8 points
    assert _verdicts({**GOOD, "alpha_beta_points": 7})["alpha_beta_heldout_median_ratio"] is False


def test_measured_goals_are_not_judged_on_one_cpu_and_missing_figures_are_not_passed():
    one = _verdicts({**GOOD, "data_parallel_speedup_2w": 0.9}, cpus=1)
    assert one["data_parallel_speedup_2w"] is None and one["bubble_measured_m1"] is None
    assert one["fedavg_iid_round_ratio_e5"] is True          # counted figures hold on one CPU too
    assert _verdicts({})["fedavg_iid_round_ratio_e5"] is None


def test_value_range_over_runs():
    assert typical.value_range([1.234, 1.5, None]) == "1.23–1.5"
    assert typical.value_range([7, 7]) == "7"
    assert typical.value_range([True, True]) == "yes"
    assert typical.value_range([True, False]) == "no / yes"
    assert typical.value_range([None]) == "—"


def test_runs_go_to_their_profile_column():
    runs = [{"context": {"small": False, "cpus": 2}, **GOOD},
            {"context": {"small": False, "cpus": 2}, **GOOD, "fedavg_iid_round_ratio_e5": 7.0},
            {"context": {"small": True, "cpus": 1}, **GOOD, "fedavg_iid_round_ratio_e5": 5.5}]
    row = next(line for line in typical.table(runs).splitlines() if "`fedavg_iid_round_ratio_e5`" in line)
    assert row.endswith("| 6–7 | 5.5 |"), row
    assert "(2 runs)" in typical.table(runs) and "(1 run)" in typical.table(runs)
    # a speedup measured on one CPU is replicas taking turns: the Binder column does not quote it
    row = next(line for line in typical.table(runs).splitlines() if "`data_parallel_speedup_2w`" in line)
    assert row.endswith("| 1.6 | not measurable on 1 CPU |"), row


def test_every_figure_the_guide_tabulates_is_a_goal_or_a_context_the_benchmark_reports():
    goal_keys = {k for k, *_ in figures.GOALS}
    table_keys = {k for k, *_ in typical.FIGURES}
    assert goal_keys <= table_keys


def test_the_guide_is_up_to_date():
    guide = (ROOT / "docs" / "instructors.md").read_text()
    assert typical.START in guide, "the guide has no typical-values table"
    assert guide == typical.render(guide), "run: python docs/make_typical_values.py"

"""``plsim bench``: the main job, run with tiny sizes through the real CLI, and its result type."""

from __future__ import annotations

import json

import pytest

from plsim import benchmark
from plsim.benchmark import BenchConfig, BenchResult
from plsim.cli import bench, main
from plsim.speedup import read_speedup

# Every key of `plsim bench --json`, in order: what scripts reading the JSON rely on.
JSON_KEYS = [
    "case", "estimator", "members", "samples", "features", "test_samples", "repeats", "seed", "workers", "threads",
    "cluster", "usable_cpus", "sequential_seconds", "parallel_seconds", "sequential_runs_seconds",
    "parallel_runs_seconds", "measured_speedup", "measured_efficiency", "predicted_speedup",
    "predicted_parallel_seconds", "karp_flatt", "member_seconds_mean", "member_seconds_median",
    "overhead_per_task_seconds", "bandwidth_bytes_per_second", "data_bytes_scattered", "sequential_accuracy",
    "parallel_accuracy", "identical_predictions", "parallel_member_workers", "explanation", "cluster_cpus", "caveats",
    "joblib_backend", "joblib_seconds", "joblib_runs_seconds", "joblib_speedup", "joblib_efficiency",
    "joblib_accuracy", "joblib_identical_predictions", "speedup_vs_joblib", "joblib_paired_ratios",
    "joblib_comparison", "joblib_comparison_summary",
]

KEYS = {
    "sequential_seconds", "parallel_seconds", "joblib_seconds", "measured_speedup", "measured_efficiency",
    "joblib_speedup", "predicted_speedup", "sequential_accuracy", "parallel_accuracy", "joblib_accuracy",
    "identical_predictions", "workers", "members", "samples", "features", "estimator", "speedup_vs_joblib",
    "overhead_per_task_seconds", "bandwidth_bytes_per_second", "member_seconds_mean", "explanation",
}


@pytest.mark.slow
def test_bench_json_and_plot(tmp_path, capsys):
    png = tmp_path / "speedup.png"
    code = main(["bench", "--json", "--workers", "2", "--members", "4", "--samples", "300", "--features", "6",
                 "--repeats", "3", "--plot", str(png)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)  # stdout is pure JSON; progress went to stderr
    assert KEYS <= set(out)
    assert list(out) == JSON_KEYS  # no private entries, none lost
    assert "plsim bench:" in captured.err and "run 3/3" in captured.err
    assert out["workers"] == 2 and out["members"] == 4 and out["samples"] == 300 and out["features"] == 6
    assert len(out["sequential_runs_seconds"]) == len(out["parallel_runs_seconds"]) == 3
    assert len(out["joblib_runs_seconds"]) == 3
    # Paired comparison: ratio i is joblib run i / plsim run i; 3 pairs are too few for a sign test.
    ratios = [j / d for d, j in zip(out["parallel_runs_seconds"], out["joblib_runs_seconds"], strict=True)]
    assert out["joblib_paired_ratios"] == pytest.approx(ratios)
    assert out["joblib_comparison"] == "too_few_pairs"
    assert out["joblib_comparison_summary"].startswith("plsim versus joblib, 3 paired run(s)")
    assert out["sequential_seconds"] == sorted(out["sequential_runs_seconds"])[1]  # the median
    # The cost model starts from the median sequential run: predicted speedup x predicted time = measured T1.
    assert out["predicted_speedup"] * out["predicted_parallel_seconds"] == pytest.approx(out["sequential_seconds"])
    assert out["measured_speedup"] == pytest.approx(out["sequential_seconds"] / out["parallel_seconds"])
    assert out["joblib_speedup"] == pytest.approx(out["sequential_seconds"] / out["joblib_seconds"])
    assert out["measured_efficiency"] == pytest.approx(out["measured_speedup"] / 2)
    assert 0 < out["predicted_speedup"] <= 2
    # The measurement is read against the CPUs it ran on before it is presented.
    reading = read_speedup(out["measured_speedup"], 2, cpus=out["cluster_cpus"], predicted=out["predicted_speedup"],
                           runs=[out["sequential_seconds"] / t for t in out["parallel_runs_seconds"]])
    assert out["caveats"] == reading.notes(skip=("slower",) if out["explanation"] else ())
    # Same seeds -> the same ensemble whoever trains it.
    assert out["identical_predictions"] is True
    assert out["parallel_accuracy"] == out["sequential_accuracy"] == out["joblib_accuracy"]
    assert out["joblib_identical_predictions"] is True  # the same fit, only the executor differs
    assert 0.5 < out["sequential_accuracy"] <= 1
    assert png.read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_bench_table_small_tasks(capsys):
    code = main(["bench", "--small-tasks", "--members", "6", "--samples", "100", "--repeats", "1", "--workers", "1",
                 "--no-joblib", "--estimator", "gaussian_nb"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    table = captured.out
    assert "sequential (1 process, 1 thread)" in table and "plsim on Dask (1 worker)" in table
    assert "predicted" in table and "measured" in table and "joblib" not in table.split("\n\n")[1]
    assert "6 x gaussian_nb" in table and "Sequential and plsim ensembles: identical predictions" in table
    assert "joblib ensembles" not in table


def test_small_tasks_defaults_and_explicit_values():
    parser = __import__("argparse").ArgumentParser()
    bench.add_arguments(parser)
    cfg = bench.config_from_args(parser.parse_args(["--small-tasks"]))
    assert (cfg.members, cfg.samples, cfg.small_tasks) == (benchmark.SMALL_MEMBERS, benchmark.SMALL_SAMPLES, True)
    cfg = bench.config_from_args(parser.parse_args([]))
    assert (cfg.members, cfg.samples, cfg.workers) == (16, 30_000, None)
    cfg = bench.config_from_args(parser.parse_args(["--small-tasks", "--members", "7"]))
    assert cfg.members == 7 and cfg.samples == benchmark.SMALL_SAMPLES


@pytest.mark.parametrize(("argv", "message"), [
    (["--members", "0"], "members=0 must be at least 1"),
    (["--samples", "5"], "samples=5 must be at least 20"),
    (["--repeats", "0"], "repeats=0 must be at least 1"),
    (["--workers", "0"], "workers=0 must be a positive integer"),
    (["--workers", "2", "--address", "tcp://10.0.0.5:8786"], "remote cluster's own workers"),
    (["--plot", "/no/such/folder/x.png"], "does not exist"),
])
def test_bench_bad_inputs_exit_2_with_a_clear_message(argv, message, capsys):
    assert main(["bench", *argv]) == 2
    err = capsys.readouterr().err
    assert "plsim bench: error:" in err and message in err


def test_unknown_estimator_is_rejected(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--estimator", "svm_magic"])
    assert exc.value.code == 2
    assert "invalid choice: 'svm_magic'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="estimator='svm_magic'"):
        BenchConfig(estimator="svm_magic")


def _result(**changes) -> BenchResult:
    """A BenchResult with hand-made figures (2 workers, sequential 2 s, parallel 1 s, joblib 1.25 s)."""
    figures = {key: 0 for key in JSON_KEYS}
    figures.update(case="default", estimator="decision_tree", members=4, samples=300, features=6, test_samples=200,
                   repeats=1, workers=2, threads=2, cluster="local", usable_cpus=2, sequential_seconds=2.0,
                   parallel_seconds=1.0, sequential_runs_seconds=[2.0], parallel_runs_seconds=[1.0],
                   measured_speedup=2.0, measured_efficiency=1.0, predicted_speedup=1.6,
                   predicted_parallel_seconds=1.25, karp_flatt=0.0, member_seconds_mean=0.5,
                   member_seconds_median=0.5, overhead_per_task_seconds=1e-3, bandwidth_bytes_per_second=1e9,
                   sequential_accuracy=0.9, parallel_accuracy=0.9, identical_predictions=True,
                   parallel_member_workers=["tcp://a", "tcp://b"], explanation=None, cluster_cpus=2, caveats=[],
                   joblib_backend="loky", joblib_seconds=1.25, joblib_runs_seconds=[1.25], joblib_speedup=1.6,
                   joblib_efficiency=0.8, joblib_accuracy=0.9, joblib_identical_predictions=True,
                   speedup_vs_joblib=1.25, joblib_paired_ratios=[1.25], joblib_comparison="too_few_pairs",
                   joblib_comparison_summary="plsim versus joblib, 1 paired run(s): too few pairs")
    figures.update(changes)
    return BenchResult(**figures)


def test_bench_result_as_dict_is_the_json_without_the_plotting_objects():
    speedup, timeline = object(), ("task record",)
    result = _result(speedup=speedup, timeline=timeline)
    out = result.as_dict()
    assert list(out) == JSON_KEYS
    assert out["measured_speedup"] == 2.0 and out["parallel_member_workers"] == ["tcp://a", "tcp://b"]
    assert json.loads(json.dumps(out)) == out  # JSON-ready as it is
    assert result.speedup is speedup and result.timeline == timeline  # untouched by as_dict


def test_bench_table_reads_the_result():
    table = bench.format_table(_result())
    assert "4 x decision_tree (bagging) on 300 x 6 samples, 2 local worker(s)" in table
    assert "2.00x" in table and "1.60x" in table  # measured plsim, and joblib / predicted
    assert "joblib loky (n_jobs=2)" in table
    assert "Sequential and plsim ensembles: identical predictions on 200 test samples." in table
    no_joblib = bench.format_table(_result(joblib_seconds=None, joblib_speedup=None, joblib_identical_predictions=None,
                                           joblib_comparison_summary=None))
    assert "joblib loky" not in no_joblib and "joblib ensembles" not in no_joblib


def test_run_bench_refuses_a_config_that_is_not_one():
    with pytest.raises(TypeError, match="cfg must be a BenchConfig, got dict"):
        benchmark.run_bench({"members": 4})

"""``plsim bench``: the main job, run with tiny sizes through the real CLI."""

from __future__ import annotations

import json

import pytest

from plsim import bench
from plsim.cli import main
from plsim.speedup import read_speedup

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
    assert (cfg.members, cfg.samples, cfg.small_tasks) == (bench.SMALL_MEMBERS, bench.SMALL_SAMPLES, True)
    cfg = bench.config_from_args(parser.parse_args([]))
    assert (cfg.members, cfg.samples, cfg.workers) == (16, 30_000, None)
    cfg = bench.config_from_args(parser.parse_args(["--small-tasks", "--members", "7"]))
    assert cfg.members == 7 and cfg.samples == bench.SMALL_SAMPLES


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
        bench.BenchConfig(estimator="svm_magic")

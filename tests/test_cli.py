"""The `plsim` command and the cost of `import plsim`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import plsim
from plsim.cli import main


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "plsim", *args], capture_output=True, text=True, timeout=timeout)


def test_import_plsim_does_not_import_heavy_libraries():
    code = (
        "import sys, plsim; heavy = [m for m in ('dask', 'distributed', 'sklearn', 'matplotlib', "
        "'ipywidgets', 'numpy') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_lazy_attributes_resolve():
    assert callable(plsim.start_cluster)
    assert plsim.cluster.start_cluster is plsim.start_cluster
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        plsim.nope  # noqa: B018


def test_version_and_help():
    assert _run("--version").stdout.strip() == f"plsim {plsim.__version__}"
    help_text = _run("--help").stdout
    assert "info" in help_text and "bench" in help_text


def test_info_without_cluster_prints_resources(capsys):
    assert main(["info", "--no-cluster"]) == 0
    out = capsys.readouterr().out
    assert "CPUs" in out and "memory" in out and "scikit-learn" in out


@pytest.mark.slow
def test_info_json_starts_a_cluster_and_reports_timings():
    result = _run("info", "--json", "--workers", "1")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["versions"]["plsim"] == plsim.__version__
    assert info["resources"]["cpus"] >= 1
    cluster = info["cluster"]
    assert cluster["ok"] and cluster["workers"] == 1 and cluster["kind"] == "local"
    assert cluster["start_seconds"] > 0 and cluster["close_seconds"] >= 0


def test_info_reports_an_unreachable_scheduler_and_fails():
    result = _run("info", "--address", "tcp://127.0.0.1:9", "--json")
    assert result.returncode == 1
    cluster = json.loads(result.stdout)["cluster"]
    assert not cluster["ok"] and "no Dask scheduler answered" in cluster["error"]


def test_bad_cli_input_is_one_clear_line():
    result = _run("info", "--workers", "0")
    assert result.returncode == 1  # reported inside the cluster section, not a traceback
    assert "Traceback" not in result.stderr + result.stdout
    assert "n_workers=0 must be a positive integer" in result.stdout


@pytest.mark.parametrize("name", sorted(plsim._SUBMODULES))
def test_every_advertised_submodule_imports(name):
    assert getattr(plsim, name).__name__ == f"plsim.{name}"


def test_the_command_line_layer_is_one_package_and_stays_light():
    """plsim/cli/ holds the command; the work is below it (plsim.benchmark), imported only when run."""
    import plsim.cli.assign
    from plsim.cli import assign

    assert assign is plsim.cli.assign  # the old name is the same module, so patching it patches the command
    code = ("import sys, plsim.cli, plsim.cli.bench, plsim.cli.info, plsim.benchmark; heavy = [m for m in "
            "('dask', 'distributed', 'sklearn', 'matplotlib', 'numpy') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""

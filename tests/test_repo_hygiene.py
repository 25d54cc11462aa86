"""Repository rules: notebooks stored without outputs, Binder installs the project's own dependencies."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))


def test_there_are_notebooks():
    assert any(p.name.startswith("00_") for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs: strip them before committing"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"


def test_binder_installs_the_project_itself_and_nothing_else():
    binder = ROOT / "binder"
    assert (binder / "runtime.txt").read_text().strip() == "python-3.11"
    # No second dependency list that could drift from pyproject.toml.
    for name in ("requirements.txt", "environment.yml", "environment.yaml", "Pipfile", "setup.py"):
        assert not (binder / name).exists(), f"binder/{name} would be a second dependency list"
    post_build = (binder / "postBuild").read_text()
    installs = [line for line in post_build.splitlines() if re.search(r"\bpip install\b", line)]
    assert installs == ['python -m pip install --no-cache-dir ".[notebooks]"']
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("jupyterlab") for dep in extras["notebooks"])


def test_binder_start_points_the_dashboard_at_the_proxy_and_execs():
    start = (ROOT / "binder" / "start").read_text()
    assert 'DASK_DISTRIBUTED__DASHBOARD__LINK="${JUPYTERHUB_SERVICE_PREFIX:-/}proxy/{port}/status"' in start
    assert start.rstrip().splitlines()[-1] == 'exec "$@"'


def test_python_requirement_matches_binder():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_ci_runs_exactly_the_readme_test_command():
    commands = _readme_commands()
    # one test command (the French section repeats it word for word)
    test_commands = sorted({c for c in commands if "pytest" in c})
    assert len(test_commands) == 1, test_commands
    # The README's command creates and activates the venv; .ci/run does that itself, then runs the rest.
    install_and_test = test_commands[0].split("&& . .venv/bin/activate && ", 1)[1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert install_and_test in ci_lines


def test_readme_main_job_command_runs_plsim():
    main_jobs = sorted({c for c in _readme_commands() if c.startswith("python3 -m venv") and "pytest" not in c})
    assert len(main_jobs) == 1, main_jobs
    assert main_jobs[0].endswith("&& plsim bench")

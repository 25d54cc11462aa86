"""What Binder builds from ``binder/``, checked without Docker.

``jupyter-repo2docker --no-build --debug PATH`` is a dry run: repo2docker picks the
buildpack for ``binder/`` and prints the Dockerfile it would build, without ever
contacting a container engine (there is none here or in CI). The tests run it on a copy
of the working tree and read that Dockerfile: the Python it sets up, that it runs
``binder/postBuild`` on the repository, and that ``binder/start`` becomes the start
script. Static checks of the three files in ``binder/`` go with it.

repo2docker comes with the ``test`` extra. Without it these tests skip, except when the
environment variable ``CI`` is set: then they fail.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
POST_BUILD_INSTALL = 'python -m pip install --no-cache-dir ".[notebooks]"'
# Not part of a Binder build (and the venv is large): left out of the copy.
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "venv", "*.egg-info", "__pycache__", ".pytest_cache", ".ipynb_checkpoints",
    "build", "dist", "test-artifacts", "dask-worker-space",
)


def _runtime_version() -> tuple[int, int]:
    match = re.fullmatch(r"python-(\d+)\.(\d+)", (BINDER / "runtime.txt").read_text().strip())
    assert match, "binder/runtime.txt must read python-X.Y"
    return int(match[1]), int(match[2])


def _require_repo2docker() -> None:
    if importlib.util.find_spec("repo2docker") is None:
        message = 'jupyter-repo2docker is not installed (it comes with pip install -e ".[test]")'
        if os.environ.get("CI"):
            pytest.fail(message + " and CI is set, so the Binder build check must run", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory) -> Path:
    """The working tree (uncommitted edits included) copied to a temporary folder."""
    copy = tmp_path_factory.mktemp("binder") / "repo"
    shutil.copytree(ROOT, copy, ignore=NOT_COPIED)
    return copy


@pytest.fixture(scope="module")
def dry_run(repo_copy) -> subprocess.CompletedProcess:
    """``jupyter-repo2docker --no-build --debug <copy>``: the Dockerfile on stdout, the log on stderr."""
    _require_repo2docker()
    # An unreachable engine: proves the dry run needs none, even on a machine that has Docker.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    proc = subprocess.run(
        [sys.executable, "-m", "repo2docker", "--no-build", "--debug", str(repo_copy)],
        # repo2docker reads a repo2docker_config.py from its working directory.
        cwd=repo_copy.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FROM " in proc.stdout, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def dockerfile(dry_run) -> list[str]:
    """The Dockerfile's instructions, one string each (continued lines joined, comments dropped)."""
    instructions, current = [], ""
    for line in dry_run.stdout.splitlines():
        line = line.strip()
        if not current and (not line or line.startswith("#")):
            continue
        current += line
        if current.endswith("\\"):
            current = current[:-1]
        else:
            instructions.append(current)
            current = ""
    return instructions


def _index(lines: list[str], instruction: str) -> int:
    assert instruction in lines, f"{instruction!r} is not in the Dockerfile repo2docker generates"
    return lines.index(instruction)


def test_build_sets_up_python_from_runtime_txt(dry_run, dockerfile):
    match = re.search(r"Building conda environment for python=(\d+)\.(\d+)", dry_run.stderr)
    assert match, dry_run.stderr
    version = int(match[1]), int(match[2])
    assert version >= (3, 11)
    assert version == _runtime_version()
    assert "Python version unspecified" not in dry_run.stderr
    # That environment is installed from repo2docker's lock file for that version.
    assert any(line.endswith(" /tmp/env/environment.lock") for line in dockerfile if line.startswith("COPY"))
    assert any("/tmp/install-base-env.bash" in line for line in dockerfile if line.startswith("RUN"))


def test_build_runs_post_build_on_the_copied_repository(dockerfile):
    workdir = _index(dockerfile, "WORKDIR ${REPO_DIR}")
    copies = [i for i, line in enumerate(dockerfile) if re.fullmatch(r"COPY (--chown=\S+ )?src/ \$\{REPO_DIR\}/", line)]
    assert len(copies) == 1, "the repository should be copied into ${REPO_DIR} once"
    copy_repo = copies[0]
    post_build = _index(dockerfile, "RUN ./binder/postBuild")
    # postBuild runs in the repository (where pyproject.toml is), after it is copied in, as the notebook user.
    assert workdir < copy_repo < post_build
    users = [line for line in dockerfile[:post_build] if line.startswith("USER ")]
    assert users[-1] == "USER ${NB_USER}"
    # No second install (requirements.txt, environment.yml, setup.py): postBuild is the only one.
    assert not [line for line in dockerfile if "pip install" in line or "requirements" in line]


def test_build_uses_binder_start_as_the_start_script(dockerfile):
    start = _index(dockerfile, 'ENV R2D_ENTRYPOINT="${REPO_DIR}/binder/start"')
    assert start > _index(dockerfile, "RUN ./binder/postBuild")
    # repo2docker's entrypoint runs $R2D_ENTRYPOINT with the server command as its arguments.
    assert _index(dockerfile, 'ENTRYPOINT ["/usr/local/bin/repo2docker-entrypoint"]') > start


def test_runtime_txt_names_python_3_11_or_newer():
    major, minor = _runtime_version()
    assert (major, minor) >= (3, 11)
    requires_python = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert f"{major}.{minor}" in SpecifierSet(requires_python)


def test_post_build_installs_the_notebooks_extra_and_nothing_else():
    commands = [
        line.strip()
        for line in (BINDER / "postBuild").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#") and line.strip() != "set -euo pipefail"
    ]
    assert commands == [POST_BUILD_INSTALL]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "notebooks" in extras


def test_start_exports_small_mode_and_the_proxied_dashboard_link(repo_copy):
    start = (BINDER / "start").read_text()
    assert re.search(r"^export PLSIM_SMALL=1$", start, flags=re.M)
    # And running it (as repo2docker's entrypoint does: start CMD...) really sets both.
    env = {"PATH": os.environ["PATH"], "JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"}
    out = subprocess.run(
        ["bash", str(repo_copy / "binder" / "start"), sys.executable, "-c",
         "import os; print(os.environ['PLSIM_SMALL']); print(os.environ['DASK_DISTRIBUTED__DASHBOARD__LINK'])"],
        env=env, capture_output=True, text=True, timeout=30, check=True,
    ).stdout.split()
    assert out == ["1", "/user/ada/proxy/{port}/status"]

"""The student edition (docs/make_student_edition.py) holds what students open and nothing only instructors see.

Built from this checkout's HEAD; the branch mode runs in a throw-away clone, so this repository's branches,
index and work tree are never touched.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("make_student_edition", ROOT / "docs" / "make_student_edition.py")
edition = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(edition)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("student") / "edition"
    edition.write(dest, repo=ROOT, ref="HEAD")
    return dest


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_holds_no_instructor_files(built):
    files = _files(built)
    assert not (built / "notebooks" / "assignments" / "source").exists()
    assert not [f for f in files if "/source/" in f or f.startswith("tests/") or "gradebook" in f
                or f.endswith("nbgrader_config.py") or f == "docs/instructors.md"], sorted(files)
    # No solution or hidden-test delimiter anywhere (every text file, every notebook cell), read independently
    # of the script's own check.
    for f in files:
        path = built / f
        if f.endswith(".ipynb"):
            texts = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                     for c in json.loads(path.read_text())["cells"]]
        else:
            try:
                texts = [path.read_text()]
            except UnicodeDecodeError:
                continue
        for text in texts:
            for line in text.splitlines():
                stripped = line.strip()
                assert not stripped.startswith(("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS",
                                                "### END HIDDEN TESTS")), (f, line)
    assert edition.problems(built) == []


def test_holds_what_students_open(built):
    files = _files(built)
    committed = set(_git(ROOT, "ls-tree", "-r", "--name-only", "HEAD").split())
    lessons = {f for f in committed if f.startswith("notebooks/0") and f.endswith(".ipynb")}
    released = {f for f in committed if f.startswith("notebooks/assignments/release/")}
    assert lessons and released and lessons | released <= files
    assert {"pyproject.toml", "binder/postBuild", "binder/start", "binder/runtime.txt", "plsim/__init__.py",
            "notebooks/solutions/bagging_by_hand.py"} <= files
    # The whole library but the grader's checks (they compute the assignments' reference answers).
    assert {f for f in committed if f.startswith("plsim/") and not f.startswith("plsim/grading/")} <= files
    assert not [f for f in files if f.startswith("plsim/grading/")]
    # Everything pyproject.toml installs besides the package, or `pip install .` of the edition fails.
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"].get("data-files", {})
    assert {f for sources in data_files.values() for f in sources} <= files
    readme = (built / "README.md").read_text()
    assert "Student edition" in readme and readme.startswith("# plsim")
    # Nothing students run needs the grader's package, which the edition leaves out.
    for f in files:
        if f.endswith(".ipynb"):
            cells = json.loads((built / f).read_text())["cells"]
            assert not [c for c in cells if "plsim.grading" in "".join(c["source"])], f
    # The release copies are nbgrader's student copies, byte for byte.
    for f in released:
        committed_copy = subprocess.run(["git", "show", f"HEAD:{f}"], cwd=ROOT, check=True, capture_output=True)
        assert (built / f).read_bytes() == committed_copy.stdout


def test_the_check_finds_planted_instructor_material(tmp_path):
    (tmp_path / "notebooks" / "assignments" / "source" / "a1").mkdir(parents=True)
    (tmp_path / "notebooks" / "assignments" / "source" / "a1" / "a1.ipynb").write_text('{"cells": []}')
    (tmp_path / "notebooks" / "assignments" / "gradebook.db").write_bytes(b"SQLite format 3\0")
    (tmp_path / "leak.ipynb").write_text(json.dumps({"cells": [
        {"cell_type": "code", "source": ["x = 1\n", "### BEGIN HIDDEN TESTS\n", "assert x == 1\n"], "outputs": []}]}))
    (tmp_path / "notes.py").write_text("def f():\n    ### BEGIN SOLUTION\n    return 1\n")
    (tmp_path / "fine.py").write_text('DELIMITER = "### BEGIN SOLUTION"  # naming the delimiter is not a solution\n')
    found = "\n".join(edition.problems(tmp_path))
    for bad in ("notebooks/assignments/source", "gradebook.db", "leak.ipynb cell 0", "notes.py"):
        assert bad in found, found
    assert "fine.py" not in found


def test_select_never_takes_sources_or_grading_files():
    paths = ["README.md", "plsim/__init__.py", "notebooks/00_start_here.ipynb",
             "notebooks/assignments/source/a1/a1_speedup_ensembles.ipynb",
             "notebooks/assignments/release/a1/a1_speedup_ensembles.ipynb",
             "notebooks/assignments/nbgrader_config.py", "notebooks/assignments/gradebook.db",
             "notebooks/assignments/submitted/s1/a1/a1_speedup_ensembles.ipynb", "tests/test_x.py",
             "docs/instructors.md", "plsim/grading/a1_checks.py", "notebooks/solutions/waves.py"]
    assert edition.select(paths) == ["README.md", "plsim/__init__.py", "notebooks/00_start_here.ipynb",
                                     "notebooks/assignments/release/a1/a1_speedup_ensembles.ipynb",
                                     "notebooks/solutions/waves.py"]
    assert "notebooks/solutions/waves.py" not in edition.select(paths, lesson_solutions=False)


def test_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        edition.write(tmp_path, repo=ROOT)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_branch_gets_one_commit_per_change_and_leaves_the_checkout_alone(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    head, status = _git(clone, "rev-parse", "HEAD"), _git(clone, "status", "--porcelain")
    first = edition.commit_to_branch("student", repo=clone)
    assert first and _git(clone, "rev-parse", "refs/heads/student").strip() == first
    tree = set(_git(clone, "ls-tree", "-r", "--name-only", "student").split())
    assert "notebooks/assignments/release/a1/a1_speedup_ensembles.ipynb" in tree
    assert not [f for f in tree if "/source/" in f or f.startswith("tests/")]
    # Its history shares nothing with main's (which holds the sources), and the checkout is as it was.
    assert _git(clone, "rev-list", "student").split() == [first]
    assert _git(clone, "rev-parse", "HEAD") == head and _git(clone, "status", "--porcelain") == status
    assert edition.commit_to_branch("student", repo=clone) is None            # nothing changed: no commit
    # A change on main: one new commit on top of the branch (never a rewrite, so nbgitpuller keeps pulling).
    (clone / "notebooks" / "solutions" / "waves.py").write_text("# changed\n")
    _git(clone, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", "change")
    second = edition.commit_to_branch("student", repo=clone)
    assert _git(clone, "rev-list", "student").split() == [second, first]
    assert _git(clone, "show", "student:notebooks/solutions/waves.py") == "# changed\n"


def test_command_line_and_workflow(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "docs" / "make_student_edition.py"), str(tmp_path / "e")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "e" / "notebooks" / "00_start_here.ipynb").is_file()
    workflow = (ROOT / ".github" / "workflows" / "student-edition.yml").read_text()
    assert "python docs/make_student_edition.py --branch student" in workflow
    assert "git push origin student" in workflow and "--force" not in workflow


def test_the_library_works_without_the_grader(built):
    # Run from inside the edition, so its plsim/ (without plsim/grading/) is the one imported.
    code = ("import plsim, plsim.cli, plsim.exercises, plsim.ensembles, plsim.federated, plsim.training; "
            "assert plsim.__file__.startswith(%r), plsim.__file__; "
            "import sys; assert 'plsim.grading' not in sys.modules" % str(built))
    run = subprocess.run([sys.executable, "-c", code], cwd=built, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    run = subprocess.run([sys.executable, "-m", "plsim", "--help"], cwd=built, capture_output=True, text=True)
    assert run.returncode == 0 and "assign" in run.stdout, run.stderr


def test_readme_launch_links_open_the_student_edition():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Launch on Binder or a JupyterHub", 1)[1].split("\n## ", 1)[0]
    links = [line for line in section.splitlines() if "mybinder.org/v2" in line or "git-pull?" in line]
    assert len(links) == 3, links
    for line in links:
        assert "/student?" in line or "&branch=student" in line, line
        assert "/HEAD?" not in line and "branch=main" not in line, line

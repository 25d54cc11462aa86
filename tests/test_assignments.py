"""The assignments are an nbgrader course (notebooks/assignments): layout, cell metadata, student copies.

Grading itself (nbgrader autograde on real submissions, sandboxed, forgeries included) is tested in
tests/test_nbgrader_grading.py; plsim.grading's parts in tests/test_grading_*.py.
These checks read the notebooks only and take a second, except the one that regenerates the student copies.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "notebooks" / "assignments"
NOTEBOOKS = {"a1": "a1_speedup_ensembles", "a2": "a2_federated_learning", "a3": "a3_distributed_training"}
AUTO_POINTS = 13  # automatically graded points of each assignment (plus 2 written, graded by hand)
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
# The plsim function each question asks for: a test may not simply call it (the answer would be one line).
ANSWER_IN_PLSIM = {
    "a1": ["karp_flatt("],
    "a2": ["weighted_average(", "label_distribution("],
    "a3": ["comm_time(", "comm_bytes(", "topk_compress(", "comm.ErrorFeedback(", "decompress("],
}


def _nb(a: str, folder: str = "source") -> nbformat.NotebookNode:
    return nbformat.read(COURSE / folder / a / f"{NOTEBOOKS[a]}.ipynb", as_version=4)


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def test_course_layout():
    assert (COURSE / "nbgrader_config.py").is_file()
    assert sorted(p.name for p in (COURSE / "source").iterdir()) == sorted(NOTEBOOKS)
    for a, name in NOTEBOOKS.items():
        assert sorted(p.name for p in (COURSE / "source" / a).iterdir()) == [f"{name}.ipynb"]
        assert (COURSE / "release" / a / f"{name}.ipynb").is_file()
    ignored = (COURSE / ".gitignore").read_text()
    for made_at_grading_time in ("/submitted/", "/autograded/", "/feedback/", "/gradebook.db"):
        assert made_at_grading_time in ignored


@pytest.mark.parametrize("a", NOTEBOOKS)
def test_nbgrader_metadata(a):
    nb = _nb(a)
    nbformat.validate(nb)
    ids = [_meta(c)["grade_id"] for c in nb.cells if _meta(c)]
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    for c in nb.cells:
        m = _meta(c)
        if not m:
            continue
        assert set(m) >= {"grade", "solution", "locked", "grade_id", "schema_version"}, m
        assert m["schema_version"] == 3
        if m["grade"]:
            assert m["points"] > 0
        if m["solution"]:
            assert not m["locked"]
    tests = [c for c in nb.cells if _meta(c).get("grade") and not _meta(c)["solution"]]
    written = [c for c in nb.cells if _meta(c).get("grade") and _meta(c)["solution"]]
    assert sum(_meta(c)["points"] for c in tests) == AUTO_POINTS
    assert len(written) >= 1 and all(c.cell_type == "markdown" for c in written)
    # Several test cells per question, for partial credit (Q5 is the Dask question, Q6 the written one).
    per_question = {}
    for c in tests:
        q = re.match(r"# Tests for (Q\d+)", c.source).group(1)
        per_question[q] = per_question.get(q, 0) + 1
    assert len(per_question) == 5 and all(n >= 2 for n in per_question.values()), per_question
    assert nb.cells[1].source.count("plsim") and _meta(nb.cells[1]).get("locked")  # the setup cell is locked


@pytest.mark.parametrize("a", NOTEBOOKS)
def test_hidden_tests_check_behaviour(a):
    nb = _nb(a)
    tests = [c.source for c in nb.cells if _meta(c).get("grade") and c.cell_type == "code"]
    assert sum("### BEGIN HIDDEN TESTS" in t for t in tests) >= 7
    for text in tests:
        for call in ANSWER_IN_PLSIM[a]:
            assert call not in text, f"a test calls {call}...), the plsim function that is the answer"
    setup = nb.cells[1].source
    for call in ANSWER_IN_PLSIM[a]:
        assert call.rstrip("(") not in setup


@pytest.mark.parametrize("a", NOTEBOOKS)
def test_every_graded_cell_is_decided_by_a_grader_side_check(a):
    """No graded code cell scores by the absence of an error: its hidden part sends its own grade id's answers
    (plsim.grading.send) and a check of that grade id is registered for the grader; nothing hidden asserts."""
    from plsim.grading.checks import load_checks

    checks = load_checks(a)
    graded = [c for c in _nb(a).cells if _meta(c).get("grade") and c.cell_type == "code"]
    assert graded
    for c in graded:
        gid = _meta(c)["grade_id"]
        hidden = HIDDEN.findall(c.source)
        assert len(hidden) == 1, f"{gid}: one hidden region"
        assert re.search(rf"""send\(["']{re.escape(gid)}["']""", hidden[0]), f"{gid} does not send its own answers"
        assert not re.search(r"^\s*assert\b", hidden[0], re.M), f"{gid}: a hidden assert runs in the student's kernel"
        assert gid in checks, f"no grader-side check registered for {a} {gid}"
    assert set(checks) == {_meta(c)["grade_id"] for c in graded}, "a check for a cell the notebook does not have"


@pytest.mark.parametrize("a", NOTEBOOKS)
def test_student_copy_does_not_import_the_grader(a):
    """The student edition ships without plsim.grading: a student copy must not need it."""
    assert "plsim.grading" not in (COURSE / "release" / a / f"{NOTEBOOKS[a]}.ipynb").read_text()


@pytest.mark.parametrize("a", NOTEBOOKS)
def test_cluster_started_and_closed_through_plsim(a):
    code = "\n".join(c.source for c in _nb(a).cells if c.cell_type == "code")
    if "start_cluster" in code:
        assert code.count("plsim.start_cluster()") == 1 and code.rstrip().endswith("plsim.close_cluster()")
    assert "LocalCluster" not in code and "Client(" not in code


@pytest.mark.parametrize("a", NOTEBOOKS)
def test_stored_without_outputs(a):
    for folder in ("source", "release"):
        for c in _nb(a, folder).cells:
            if c.cell_type == "code":
                assert c.outputs == [] and c.execution_count is None


@pytest.mark.parametrize("a", NOTEBOOKS)
def test_student_copy_hides_solutions_and_hidden_tests(a):
    text = (COURSE / "release" / a / f"{NOTEBOOKS[a]}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "Model answer"):
        assert marker not in text
    nb = _nb(a, "release")
    stubs = [c for c in nb.cells if _meta(c).get("solution")]
    assert stubs and all("NotImplementedError" in c.source or "YOUR ANSWER HERE" in c.source for c in stubs)
    assert all(_meta(c).get("checksum") for c in nb.cells if _meta(c).get("grade") or _meta(c).get("locked"))


@pytest.mark.slow
def test_committed_student_copies_are_what_nbgrader_generates(generated_course):
    """Edit source/, then run `nbgrader generate_assignment A --force` (or `plsim assign release`)."""
    course, stderr = generated_course  # generated once per session (tests/conftest.py), graded from too
    for a in NOTEBOOKS:
        assert "not recognized" not in stderr[a], stderr[a]  # no unknown options in nbgrader_config.py
        fresh = (course / "release" / a / f"{NOTEBOOKS[a]}.ipynb").read_text()
        committed = (COURSE / "release" / a / f"{NOTEBOOKS[a]}.ipynb").read_text()
        assert fresh == committed, f"release/{a} is stale: run `plsim assign release {a}`"


def test_plsim_assign_help_names_nbgrader():
    from plsim.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["assign", "--help"])
    assert exc.value.code == 0


def test_plsim_assign_course_folder_checked(tmp_path):
    from plsim.cli import assign

    assert assign.course_dir(COURSE) == COURSE.resolve()
    with pytest.raises(ValueError, match="nbgrader_config.py"):
        assign.course_dir(tmp_path)
    with pytest.raises(ValueError, match="jobs"):
        assign.autograde(COURSE, "a2", [], jobs=0)


def test_nbgrader_subprocesses_find_this_interpreters_commands():
    """`.venv/bin/plsim assign release` without an activated environment: nbgrader runs `alembic` by name."""
    from plsim.cli import assign

    env = assign.interpreter_env({"PATH": "/usr/bin:/bin"})
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert env["PATH"].endswith("/usr/bin:/bin")
    assert assign.interpreter_env({"PATH": env["PATH"]})["PATH"] == env["PATH"]  # not added twice


def test_add_students_when_another_grader_adds_the_same_student_first(tmp_path, monkeypatch):
    """Two graders at once (``plsim assign grade a1`` and ``… a3``) both add student 'solution': the one whose
    insert loses on the unique id must find the student there instead of failing (CI failed on this race)."""
    from nbgrader.api import Gradebook, MissingEntry

    from plsim.cli import assign

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_student("early")
    real_find = Gradebook.find_student
    raced = []

    def find_then_lose_the_race(self, student_id):
        # The other grader's insert lands between this look-up and this grader's own insert.
        if student_id == "solution" and not raced:
            raced.append(student_id)
            with Gradebook(url) as other:
                other.add_student(student_id)
            raise MissingEntry(f"No such student: {student_id}")
        return real_find(self, student_id)

    monkeypatch.setattr(Gradebook, "find_student", find_then_lose_the_race)
    assign.add_students(tmp_path, ["early", "solution", "late"])
    assert raced == ["solution"]
    with Gradebook(url) as gb:
        assert sorted(s.id for s in gb.students) == ["early", "late", "solution"]

"""Grading with nbgrader holds up: submissions built from the course's own notebooks, graded end to end.

A copy of the course folder (``notebooks/assignments``) in ``tmp_path`` runs nbgrader's real commands
(``generate_assignment``, ``autograde``, ``generate_feedback``) and the scores are read from nbgrader's
gradebook (:class:`nbgrader.api.Gradebook`). A class of ten A2 submissions covers the ways grading goes wrong
(untouched copy, edited tests, an endless loop, exception hooks silenced, a deleted test cell, a corrupt file,
partial answers); A1 and A3, which start a Dask cluster, are graded once each from their solutions.
"""

from __future__ import annotations

import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import psutil
import pytest

pytest.importorskip("nbgrader", reason="nbgrader is in the instructor extra: pip install -e '.[instructor]'")

from nbgrader.api import Gradebook  # noqa: E402

from plsim import assign  # noqa: E402

pytestmark = pytest.mark.slow

COURSE = Path(__file__).resolve().parent.parent / "notebooks" / "assignments"
NOTEBOOKS = {"a1": "a1_speedup_ensembles", "a2": "a2_federated_learning", "a3": "a3_distributed_training"}
AUTO_POINTS = 10  # automatically graded points of every assignment (plus 2 written, graded by hand)
HANG_TIMEOUT = 20  # seconds a cell may run while the class is graded (the solution's slowest A2 cell: ~2 s)
DELIMITER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


# -- building a course folder and submissions ----------------------------------------------------------

def _course(tmp_path: Path, *assignments: str) -> Path:
    """A copy of the course folder with fresh student copies of ``assignments`` (nbgrader generate_assignment)."""
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", course)
    for name in assignments:
        shutil.copytree(COURSE / "source" / name, course / "source" / name)
        assign.nbgrader(course, "generate_assignment", name, "--force", capture=True)
    return course


def _release(course: Path, a: str) -> nbformat.NotebookNode:
    return nbformat.read(course / "release" / a / f"{NOTEBOOKS[a]}.ipynb", as_version=4)


def _solutions(course: Path, a: str) -> dict[str, str]:
    """grade_id -> the solution copy's answer, delimiters removed (what a student who got it right writes)."""
    nb = nbformat.read(course / "source" / a / f"{NOTEBOOKS[a]}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: "\n".join(line for line in c.source.splitlines()
                                                       if not DELIMITER.match(line))
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}


def _cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _answer(nb, solutions, only=None, skip=()):
    """Fill the student copy's answer cells from the solutions (all, or ``only`` those), except ``skip``."""
    for gid, text in solutions.items():
        if (only is None or gid in only) and gid not in skip:
            _cell(nb, gid).source = text
    return nb


def _submit(course: Path, student: str, a: str, nb_or_text) -> None:
    folder = course / "submitted" / student / a
    folder.mkdir(parents=True)
    path = folder / f"{NOTEBOOKS[a]}.ipynb"
    path.write_text(nb_or_text if isinstance(nb_or_text, str) else nbformat.writes(nb_or_text))


def _grades(course: Path, a: str, student: str) -> dict[str, float]:
    """grade_id -> score of every graded cell of one submission (manually graded cells: None)."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(NOTEBOOKS[a], a, student)
        return {g.name: g.score if not g.needs_manual_grade else None for g in nb.grades}


def _auto_score(grades: dict[str, float | None]) -> float:
    return sum(v for v in grades.values() if v is not None)


def _feedback(course: Path, a: str, student: str) -> str:
    return (course / "feedback" / student / a / f"{NOTEBOOKS[a]}.html").read_text()


def _processes_in(folder: Path) -> list[psutil.Process]:
    """Processes (kernels, Dask schedulers and workers) still running in ``folder``."""
    left = []
    for proc in psutil.process_iter(["cwd", "cmdline"]):
        try:
            if proc.info["cwd"] and Path(proc.info["cwd"]).is_relative_to(folder):
                left.append(proc)
        except (psutil.Error, ValueError):
            continue
    return left


# -- A2: a class of ten -------------------------------------------------------------------------------

SILENCE_TRACEBACKS = "get_ipython().showtraceback = lambda *args, **kwargs: None\nimport sys\n" \
                     "sys.excepthook = lambda *args: None\n"
SILENCE_CUSTOM_EXC = "get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)\n"
# Weighted right, but zip() silently drops the extra vectors instead of raising ValueError.
NO_CHECK = "def fedavg(vectors, n_samples):\n" \
           "    return sum(n * np.asarray(v) for n, v in zip(n_samples, vectors)) / sum(n_samples)\n"
ENDLESS = "while True:  # meant to wait for something\n    pass\n"


def _a2_class(course: Path) -> dict[str, object]:
    """Ten submissions of A2, by student id."""
    sol = _solutions(course, "a2")
    written = {"q5-written": "Shard clients see only two labels, so their updates point elsewhere."}
    subs = {}
    subs["s01-solution"] = _answer(_release(course, "a2"), {**sol, **written})
    subs["s02-untouched"] = _release(course, "a2")
    # Every test cell replaced by `pass`, no answers: nbgrader puts the instructor's tests back.
    nb = _release(course, "a2")
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade"):
            c.source = "pass"
    subs["s03-edited-tests"] = nb
    # Everything right but Q4, whose answer cell never finishes.
    subs["s04-endless-loop"] = _answer(_release(course, "a2"), {**sol, "q4-answer": ENDLESS + sol["q4-answer"]})
    # No answers, and the kernel told not to report exceptions (two ways).
    nb = _release(course, "a2")
    nb.cells.insert(1, nbformat.v4.new_code_cell(SILENCE_TRACEBACKS))
    subs["s05-silenced-showtraceback"] = nb
    nb = _release(course, "a2")
    _cell(nb, "q1-answer").source = SILENCE_CUSTOM_EXC + _cell(nb, "q1-answer").source
    subs["s06-silenced-custom-exc"] = nb
    # Everything right, but the Q2 ledger test cell deleted.
    nb = _answer(_release(course, "a2"), sol)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "q2-ledger"]
    subs["s07-deleted-test"] = nb
    subs["s08-corrupt"] = '{"cells": [ this is not a notebook'
    # FedAvg without its input check (2 of Q1's 3 points), the rest right.
    subs["s09-partial"] = _answer(_release(course, "a2"), {**sol, "q1-answer": NO_CHECK})
    # Q1 and Q2 answered, Q3 and Q4 not.
    subs["s10-half-done"] = _answer(_release(course, "a2"), sol, only={"q1-answer", "q2-answer"})
    return subs


# What each A2 submission must score, question by question (Q1..Q4: 3, 3, 2, 2 points).
EXPECTED_A2 = {
    "s01-solution": 10,
    "s02-untouched": 0,
    "s03-edited-tests": 0,
    "s04-endless-loop": 8,
    "s05-silenced-showtraceback": 0,
    "s06-silenced-custom-exc": 0,
    "s07-deleted-test": 9,
    "s09-partial": 9,
    "s10-half-done": 6,
}


@pytest.fixture(scope="module")
def graded_a2(tmp_path_factory):
    """The class of ten, graded by nbgrader (2 submissions at a time), with feedback generated."""
    tmp = tmp_path_factory.mktemp("a2")
    course = _course(tmp, "a2")
    for student, sub in _a2_class(course).items():
        _submit(course, student, "a2", sub)
    start = time.perf_counter()
    status = assign.autograde(course, "a2", jobs=2, timeout=HANG_TIMEOUT)
    seconds = time.perf_counter() - start
    feedback = assign.nbgrader(course, "generate_feedback", "a2", "--force", check=False, capture=True)
    print(f"\nnbgrader autograde: {len(status)} A2 submissions in {seconds:.0f} s (2 at a time)")
    return course, status, seconds, feedback


def test_class_of_ten_scores(graded_a2):
    course, status, seconds, feedback = graded_a2
    assert len(status) == 10
    got = {s: _auto_score(_grades(course, "a2", s)) for s in EXPECTED_A2}
    assert got == pytest.approx(EXPECTED_A2), got
    assert status["s01-solution"] == 0 and feedback.returncode == 0, feedback.stderr[-2000:]


def test_solution_full_marks_and_written_answer_left_for_a_person(graded_a2):
    course = graded_a2[0]
    grades = _grades(course, "a2", "s01-solution")
    assert _auto_score(grades) == AUTO_POINTS
    assert grades["q5-written"] is None  # needs manual grading: nbgrader's formgrader
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission("a2", "s01-solution")
        assert sub.needs_manual_grade and sub.max_score == AUTO_POINTS + 2


def test_untouched_copy_feedback_names_every_missing_answer(graded_a2):
    course = graded_a2[0]
    grades = _grades(course, "a2", "s02-untouched")
    assert all(v == 0 for k, v in grades.items() if k != "q5-written"), grades
    html = _feedback(course, "a2", "s02-untouched")
    for q in ("Q1", "Q2", "Q3", "Q4"):
        assert f"Tests for {q}" in html
    # Each answer cell's feedback shows the stub's NotImplementedError.
    assert html.count("NotImplementedError") >= 4


def test_edited_tests_are_restored(graded_a2):
    course = graded_a2[0]
    autograded = nbformat.read(course / "autograded" / "s03-edited-tests" / "a2" / "a2_federated_learning.ipynb",
                               as_version=4)
    released = _release(course, "a2")
    for c in released.cells:
        if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code":
            restored = _cell(autograded, c.metadata.nbgrader["grade_id"]).source
            assert restored != "pass" and c.source.splitlines()[0] in restored


def test_endless_loop_loses_only_its_question(graded_a2):
    course = graded_a2[0]
    grades = _grades(course, "a2", "s04-endless-loop")
    assert grades["q4-by-hand"] == 0 and grades["q4-properties"] == 0
    assert all(v == 1 for k, v in grades.items() if not k.startswith(("q4", "q5"))), grades
    assert "CellTimeoutError" in _feedback(course, "a2", "s04-endless-loop")


@pytest.mark.parametrize("student", ["s05-silenced-showtraceback", "s06-silenced-custom-exc"])
def test_silenced_exceptions_still_count_as_errors(graded_a2, student):
    course = graded_a2[0]
    assert _auto_score(_grades(course, "a2", student)) == 0


def test_deleted_test_cell_scores_zero_for_it(graded_a2):
    course = graded_a2[0]
    assert _auto_score(_grades(course, "a2", "s07-deleted-test")) == AUTO_POINTS - 1
    # nbgrader scores the missing cell 0 and flags the submission for a person to look at.
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grade = gb.find_grade("q2-ledger", "a2_federated_learning", "a2", "s07-deleted-test")
        assert grade.score == 0 and grade.needs_manual_grade


def test_corrupt_notebook_reported_and_the_others_graded(graded_a2):
    course, status = graded_a2[:2]
    assert status["s08-corrupt"] != 0
    assert all(code == 0 for s, code in status.items() if s != "s08-corrupt"), status
    assert not (course / "feedback" / "s08-corrupt" / "a2" / "a2_federated_learning.html").exists()


def test_partial_credit_within_a_question(graded_a2):
    grades = _grades(graded_a2[0], "a2", "s09-partial")
    assert (grades["q1-by-hand"], grades["q1-properties"], grades["q1-errors"]) == (1, 1, 0)


def test_nothing_left_running(graded_a2):
    course = graded_a2[0]
    left = _processes_in(course)
    assert not left, [(p.pid, p.info["cmdline"]) for p in left]


# -- A1 and A3 (a Dask cluster inside the kernel): the solution earns every automatic point -------------

@pytest.fixture(scope="module")
def graded_a1_a3(tmp_path_factory):
    """The A1 and A3 solutions, graded at the same time (two nbgrader processes, each kernel with a cluster)."""
    course = _course(tmp_path_factory.mktemp("a1a3"), "a1", "a3")
    for a in ("a1", "a3"):
        _submit(course, "solution", a, _answer(_release(course, a), _solutions(course, a)))
    with ThreadPoolExecutor(max_workers=2) as pool:
        status = dict(zip(("a1", "a3"), pool.map(lambda a: assign.autograde(course, a, ["solution"]), ("a1", "a3"))))
    return course, status


@pytest.mark.parametrize("a", ["a1", "a3"])
def test_solution_full_marks_with_a_cluster(graded_a1_a3, a):
    course, status = graded_a1_a3
    assert status[a] == {"solution": 0}
    grades = _grades(course, a, "solution")
    assert _auto_score(grades) == AUTO_POINTS, grades
    assert [k for k, v in grades.items() if v is None] == ["q5-written"]
    left = _processes_in(course)
    assert not left, [(p.pid, p.info["cmdline"]) for p in left]


def test_plsim_assign_grade_prints_the_gradebook(graded_a2, capsys, monkeypatch):
    """``plsim assign grade`` is a thin layer: nbgrader grades (done above), it prints what nbgrader stored."""
    from plsim.cli import main

    course, status = graded_a2[:2]
    monkeypatch.setattr(assign, "autograde", lambda *args, **kwargs: status)  # already graded by the fixture
    assert main(["assign", "--course", str(course), "grade", "a2"]) == 1  # the corrupt notebook failed
    out = capsys.readouterr().out
    assert "graded 10 submission(s) of a2" in out
    assert re.search(r"s01-solution\s+10.0 / 12\s+\+ written answers to grade by hand", out), out
    assert re.search(r"s02-untouched\s+0.0 / 12", out), out

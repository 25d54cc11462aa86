"""Grading holds up against a hostile class: submissions built from the course's own notebooks, graded end to end.

A copy of the course folder (``notebooks/assignments``) in ``tmp_path`` runs nbgrader's real pipeline as the course
configures it (``generate_assignment``; ``autograde`` through ``plsim assign grade``'s forked graders, sandboxed by
``plsim.grading``; ``generate_feedback``) and scores are read from nbgrader's gradebook. A class of A2 submissions
covers the honest ones (solution, untouched, partial answers, a deleted test cell, a corrupt file) and every forgery
of issue 21 (the kernel lying about errors, monkeypatched comparisons and asserts, forged answer messages, the
grader's references imported, solutions read from ``source/``, writes outside, a detached process after the
gradebook, a loop that ignores SIGINT in an answer and inside a function); A1 and A3 (a Dask cluster started by the
grader) are graded from their solutions, the untouched copies and one submission that carries two representative
forgeries at once (the reply patch, then the escape: either one forging a point would score it).
The student copies are nbgrader's, generated once per session (``generated_course`` in tests/conftest.py). The Dask questions'
own forgeries (plsim's implementation, kernel work plus dummy tasks) are judged in tests/test_grading_dask_questions.py.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

pytest.importorskip("nbgrader", reason="nbgrader is in the instructor extra: pip install -e '.[instructor]'")

from nbgrader.api import Gradebook  # noqa: E402

from plsim.cli import assign  # noqa: E402
from plsim.grading.sandbox import can_switch_user, processes_of  # noqa: E402

pytestmark = pytest.mark.slow

COURSE = Path(__file__).resolve().parent.parent / "notebooks" / "assignments"
NOTEBOOKS = {"a1": "a1_speedup_ensembles", "a2": "a2_federated_learning", "a3": "a3_distributed_training"}
AUTO_POINTS = 13  # automatically graded points of every assignment (plus 2 written, graded by hand)
QUESTION_POINTS = {"a2": {"q1": 3, "q2": 3, "q3": 2, "q4": 2, "q5": 3}}
HANG_TIMEOUT = 25  # seconds a cell may run while the class is graded (the solutions' slowest cell: ~3 s alone;
# the suite runs on two processes, and the Binder-profile runs can load both CPUs meanwhile)
DELIMITER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


# -- building a course folder and submissions ----------------------------------------------------------

def _course(tmp_path: Path, generated: tuple[Path, dict[str, str]], *assignments: str) -> Path:
    """A copy of the course folder with fresh student copies of ``assignments``: those nbgrader's
    generate_assignment made once for the session (``generated_course`` in tests/conftest.py), with its gradebook."""
    made, stderr = generated
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(made / "nbgrader_config.py", course)
    shutil.copy(made / "gradebook.db", course)
    for name in assignments:
        assert "not recognized" not in stderr[name], stderr[name]
        for folder in ("source", "release"):
            shutil.copytree(made / folder / name, course / folder / name)
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


def _first(nb: nbformat.NotebookNode, code: str) -> nbformat.NotebookNode:
    """A cell of the submission's own, run before everything else (after the locked setup cell)."""
    nb.cells.insert(2, nbformat.v4.new_code_cell(code))
    return nb


def _submit(course: Path, student: str, a: str, nb_or_text) -> None:
    folder = course / "submitted" / student / a
    folder.mkdir(parents=True)
    path = folder / f"{NOTEBOOKS[a]}.ipynb"
    path.write_text(nb_or_text if isinstance(nb_or_text, str) else nbformat.writes(nb_or_text))


def _grades(course: Path, a: str, student: str) -> dict[str, float | None]:
    """grade_id -> score of every graded cell of one submission (manually graded cells: None)."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(NOTEBOOKS[a], a, student)
        return {g.name: g.score if not g.needs_manual_grade else None for g in nb.grades}


def _auto_score(grades: dict[str, float | None]) -> float:
    return sum(v for v in grades.values() if v is not None)


def _by_question(grades: dict[str, float | None]) -> dict[str, float]:
    out: dict[str, float] = {}
    for gid, score in grades.items():
        q = gid.split("-")[0]
        out[q] = out.get(q, 0.0) + (score or 0.0)
    return out


def _feedback(course: Path, a: str, student: str) -> str:
    return (course / "feedback" / student / a / f"{NOTEBOOKS[a]}.html").read_text()


def _sandbox_uids(course: Path, a: str, student: str) -> list[int]:
    """The sandbox user ids a submission ran as, from its grading log."""
    log = assign.log_path(course, a, student).read_text()
    return [int(u) for u in re.findall(r"(?:kernel|cluster) uid (\d+)", log)]


def _tree(course: Path) -> dict[str, str]:
    """Hash of every file of the course folder nbgrader does not write while grading."""
    out = {}
    for path in sorted(course.rglob("*")):
        rel = path.relative_to(course)
        if path.is_file() and rel.parts[0] not in ("autograded", "feedback", "logs") and \
                not rel.name.startswith(("gradebook.db", ".nbgrader")):
            out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


# -- the forgeries (code a submission runs in its own kernel) ------------------------------------------

# The trick that got 10/10 before: no answer raises as far as the kernel tells anyone.
REPLY_PATCH = ("ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n"
               "ip.events.register('post_run_cell', lambda r: (setattr(r, 'error_in_exec', None), "
               "setattr(r, 'error_before_exec', None)))\n")
EXCEPTION_HOOKS = ("import sys\nsys.excepthook = lambda *args: None\n"
                   "get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)\n")
# Every comparison the tests could make says "equal", every assert line is dropped before it runs, and the
# answers are wrong (they return zeros).
LYING_LIBRARIES = """\
import builtins, math
import numpy as np
np.allclose = np.array_equal = lambda *a, **k: True
np.isclose = lambda a, b, *args, **kwargs: np.ones_like(np.asarray(a), dtype=bool)
math.isclose = lambda *a, **k: True
get_ipython().input_transformers_post.append(
    lambda lines: [line for line in lines if not line.lstrip().startswith("assert")])
builtins.AssertionError = type("AssertionError", (Exception,), {})
"""
WRONG_A2 = {
    "q1-answer": "def fedavg(vectors, n_samples):\n    return np.zeros_like(np.asarray(vectors[0], dtype=float))\n",
    "q2-answer": "def round_bytes(n_params, n_selected):\n    return {'down': 0, 'up': 0, 'total': 0}\n",
    "q3-answer": "def labels_per_client(y, parts):\n    return [0 for _ in parts]\n",
    "q4-answer": "def client_drift(deltas, n_samples):\n    return 0.0\n",
    "q5-answer": "def fedavg_round_on_cluster(client, model, w, parties, client_fraction, round_index, random_state):\n"
                 "    return w\n",
}
# Answer messages for every graded cell, sent before any test runs, with the visible examples' values.
FORGED_MESSAGES = """\
from IPython.display import display
for gid in ["q1-by-hand", "q1-properties", "q1-errors", "q2-by-hand", "q2-scaling", "q2-ledger", "q3-by-hand",
            "q3-iid-versus-shards", "q4-by-hand", "q4-properties", "q5-updates", "q5-weighted",
            "q5-clients-at-once"]:
    display({"application/vnd.plsim.grading.v1+json": {"grade_id": gid, "answers": [1.0] * 20},
             "text/plain": "forged"}, raw=True)
"""
# The grader's own reference, imported instead of answering (Q4: nothing later uses client_drift).
IMPORT_REFERENCE = "from plsim.grading.a2_checks import _drift as client_drift\n"
# FedAvg as the plain mean of the vectors (the weights ignored), with its input check: partial credit.
UNWEIGHTED = ("def fedavg(vectors, n_samples):\n    if len(vectors) != len(n_samples):\n"
              "        raise ValueError('one count per vector')\n"
              "    return np.mean(np.asarray(vectors, dtype=float), axis=0)\n")
SIGINT_LOOP = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"
LOOP_INSIDE = ("import signal\n\n\ndef client_drift(deltas, n_samples):\n"
               "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n        pass\n")


def _escape(course: Path, a: str, heartbeat: Path) -> str:
    """Read the solutions from source/ (relative, absolute, from plsim's checkout), write outside, and leave
    detached processes (one new session, one double fork) that keep going after grading, after the gradebook."""
    notebook = f"{NOTEBOOKS[a]}.ipynb"
    return f"""\
import glob, json, os, re, subprocess, sys
import plsim
candidates = [f"../../../source/{a}/{notebook}", "{course}/source/{a}/{notebook}",
              os.path.join(os.path.dirname(plsim.__file__), "..", "notebooks/assignments/source/{a}/{notebook}")]
candidates += glob.glob("/tmp/**/source/{a}/{notebook}", recursive=True)
for path in candidates:
    try:
        nb = json.load(open(path))
    except Exception:
        continue
    for cell in nb["cells"]:
        if cell.get("metadata", {{}}).get("nbgrader", {{}}).get("solution") and cell["cell_type"] == "code":
            exec(re.sub(r"### (BEGIN|END) SOLUTION", "", "".join(cell["source"])), globals())
for target in ["{course}/forged.txt", "../../../forged.txt", "{course}/source/{a}/{notebook}",
               "{course}/gradebook.db"]:
    try:
        with open(target, "a") as file:
            file.write("forged")
    except Exception:
        pass
DAEMON = '''
import os, sqlite3, time
while True:
    try:
        open({str(heartbeat)!r}, "w").write(str(time.time()))
        con = sqlite3.connect({str(course / "gradebook.db")!r})
        con.execute("update grade set auto_score = 99")
        con.commit()
    except Exception:
        pass
    time.sleep(0.2)
'''
subprocess.Popen([sys.executable, "-c", DAEMON], start_new_session=True, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", DAEMON])
    os._exit(0)
"""


# -- A2: the class -------------------------------------------------------------------------------------

def _a2_class(course: Path, heartbeat: Path) -> dict[str, object]:
    sol = _solutions(course, "a2")
    written = {"q6-written": "Shard clients see only two labels, so their updates point elsewhere."}
    subs = {}
    subs["s01-solution"] = _answer(_release(course, "a2"), {**sol, **written})
    subs["s02-untouched"] = _release(course, "a2")
    nb = _release(course, "a2")  # every test cell replaced by `pass`, no answers
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade"):
            c.source = "pass"
    subs["s03-edited-tests"] = nb
    subs["s04-sigint-loop-answer"] = _answer(_release(course, "a2"),
                                             {**sol, "q4-answer": SIGINT_LOOP + sol["q4-answer"]})
    subs["s05-reply-patch"] = _first(_release(course, "a2"), REPLY_PATCH)
    subs["s06-exception-hooks"] = _first(_release(course, "a2"), EXCEPTION_HOOKS)
    subs["s07-lying-libraries"] = _first(_answer(_release(course, "a2"), WRONG_A2), LYING_LIBRARIES)
    subs["s08-forged-messages"] = _first(_release(course, "a2"), FORGED_MESSAGES)
    subs["s09-imported-reference"] = _answer(_release(course, "a2"), {**sol, "q4-answer": IMPORT_REFERENCE})
    subs["s10-escape"] = _first(_release(course, "a2"), _escape(course, "a2", heartbeat))
    subs["s11-loop-inside-function"] = _answer(_release(course, "a2"), {**sol, "q4-answer": LOOP_INSIDE})
    nb = _answer(_release(course, "a2"), sol)  # everything right, the Q2 ledger test cell deleted
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "q2-ledger"]
    subs["s12-deleted-test"] = nb
    subs["s13-corrupt"] = '{"cells": [ this is not a notebook'
    subs["s14-half-done"] = _answer(_release(course, "a2"), sol, only={"q1-answer", "q2-answer"})
    subs["s15-unweighted-fedavg"] = _answer(_release(course, "a2"), {**sol, "q1-answer": UNWEIGHTED})
    return subs


# What each A2 submission must score, of 13 automatic points (Q1..Q5: 3, 3, 2, 2, 3).
EXPECTED_A2 = {
    "s01-solution": 13,
    "s02-untouched": 0,
    "s03-edited-tests": 0,            # nbgrader restores the instructor's tests; no answers
    "s04-sigint-loop-answer": 11,     # only Q4 (2 points) lost
    "s05-reply-patch": 0,
    "s06-exception-hooks": 0,
    "s07-lying-libraries": 0,
    "s08-forged-messages": 0,
    "s09-imported-reference": 11,     # Q4 lost: the grader's references cannot be imported in the sandbox
    "s10-escape": 0,
    "s11-loop-inside-function": 11,   # only Q4 lost
    "s12-deleted-test": 12,           # the deleted cell's point
    "s14-half-done": 6,               # Q1 and Q2
    "s15-unweighted-fedavg": 8,       # Q1 1 of 3 (its input check); Q4 and Q5 build on fedavg: Q4 0, Q5 2 of 3
}


@pytest.fixture(scope="module")
def graded_a2(tmp_path_factory, generated_course):
    """The class, graded by `plsim assign grade`'s machinery (2 at a time), with feedback generated."""
    tmp = tmp_path_factory.mktemp("a2")
    course = _course(tmp, generated_course, "a2")
    heartbeat = Path("/tmp") / f"plsim-forgery-heartbeat-{tmp.name}"
    for student, sub in _a2_class(course, heartbeat).items():
        _submit(course, student, "a2", sub)
    before = _tree(course)
    start = time.perf_counter()
    status = assign.autograde(course, "a2", jobs=2, timeout=HANG_TIMEOUT)  # and each one's feedback
    seconds = time.perf_counter() - start
    print(f"\nplsim.grading: {len(status)} A2 submissions in {seconds:.0f} s (2 at a time)")
    return {"course": course, "status": status, "before": before, "heartbeat": heartbeat}


def test_class_scores(graded_a2):
    course, status = graded_a2["course"], graded_a2["status"]
    assert len(status) == len(EXPECTED_A2) + 1
    got = {s: _auto_score(_grades(course, "a2", s)) for s in EXPECTED_A2}
    assert got == pytest.approx(EXPECTED_A2), got
    for student in EXPECTED_A2:
        assert (course / "feedback" / student / "a2" / f"{NOTEBOOKS['a2']}.html").is_file(), student


def test_solution_full_marks_and_written_answer_left_for_a_person(graded_a2):
    course = graded_a2["course"]
    grades = _grades(course, "a2", "s01-solution")
    assert _auto_score(grades) == AUTO_POINTS
    assert grades["q6-written"] is None  # needs manual grading: nbgrader's formgrader
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission("a2", "s01-solution")
        assert sub.needs_manual_grade and sub.max_score == AUTO_POINTS + 2


@pytest.mark.parametrize("student", ["s05-reply-patch", "s06-exception-hooks", "s07-lying-libraries",
                                     "s08-forged-messages", "s10-escape"])
def test_forgery_scores_nothing(graded_a2, student):
    grades = _grades(graded_a2["course"], "a2", student)
    assert all(v == 0 for k, v in grades.items() if k != "q6-written"), grades


def test_imported_reference_loses_only_its_question(graded_a2):
    by_q = _by_question(_grades(graded_a2["course"], "a2", "s09-imported-reference"))
    assert by_q["q4"] == 0
    assert {q: by_q[q] for q in ("q1", "q2", "q3", "q5")} == {"q1": 3, "q2": 3, "q3": 2, "q5": 3}, by_q


@pytest.mark.parametrize("student", ["s04-sigint-loop-answer", "s11-loop-inside-function"])
def test_a_hang_costs_only_its_question(graded_a2, student):
    course = graded_a2["course"]
    by_q = _by_question(_grades(course, "a2", student))
    assert by_q["q4"] == 0
    assert {q: by_q[q] for q in QUESTION_POINTS["a2"] if q != "q4"} == \
        {q: p for q, p in QUESTION_POINTS["a2"].items() if q != "q4"}, by_q
    assert graded_a2["status"][student] == 0  # graded, not dropped
    log = assign.log_path(course, "a2", student).read_text()
    assert "kernel restart" in log and "q4" in log
    assert "did not stop when interrupted" in _feedback(course, "a2", student)


def test_escape_reads_nothing_writes_nothing_and_leaves_nothing_running(graded_a2):
    course = graded_a2["course"]
    assert _tree(course) == graded_a2["before"], "a file of the course folder changed or appeared"
    assert not (course / "forged.txt").exists()
    uids = _sandbox_uids(course, "a2", "s10-escape")
    assert len(uids) == 2 and all(not processes_of(uid) for uid in uids)
    time.sleep(1.0)  # a surviving daemon would write its heartbeat every 0.2 s
    assert not graded_a2["heartbeat"].exists()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert all(g.auto_score != 99 for s in gb.assignment_submissions("a2") for nb in s.notebooks
                   for g in nb.grades)


@pytest.mark.skipif(not can_switch_user(), reason="sandbox users need root")
def test_submissions_ran_as_throw_away_users(graded_a2):
    course = graded_a2["course"]
    for student in ("s01-solution", "s10-escape"):
        uids = _sandbox_uids(course, "a2", student)
        assert len(uids) == 2 and all(uid >= 2_000_000_000 for uid in uids)
    # and nothing of any submission is still running
    for student in EXPECTED_A2:
        assert not any(processes_of(uid) for uid in _sandbox_uids(course, "a2", student)), student


def test_edited_tests_are_restored_and_reported(graded_a2):
    course = graded_a2["course"]
    autograded = nbformat.read(course / "autograded" / "s03-edited-tests" / "a2" / f"{NOTEBOOKS['a2']}.ipynb",
                               as_version=4)
    for c in _release(course, "a2").cells:
        if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code":
            restored = _cell(autograded, c.metadata.nbgrader["grade_id"]).source
            assert restored != "pass" and c.source.splitlines()[0] in restored
    # Real tampering stands out: the edited cells are reported, an honest submission's log has no such warning.
    assert "has changed" in assign.log_path(course, "a2", "s03-edited-tests").read_text()
    assert "has changed" not in assign.log_path(course, "a2", "s01-solution").read_text()


def test_partial_credit_within_a_question(graded_a2):
    """An unweighted FedAvg loses the cells that weigh, keeps the one that checks its input, and costs what builds
    on it (Q4's drift uses the weighted mean; Q5's new vector is w minus the weighted mean update)."""
    grades = _grades(graded_a2["course"], "a2", "s15-unweighted-fedavg")
    assert (grades["q1-by-hand"], grades["q1-properties"], grades["q1-errors"]) == (0, 0, 1)
    assert (grades["q5-updates"], grades["q5-weighted"], grades["q5-clients-at-once"]) == (1, 0, 1)


def test_deleted_test_cell_scores_zero_for_it(graded_a2):
    course = graded_a2["course"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grade = gb.find_grade("q2-ledger", NOTEBOOKS["a2"], "a2", "s12-deleted-test")
        assert grade.score == 0 and grade.needs_manual_grade


def test_corrupt_notebook_reported_with_its_log_and_the_others_graded(graded_a2):
    course, status = graded_a2["course"], graded_a2["status"]
    assert status["s13-corrupt"] != 0
    assert all(code == 0 for s, code in status.items() if s != "s13-corrupt"), status
    assert "error" in assign.log_path(course, "a2", "s13-corrupt").read_text().lower()
    assert not (course / "feedback" / "s13-corrupt" / "a2" / f"{NOTEBOOKS['a2']}.html").exists()


def test_feedback_shows_verdicts_never_hidden_tests(graded_a2):
    course = graded_a2["course"]
    for student in EXPECTED_A2:
        html = _feedback(course, "a2", student)
        assert "BEGIN HIDDEN" not in html and "send(" not in html and "_probe" not in html, student
    html = _feedback(course, "a2", "s02-untouched")
    for q in ("Q1", "Q2", "Q3", "Q4", "Q5"):
        assert f"Tests for {q}" in html
    assert html.count("NotImplementedError") >= 4
    assert "Grader: passed" in _feedback(course, "a2", "s01-solution")
    assert "GraderCheckFailed" in _feedback(course, "a2", "s07-lying-libraries")


def test_plsim_assign_grade_prints_the_gradebook_and_the_logs(graded_a2, capsys, monkeypatch):
    """``plsim assign grade`` prints what nbgrader stored, and names the log of a submission it could not grade."""
    from plsim.cli import main

    course, status = graded_a2["course"], graded_a2["status"]
    monkeypatch.setattr(assign, "autograde", lambda *args, **kwargs: status)  # already graded by the fixture
    assert main(["assign", "--course", str(course), "grade", "a2"]) == 1  # the corrupt notebook failed
    out = capsys.readouterr().out
    assert f"graded {len(status)} submission(s) of a2" in out and "logs/a2" in out.replace("\\", "/")
    assert re.search(r"s01-solution\s+13.0 / 15\s+\+ written answers to grade by hand", out), out
    assert re.search(r"s02-untouched\s+0.0 / 15", out), out
    assert re.search(r"s13-corrupt.*not graded: see logs/a2/s13-corrupt.log", out), out


# -- A1 and A3 (the grader starts a Dask cluster for each submission) ----------------------------------

@pytest.fixture(scope="module")
def graded_a1_a3(tmp_path_factory, generated_course):
    """Solution, untouched copy, and the reply patch with the escape in one submission, for A1 and A3, graded 2 at
    a time (each forgery alone is graded on A2 above; here they meet a grader that starts a Dask cluster)."""
    course = _course(tmp_path_factory.mktemp("a1a3"), generated_course, "a1", "a3")
    heartbeat = Path("/tmp") / f"plsim-forgery-heartbeat-{course.parent.name}"
    for a in ("a1", "a3"):
        _submit(course, "solution", a, _answer(_release(course, a), _solutions(course, a)))
        _submit(course, "untouched", a, _release(course, a))
        # The reply patch runs first (every later error hidden from the kernel's reply), then the escape: a
        # solution the escape read, or an error the patch hid, would score.
        _submit(course, "reply-patch-and-escape", a,
                _first(_first(_release(course, a), _escape(course, a, heartbeat)), REPLY_PATCH))
    before = _tree(course)
    status = {a: assign.autograde(course, a, jobs=2, timeout=HANG_TIMEOUT * 2, feedback=False) for a in ("a1", "a3")}
    return {"course": course, "status": status, "before": before, "heartbeat": heartbeat}


@pytest.mark.parametrize("a", ["a1", "a3"])
def test_a1_a3_solution_full_marks_forgeries_nothing(graded_a1_a3, a):
    course = graded_a1_a3["course"]
    assert graded_a1_a3["status"][a] == {"solution": 0, "untouched": 0, "reply-patch-and-escape": 0}
    grades = _grades(course, a, "solution")
    assert _auto_score(grades) == AUTO_POINTS, grades
    assert [k for k, v in grades.items() if v is None] == ["q6-written"]
    for student in ("untouched", "reply-patch-and-escape"):
        assert _auto_score(_grades(course, a, student)) == 0, (student, _grades(course, a, student))
    for student in ("solution", "reply-patch-and-escape"):
        assert not any(processes_of(uid) for uid in _sandbox_uids(course, a, student))
    assert _tree(course) == graded_a1_a3["before"]
    time.sleep(0.5)
    assert not graded_a1_a3["heartbeat"].exists()


def test_nothing_of_the_graders_left_running(graded_a2, graded_a1_a3):
    """No kernel, cluster or daemon of any graded submission, and no sandbox folder, survives grading."""
    for fixture, assignments in ((graded_a2, ["a2"]), (graded_a1_a3, ["a1", "a3"])):
        course = fixture["course"]
        for a in assignments:
            for log in (course / "logs" / a).glob("*.log"):
                uids = [int(u) for u in re.findall(r"(?:kernel|cluster) uid (\d+)", log.read_text())]
                assert not any(processes_of(uid) for uid in uids), log
                for folder in re.findall(r"Sandbox (\S+),", log.read_text()):
                    assert not Path(folder).exists(), folder
    left = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] and
            any(str(f["course"]) in " ".join(p.info["cmdline"]) for f in (graded_a2, graded_a1_a3))]
    assert not left, [p.info["cmdline"] for p in left]
    assert sys.executable  # (the graders ran with this interpreter)

"""Assignments: student copies generated from solution copies, and automatic grading (plsim.assignments)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from plsim import assignments
from plsim.assignments import GradeResult, grade, grade_folder, release, write_csv
from plsim.cli import main

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "notebooks" / "assignments" / "source"
RELEASE = ROOT / "notebooks" / "assignments" / "release"
NAMES = ["a1_speedup_ensembles.ipynb", "a2_federated_learning.ipynb", "a3_distributed_training.ipynb"]
STUB = 'raise NotImplementedError("write your solution here")'


def _write(path: Path, cells: list[tuple]) -> Path:
    """A notebook from ``(kind, source[, grade_id, points])`` tuples; ids c0, c1, ..."""
    nb = new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    for i, (kind, text, *meta) in enumerate(cells):
        cell = new_markdown_cell(text) if kind == "md" else new_code_cell(text)
        cell.id = f"c{i}"
        if meta:
            cell.metadata["plsim"] = {"grade_id": meta[0], "points": meta[1]}
        nb.cells.append(cell)
    path.write_text(nbformat.writes(nb) + "\n")
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


TINY = [
    ("md", "# Tiny\nExplain:\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"),
    ("code", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\nprint(double(1))"),
    ("code", "### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION"),
    ("code", "assert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(-3) == -6\n### END HIDDEN TESTS",
     "double", 2),
    ("code", "assert answer == 42", "answer", 1),
]


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = _write(tmp_path / "tiny.ipynb", TINY)
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    nb.cells[1].execution_count = 3
    path.write_text(nbformat.writes(nb) + "\n")
    return path


# ---------------------------------------------------------------------------
# release (no kernel)
# ---------------------------------------------------------------------------
def test_release_of_a_tiny_notebook_gives_exactly_the_expected_cells(tiny, tmp_path):
    before = _digest(tiny)
    (out,) = release(tiny, tmp_path / "student.ipynb")
    assert _digest(tiny) == before, "release modified its source"
    nb = nbformat.read(out, as_version=4)
    assert [c.source for c in nb.cells] == [
        "# Tiny\nExplain:\nYOUR ANSWER HERE",
        f"def double(x):\n    {STUB}\n\nprint(double(1))",
        STUB,
        "assert double(2) == 4",
        "assert answer == 42",
    ]
    assert [c.id for c in nb.cells] == ["c0", "c1", "c2", "c3", "c4"]
    assert nb.cells[1].outputs == [] and nb.cells[1].execution_count is None
    assert nb.cells[3].metadata == {"plsim": {"grade_id": "double", "points": 2}}
    assert nb.metadata["kernelspec"]["name"] == "python3"
    # Deterministic: again, byte for byte; and into a folder under the same name.
    (again,) = release(tiny, tmp_path / "student2.ipynb")
    assert again.read_bytes() == out.read_bytes()
    folder = tmp_path / "handout"
    folder.mkdir()
    assert release(tiny, folder) == [folder / "tiny.ipynb"]


def test_committed_student_copies_are_what_release_writes_now(tmp_path):
    written = release(SOURCE, tmp_path)
    assert sorted(p.name for p in written) == NAMES
    assert sorted(p.name for p in RELEASE.glob("*.ipynb")) == NAMES
    for path in written:
        assert path.read_bytes() == (RELEASE / path.name).read_bytes(), (
            f"release/{path.name} is stale: run `plsim assign release notebooks/assignments/source "
            "notebooks/assignments/release`")


@pytest.mark.parametrize("name", NAMES)
def test_each_assignment_is_worth_10_points_and_every_graded_cell_hides_tests(name):
    nb = nbformat.read(SOURCE / name, as_version=4)
    graded = [c for c in nb.cells if "plsim" in c.metadata]
    assert sum(c.metadata["plsim"]["points"] for c in graded) == 10
    assert all("### BEGIN HIDDEN TESTS" in c.source for c in graded)
    student = nbformat.read(RELEASE / name, as_version=4)
    text = "\n".join(c.source for c in student.cells)
    assert "### BEGIN" not in text and "HIDDEN" not in text
    assert text.count(STUB) == len(graded), "one solution region per graded question"
    if "plsim.start_cluster()" in text:
        assert student.cells[-1].source == "plsim.close_cluster()"


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ([("code", "### BEGIN SOLUTION\nx = 1")], "never closed"),
        ([("code", "x = 1\n### END SOLUTION")], "without a '### BEGIN SOLUTION'"),
        ([("code", "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION")], "cannot nest"),
        ([("code", "### BEGIN HIDDEN TESTS\nassert 1\n### END HIDDEN TESTS")], "outside a graded cell"),
        ([("code", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "q", 1)], "cannot hold a solution"),
        ([("code", "assert 1", "q", 1), ("code", "assert 1", "q", 2)], "grade_id 'q' is used by cells 0 and 1"),
        ([("code", "assert 1", "q", 0)], "points=0"),
        ([("code", "assert 1", "has space", 1)], "grade_id='has space'"),
        ([("md", "text", "q", 1)], "only code cells can be graded"),
    ],
)
def test_release_rejects_malformed_solution_notebooks(tmp_path, cells, message):
    src = _write(tmp_path / "bad.ipynb", cells)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        release(src, tmp_path / "out.ipynb")
    assert not (tmp_path / "out.ipynb").exists()


def test_release_rejects_bad_paths(tiny, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        release(tmp_path / "nope.ipynb", tmp_path / "out.ipynb")
    with pytest.raises(ValueError, match="is the source notebook itself"):
        release(tiny, tiny)
    with pytest.raises(ValueError, match=r"must be a \.ipynb file"):
        release(tiny, tmp_path / "out.txt")
    with pytest.raises(ValueError, match="inside source"):
        release(tmp_path, tmp_path / "release")
    (tmp_path / "handout").mkdir()
    with pytest.raises(ValueError, match="no .ipynb notebooks"):
        release(tmp_path / "handout", tmp_path / "x")
    with pytest.raises(TypeError, match="source must be a path"):
        release(3, tmp_path)
    (tmp_path / "notes.txt").write_text("{}")
    with pytest.raises(ValueError, match="not a notebook file|must be a Jupyter notebook"):
        grade(tmp_path / "notes.txt", tiny)


def test_grade_rejects_bad_inputs_before_starting_a_kernel(tiny, tmp_path):
    with pytest.raises(ValueError, match=r"submission='.*missing\.ipynb' is not a notebook file"):
        grade(tmp_path / "missing.ipynb", tiny)
    with pytest.raises(ValueError, match="timeout=0 must be a number of seconds > 0"):
        grade(tiny, tiny, timeout=0)
    with pytest.raises(ValueError, match="timeout='10'"):
        grade(tiny, tiny, timeout="10")
    with pytest.raises(TypeError, match="submission must be a path"):
        grade(None, tiny)
    plain = _write(tmp_path / "plain.ipynb", [("code", "x = 1")])
    with pytest.raises(ValueError, match="has no graded cells"):
        grade(tiny, plain)
    (tmp_path / "broken.ipynb").write_text("{not json")
    with pytest.raises(ValueError, match="is not a readable notebook"):
        grade(tmp_path / "broken.ipynb", tiny)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds no .ipynb notebooks"):
        grade_folder(empty, tiny)
    with pytest.raises(ValueError, match=r"no solution notebook in source=.*empty' is named \[.*'tiny.ipynb'\]; available: \[\]"):
        grade_folder(tmp_path, empty)
    with pytest.raises(TypeError, match="non-empty sequence of GradeResult"):
        write_csv([], tmp_path / "grades.csv")


def test_grade_result_reports_text_html_and_json():
    result = GradeResult("s/alice.ipynb", "src.ipynb", [
        assignments.CellGrade("q1", 2, 2, "passed"),
        assignments.CellGrade("q2", 3, 0, "failed", "AssertionError", "", "AssertionError"),
        assignments.CellGrade("q<3>", 1, 0, "missing", reason="the graded cell was deleted from the submission"),
    ])
    assert (result.total, result.max_total) == (2, 6)
    assert result.summary().splitlines()[0] == "alice.ipynb: 2 / 6 points"
    assert re.search(r"\n  q2 +0 / 3 +failed: AssertionError\n", result.summary())
    assert "q&lt;3&gt;" in result._repr_html_() and "<th>2</th><th>6</th>" in result._repr_html_()
    data = json.loads(json.dumps(result.to_dict()))
    assert data["total"] == 2 and data["cells"][2]["status"] == "missing"


# ---------------------------------------------------------------------------
# grading (each test starts kernels)
# ---------------------------------------------------------------------------
def _processes() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _grader_temp() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("plsim-grade-")}


@pytest.fixture
def no_leftovers():
    """Fails the test if grading leaves a process or a temporary folder behind."""
    procs, temps = _processes(), _grader_temp()
    yield
    left = _processes() - procs
    alive = [psutil.Process(pid) for pid in left if psutil.pid_exists(pid)]
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"processes left behind: {[(p.pid, p.name()) for p in alive]}"
    assert _grader_temp() == temps, "the grader left its temporary folder behind"


def _solved_student_copy(name: str, path: Path, replace: dict[str, str] | None = None,
                         drop: tuple[str, ...] = ()) -> Path:
    """A student copy with the worked solutions filled in (as a good student would hand it in).

    ``replace`` maps a text in a cell to that cell's new source; ``drop`` deletes
    cells containing a text.
    """
    student = nbformat.read(RELEASE / name, as_version=4)
    solution = nbformat.read(SOURCE / name, as_version=4)
    cells = []
    for mine, ref in zip(student.cells, solution.cells, strict=True):
        if "plsim" not in mine.metadata:
            mine.source = "\n".join(line for line in ref.source.splitlines() if not line.strip().startswith("### "))
        if any(text in mine.source for text in drop):
            continue
        for text, new in (replace or {}).items():
            if text in mine.source:
                mine.source = new
        cells.append(mine)
    student.cells = cells
    path.write_text(nbformat.writes(student) + "\n")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_each_solution_copy_scores_10_of_10(name, no_leftovers):
    result = grade(SOURCE / name, SOURCE / name, timeout=120)
    assert result.total == result.max_total == 10, result.summary()
    assert all(c.status == "passed" for c in result.cells)
    assert result.seconds < 60


@pytest.mark.slow
def test_untouched_student_copies_score_0_with_not_implemented_error(tmp_path, no_leftovers):
    results = grade_folder(RELEASE, SOURCE, timeout=120)
    assert [Path(r.submission).name for r in results] == NAMES
    for r in results:
        assert (r.total, r.max_total) == (0, 10), r.summary()
        for cell in r.cells:
            assert cell.status == "failed" and cell.earned == 0
            assert cell.error_name == "NotImplementedError", cell
            assert cell.reason == "NotImplementedError: write your solution here"
    with write_csv(results, tmp_path / "grades.csv").open(newline="") as fh:
        header, *rows = list(csv.reader(fh))
    assert header[:6] == ["submission", "source", "a1-speedup", "a1-karp-flatt", "a1-amdahl-fit", "a1-bagging"]
    assert len(header) == 2 + 12 + 2 and header[-2:] == ["total", "max_total"] and len(rows) == 3
    assert rows[0][2:] == ["0"] * 4 + [""] * 8 + ["0", "10"]  # A1's row has no A2/A3 cells


@pytest.mark.slow
def test_a_solution_that_passes_only_the_visible_tests_loses_exactly_their_points(tmp_path, no_leftovers):
    name = "a2_federated_learning.ipynb"
    # Drift with the plain mean instead of the sample-weighted one: right for equal weights (the visible
    # test), wrong for [3, 1] (a hidden test).
    unweighted = ("def client_drift(deltas, n_samples):\n    mean = np.mean(deltas, axis=0)\n"
                  "    return float(np.mean([np.linalg.norm(d - mean) for d in deltas]))")
    sub = _solved_student_copy(name, tmp_path / name, replace={"def client_drift": unweighted})
    before = {p: _digest(p) for p in (sub, SOURCE / name, RELEASE / name)}
    # Against the student copy (visible tests only) it looks perfect ...
    assert grade(sub, RELEASE / name).total == 10
    # ... against the solution copy the hidden tests take exactly Q4's 2 points.
    result = grade(sub, SOURCE / name)
    assert result.total == 8, result.summary()
    (drift,) = [c for c in result.cells if c.earned == 0]
    assert (drift.grade_id, drift.status, drift.error_name) == ("a2-drift", "failed", "AssertionError")
    assert {p: _digest(p) for p in before} == before, "grading modified a notebook"


@pytest.mark.slow
def test_edited_tests_are_replaced_and_deleted_tests_score_0(tmp_path, no_leftovers):
    name = "a2_federated_learning.ipynb"
    sub = tmp_path / name
    student = nbformat.read(RELEASE / name, as_version=4)
    for cell in student.cells:  # an untouched copy whose student "fixed" Q1's test and deleted Q3's
        gid = cell.metadata.get("plsim", {}).get("grade_id")
        if gid == "a2-fedavg":
            cell.source = "pass"
    student.cells = [c for c in student.cells if c.metadata.get("plsim", {}).get("grade_id") != "a2-labels"]
    sub.write_text(nbformat.writes(student) + "\n")
    result = grade(sub, SOURCE / name)
    by_id = {c.grade_id: c for c in result.cells}
    assert list(by_id) == ["a2-fedavg", "a2-bytes", "a2-labels", "a2-drift"], "every graded cell is reported"
    assert by_id["a2-fedavg"].earned == 0 and by_id["a2-fedavg"].error_name == "NotImplementedError"
    assert by_id["a2-labels"].status == "missing" and by_id["a2-labels"].earned == 0
    assert by_id["a2-labels"].reason == "the graded cell was deleted from the submission"
    assert result.total == 0


@pytest.mark.slow
def test_a_cluster_left_open_is_still_stopped(tmp_path, no_leftovers):
    # A solved A1 without its closing cell: the kernel's Dask workers must not outlive the grading.
    name = "a1_speedup_ensembles.ipynb"
    sub = _solved_student_copy(name, tmp_path / name, drop=("plsim.close_cluster()",))
    assert grade(sub, SOURCE / name).total == 10


@pytest.mark.slow
def test_a_process_the_submission_starts_is_stopped(tiny, tmp_path, no_leftovers):
    # A child in a session of its own outlives the kernel's process group being killed; re-parented to
    # init, the fixture could not see it either.
    pid_file = tmp_path / "pid"
    spawner = _write(tmp_path / "spawner.ipynb", [
        ("code", "import subprocess, sys\n"
                 "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], "
                 "start_new_session=True)\n"
                 f"open({str(pid_file)!r}, 'w').write(str(child.pid))"),
        *TINY[1:],
    ])
    assert grade(spawner, tiny).total == 3
    pid = int(pid_file.read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.slow
def test_a_dying_kernel_and_a_hanging_cell_are_reported_and_cleaned_up(tiny, tmp_path, no_leftovers):
    hang = _write(tmp_path / "hang.ipynb", [
        ("code", "import time\ntime.sleep(60)"),
        ("code", "def double(x):\n    return 2 * x\nanswer = 42"),
        *TINY[3:],
    ])
    result = grade(hang, tiny, timeout=3)
    assert result.total == 3, result.summary()  # interrupted after 3 s; the rest still ran
    assert result.seconds < 30
    dies = _write(tmp_path / "dies.ipynb", [("code", "import os\nos._exit(1)"), *TINY[1:]])
    result = grade(dies, tiny, timeout=30)
    assert result.total == 0
    assert "DeadKernelError" in result.error
    assert {c.status for c in result.cells} == {"not run"}
    assert "the kernel stopped before it" in result.summary()


@pytest.mark.slow
def test_cli_releases_and_grades_end_to_end(tiny, tmp_path, capsys, no_leftovers):
    student = tmp_path / "student.ipynb"
    assert main(["assign", "release", str(tiny), str(student)]) == 0
    assert f"wrote {student}" in capsys.readouterr().out
    assert main(["assign", "grade", str(student), "--source", str(tiny), "--json",
                 "--csv", str(tmp_path / "g.csv")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["total"], data["max_total"]) == (0, 3)
    # A stub inside a function fails its test with NotImplementedError; a top-level one leaves the name undefined.
    assert [c["error_name"] for c in data["cells"]] == ["NotImplementedError", "NameError"]
    assert (tmp_path / "g.csv").read_text().splitlines()[1].endswith(",0,0,0,3")
    assert main(["assign", "grade", str(tiny), "--source", str(tiny)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "tiny.ipynb: 3 / 3 points"


def test_cli_bad_path_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["assign", "grade", str(tmp_path / "nope.ipynb"), "--source", str(tmp_path / "s.ipynb")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("plsim assign: error: submission=") and "\n" not in err
    assert main(["assign", "release", str(tmp_path / "nope"), str(tmp_path / "out")]) == 2
    assert "does not exist" in capsys.readouterr().err

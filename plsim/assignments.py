"""Course assignments: student copies generated from solution copies, and automatic grading.

A small, dependency-light take on how nbgrader works (only ``nbformat`` and
``nbclient``, which come with JupyterLab):

* **Solution copies** (``notebooks/assignments/source/``) are ordinary notebooks.
  Code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines is the
  worked answer; in the student copy it becomes one line
  ``raise NotImplementedError("write your solution here")`` with the indentation
  of the ``BEGIN`` marker (always, so an unanswered question fails the same
  clear way). In a markdown cell the region becomes ``YOUR ANSWER HERE``.
  Put solution regions inside function bodies: then an unanswered question's
  tests fail with ``NotImplementedError``; a top-level stub leaves its names
  undefined, so its tests fail with ``NameError`` instead.
* **Graded cells** are code cells whose metadata holds
  ``{"plsim": {"grade_id": "a1-speedup", "points": 2}}``. Each is worth its
  points, all or nothing: it earns them when it runs without an error. Lines
  between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` in a graded cell
  are removed from the student copy; a graded cell may not hold a solution region.
* :func:`release` writes the student copy (outputs cleared, solutions and hidden
  tests removed, grade metadata kept) -- deterministically, never touching the source.
* :func:`grade` runs a submission top to bottom in a fresh kernel after putting
  back every graded cell's code *from the solution copy* (hidden tests included;
  a student cannot weaken a test by editing it) and returns a :class:`GradeResult`.
  :func:`grade_folder` grades many submissions; :func:`write_csv` tabulates them.

Run from a terminal with ``plsim assign release SRC DEST`` and
``plsim assign grade SUBMISSION --source SOLUTION``.
The assignments themselves live in ``notebooks/assignments/``.
"""

from __future__ import annotations

import csv
import html
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SOLUTION_STUB",
    "MARKDOWN_STUB",
    "CellGrade",
    "GradeResult",
    "release",
    "release_notebook",
    "grade",
    "grade_folder",
    "write_csv",
]

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SOLUTION_STUB = 'raise NotImplementedError("write your solution here")'
MARKDOWN_STUB = "YOUR ANSWER HERE"
METADATA_KEY = "plsim"

PathLike = str | os.PathLike


# ---------------------------------------------------------------------------
# reading notebooks and their grade metadata
# ---------------------------------------------------------------------------
def _check_path(name: str, value: Any) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {value!r} ({type(value).__name__})")
    return Path(value)


def _read(path: Path, name: str) -> Any:
    import nbformat

    if not path.is_file():
        raise ValueError(f"{name}={str(path)!r} is not a notebook file (it does not exist or is a folder)")
    if path.suffix != ".ipynb":
        raise ValueError(f"{name}={str(path)!r} must be a Jupyter notebook ending in .ipynb")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several kinds for a damaged file
        raise ValueError(f"{name}={str(path)!r} is not a readable notebook: {exc}") from exc


def _source(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _grade_info(cell: Any, where: str) -> tuple[str, float] | None:
    """``(grade_id, points)`` of a graded cell, None for an ordinary one; ValueError if malformed."""
    meta = cell.get("metadata", {}).get(METADATA_KEY)
    if meta is None:
        return None
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: metadata[{METADATA_KEY!r}] must be a dict like "
                         f"{{'grade_id': 'a1-speedup', 'points': 2}}, got {meta!r}")
    grade_id, points = meta.get("grade_id"), meta.get("points")
    if not isinstance(grade_id, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", grade_id):
        raise ValueError(f"{where}: grade_id={grade_id!r} must be a non-empty string of letters, digits, '_.-'")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
        raise ValueError(f"{where}: points={points!r} of {grade_id!r} must be a number > 0")
    if cell.get("cell_type") != "code":
        raise ValueError(f"{where}: {grade_id!r} is a {cell.get('cell_type')} cell; only code cells can be graded")
    return grade_id, float(points)


def _graded_cells(nb: Any, path: Path) -> dict[str, tuple[int, float]]:
    """``{grade_id: (cell index, points)}`` of a solution notebook, in order; ValueError on duplicates."""
    found: dict[str, tuple[int, float]] = {}
    for i, cell in enumerate(nb.cells):
        info = _grade_info(cell, f"{path.name} cell {i}")
        if info is None:
            continue
        grade_id, points = info
        if grade_id in found:
            raise ValueError(f"{path.name}: grade_id {grade_id!r} is used by cells {found[grade_id][0]} and {i}; "
                             "each graded cell needs its own")
        found[grade_id] = (i, points)
    return found


# ---------------------------------------------------------------------------
# marker regions
# ---------------------------------------------------------------------------
def _strip_regions(text: str, begin: str, end: str, replace: Any, where: str) -> tuple[str, int]:
    """Replace every ``begin``..``end`` region by ``replace(indent)`` (None drops it); count the regions."""
    out: list[str] = []
    inside_indent: str | None = None
    count = 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        stripped = line.strip()
        if stripped == begin:
            if inside_indent is not None:
                raise ValueError(f"{where} line {number}: {begin!r} inside another region (regions cannot nest)")
            inside_indent = line[: len(line) - len(line.lstrip())]
            count += 1
        elif stripped == end:
            if inside_indent is None:
                raise ValueError(f"{where} line {number}: {end!r} without a {begin!r} before it")
            stub = replace(inside_indent)
            if stub is not None:
                out.append(stub + "\n")
            inside_indent = None
        elif inside_indent is None:
            out.append(line)
    if inside_indent is not None:
        raise ValueError(f"{where}: {begin!r} is never closed by {end!r}")
    result = "".join(out)
    if count and not text.endswith("\n"):
        result = result.rstrip("\n")
    return result, count


def _student_source(cell: Any, where: str) -> str:
    text = _source(cell)
    graded = _grade_info(cell, where) is not None
    if cell.get("cell_type") == "code":
        text, n_solutions = _strip_regions(text, BEGIN_SOLUTION, END_SOLUTION,
                                           lambda indent: indent + SOLUTION_STUB, where)
        if graded and n_solutions:
            raise ValueError(f"{where}: a graded cell cannot hold a solution region; put the solution "
                             "in a cell of its own above the tests")
        text, n_hidden = _strip_regions(text, BEGIN_HIDDEN, END_HIDDEN, lambda indent: None, where)
        if n_hidden and not graded:
            raise ValueError(f"{where}: hidden tests outside a graded cell would never count; add "
                             f"metadata {{'{METADATA_KEY}': {{'grade_id': ..., 'points': ...}}}} to the cell")
    elif cell.get("cell_type") == "markdown":
        text, _ = _strip_regions(text, BEGIN_SOLUTION, END_SOLUTION, lambda indent: indent + MARKDOWN_STUB, where)
    return text


def _grader_source(cell: Any, where: str) -> str:
    """A graded cell's code as the grader runs it: visible and hidden tests, marker lines dropped."""
    lines = [line for line in _source(cell).splitlines(keepends=True) if line.strip() not in (BEGIN_HIDDEN, END_HIDDEN)]
    _strip_regions(_source(cell), BEGIN_HIDDEN, END_HIDDEN, lambda indent: None, where)  # checks the markers pair up
    return "".join(lines)


# ---------------------------------------------------------------------------
# release
# ---------------------------------------------------------------------------
def release_notebook(nb: Any, name: str = "notebook") -> Any:
    """The student copy of an in-memory solution notebook (a new object; ``nb`` is not modified).

    Outputs and execution counts are cleared; solution regions become
    :data:`SOLUTION_STUB` (markdown: :data:`MARKDOWN_STUB`); hidden tests are
    removed; cell ids, metadata (grade metadata included) and notebook metadata are kept.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        A version-4 notebook, e.g. from ``nbformat.read(path, as_version=4)``.
    name : str
        Used in error messages.

    Raises
    ------
    ValueError
        Unpaired or nested markers, hidden tests outside a graded cell, a solution
        inside a graded cell, malformed or duplicate grade metadata.
    """
    import copy

    _graded_cells(nb, Path(name))
    out = copy.deepcopy(nb)
    for i, cell in enumerate(out.cells):
        cell.source = _student_source(cell, f"{name} cell {i}")
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return out


def _notebooks_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def release(source: PathLike, dest: PathLike) -> list[Path]:
    """Write the student copy of a solution notebook, or of every notebook in a folder.

    The output is deterministic: the same source gives a byte-identical copy,
    so a test can check that committed student copies are up to date. The
    source is only read.

    Parameters
    ----------
    source : str or Path
        A solution notebook (``.ipynb``) or a folder searched recursively for them
        (``.ipynb_checkpoints`` skipped).
    dest : str or Path
        For one notebook: the output file (``.ipynb``), or an existing folder to
        write it into under the same name. For a folder: the output folder
        (created if needed); the sub-folder layout is kept.

    Returns
    -------
    list of Path
        The files written.

    Examples
    --------
    >>> release("notebooks/assignments/source", "notebooks/assignments/release")  # doctest: +SKIP
    """
    import nbformat

    src = _check_path("source", source)
    dst = _check_path("dest", dest)
    if src.is_dir():
        pairs = [(p, dst / p.relative_to(src)) for p in _notebooks_in(src)]
        if not pairs:
            raise ValueError(f"source={str(src)!r} is a folder with no .ipynb notebooks in it")
        if dst.resolve() == src.resolve() or src.resolve() in dst.resolve().parents:
            raise ValueError(f"dest={str(dst)!r} is inside source={str(src)!r}; write the student copies elsewhere")
    elif src.is_file():
        target = dst / src.name if dst.is_dir() else dst
        if target.suffix != ".ipynb":
            raise ValueError(f"dest={str(dst)!r} must be a .ipynb file or an existing folder")
        pairs = [(src, target)]
    else:
        raise ValueError(f"source={str(src)!r} does not exist; give a solution notebook or a folder of them")
    # Build every copy before writing any, so a bad notebook leaves dest untouched.
    texts = []
    for in_path, out_path in pairs:
        if out_path.resolve() == in_path.resolve():
            raise ValueError(f"dest={str(out_path)!r} is the source notebook itself; it would be overwritten")
        student = release_notebook(_read(in_path, "source"), in_path.name)
        texts.append((out_path, nbformat.writes(student) + "\n"))
    for out_path, text in texts:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(text, encoding="utf-8")
    return [p for p, _ in texts]


# ---------------------------------------------------------------------------
# grading results
# ---------------------------------------------------------------------------
@dataclass
class CellGrade:
    """The outcome of one graded cell.

    Attributes
    ----------
    grade_id : str
    points : float
        Points possible.
    earned : float
        ``points`` if the cell ran without an error, else 0.
    status : {"passed", "failed", "missing", "not run"}
    error_name, error_message : str
        The exception of a failed cell (e.g. ``"AssertionError"``), empty otherwise.
    reason : str
        Why no points were given, in words.
    """

    grade_id: str
    points: float
    earned: float = 0.0
    status: str = "not run"
    error_name: str = ""
    error_message: str = ""
    reason: str = ""


@dataclass
class GradeResult:
    """A graded submission: one :class:`CellGrade` per graded cell of the solution copy, in order.

    ``total`` / ``max_total`` are the points; ``summary()`` is a text report,
    ``to_dict()`` a JSON-ready dict, and in Jupyter the result shows as a table.
    """

    submission: str
    source: str
    cells: list[CellGrade] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""

    @property
    def total(self) -> float:
        """Points earned."""
        return float(sum(c.earned for c in self.cells))

    @property
    def max_total(self) -> float:
        """Points possible."""
        return float(sum(c.points for c in self.cells))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: submission, source, total, max_total, seconds, error, cells."""
        return {"submission": self.submission, "source": self.source, "total": self.total,
                "max_total": self.max_total, "seconds": round(self.seconds, 3), "error": self.error,
                "cells": [asdict(c) for c in self.cells]}

    def summary(self) -> str:
        """Plain-text report, one line per graded cell."""
        lines = [f"{Path(self.submission).name}: {_fmt(self.total)} / {_fmt(self.max_total)} points"]
        width = max([len(c.grade_id) for c in self.cells] + [8])
        for c in self.cells:
            line = f"  {c.grade_id:<{width}}  {_fmt(c.earned):>4} / {_fmt(c.points):<4} {c.status}"
            if c.reason:
                line += f": {c.reason}"
            lines.append(line)
        if self.error:
            lines.append(f"  note: {self.error}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(c.grade_id)}</td><td>{_fmt(c.earned)}</td><td>{_fmt(c.points)}</td>"
            f"<td>{html.escape(c.status)}</td><td>{html.escape(c.reason)}</td></tr>"
            for c in self.cells)
        return (f"<table><caption>{html.escape(Path(self.submission).name)}: {_fmt(self.total)} / "
                f"{_fmt(self.max_total)} points</caption><thead><tr><th>cell</th><th>earned</th>"
                f"<th>possible</th><th>status</th><th>reason</th></tr></thead><tbody>{rows}</tbody>"
                f"<tfoot><tr><th>total</th><th>{_fmt(self.total)}</th><th>{_fmt(self.max_total)}</th>"
                "<th></th><th></th></tr></tfoot></table>")

    def __repr__(self) -> str:
        return f"GradeResult({Path(self.submission).name!r}, {_fmt(self.total)}/{_fmt(self.max_total)})"


def _fmt(x: float) -> str:
    return f"{x:g}"


# ---------------------------------------------------------------------------
# grading
# ---------------------------------------------------------------------------
def _check_timeout(timeout: Any) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout={timeout!r} must be a number of seconds > 0 (the limit for each cell)")
    return float(timeout)


def _prepare(submission_nb: Any, source_nb: Any, source_name: str
             ) -> tuple[Any, dict[str, int], dict[str, CellGrade]]:
    """The notebook to run: the submission with every graded cell's code taken from the source."""
    import copy

    graded = _graded_cells(source_nb, Path(source_name))
    if not graded:
        raise ValueError(f"source={source_name!r} has no graded cells (code cells with metadata "
                         f"{{'{METADATA_KEY}': {{'grade_id': ..., 'points': ...}}}}); is it the solution copy?")
    grades = {gid: CellGrade(gid, pts) for gid, (_, pts) in graded.items()}
    nb = copy.deepcopy(submission_nb)
    where: dict[str, int] = {}
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get(METADATA_KEY)
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if grade_id not in graded:
            continue
        src_index = graded[grade_id][0]
        cell.cell_type = "code"
        cell.metadata[METADATA_KEY] = copy.deepcopy(source_nb.cells[src_index].metadata[METADATA_KEY])
        cell.source = _grader_source(source_nb.cells[src_index], f"{source_name} cell {src_index}")
        cell.setdefault("outputs", [])
        cell.setdefault("execution_count", None)
        cell.pop("attachments", None)
        where.setdefault(grade_id, i)  # a copied graded cell runs too; the first one is graded
    for grade_id, g in grades.items():
        if grade_id not in where:
            g.status = "missing"
            g.reason = "the graded cell was deleted from the submission"
    return nb, where, grades


def _kernel_descendants(km: Any) -> list[Any]:
    import psutil

    pid = getattr(getattr(km, "provisioner", None), "pid", None) if km is not None else None
    if pid is None:
        return []
    try:
        kernel = psutil.Process(pid)
        return [kernel, *kernel.children(recursive=True)]
    except psutil.Error:
        return []


def _kill(processes: Iterable[Any]) -> None:
    import psutil

    alive = []
    for p in processes:
        try:
            if p.is_running():
                p.kill()
                alive.append(p)
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)


def grade(submission: PathLike, source: PathLike, *, timeout: float = 300.0,
          kernel_name: str = "python3") -> GradeResult:
    """Grade a student's notebook against the solution copy it was released from.

    Every graded cell of the submission (matched by ``grade_id``) gets the code of
    the source's graded cell, hidden tests included, so editing or emptying a test
    does not help. The notebook then runs top to bottom in a fresh kernel,
    continuing after errors, in a temporary working folder; a graded cell earns
    its points if it runs without an error. A graded cell missing from the
    submission scores 0 with that reason. Neither file is modified; the kernel
    and any process it started are stopped and the temporary folder is removed,
    whatever happens.

    Parameters
    ----------
    submission : str or Path
        The student's ``.ipynb``.
    source : str or Path
        The solution copy (``notebooks/assignments/source/...``).
    timeout : float
        Seconds each cell may run; a cell that takes longer is interrupted and fails.
    kernel_name : str
        Jupyter kernel to run in (``"python3"`` is this Python when ipykernel is installed).

    Returns
    -------
    GradeResult

    Examples
    --------
    >>> result = grade("alice/a1_speedup_ensembles.ipynb",
    ...                "notebooks/assignments/source/a1_speedup_ensembles.ipynb")  # doctest: +SKIP
    >>> print(result.summary())  # doctest: +SKIP
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    sub_path = _check_path("submission", submission)
    src_path = _check_path("source", source)
    timeout = _check_timeout(timeout)
    if not isinstance(kernel_name, str) or not kernel_name:
        raise TypeError(f"kernel_name must be a non-empty string, got {kernel_name!r}")
    sub_nb = _read(sub_path, "submission")
    src_nb = _read(src_path, "source")
    nb, where, grades = _prepare(sub_nb, src_nb, str(src_path))
    result = GradeResult(str(sub_path), str(src_path), list(grades.values()))

    start = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix="plsim-grade-")
    runner = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, allow_errors=True,
                            interrupt_on_timeout=True, resources={"metadata": {"path": workdir}})
    seen: dict[int, Any] = {}

    def remember(**_: Any) -> None:  # the kernel's processes (e.g. Dask workers), to stop any it leaves behind
        for p in _kernel_descendants(runner.km):
            seen.setdefault(p.pid, p)

    runner.on_cell_executed = remember
    try:
        km = runner.create_kernel_manager()
        km.connection_file = os.path.join(workdir, "kernel-connection.json")  # not in the shared runtime dir
        try:
            runner.execute()
        except (DeadKernelError, CellTimeoutError) as exc:
            result.error = f"the run stopped early: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    finally:
        _kill(seen.values())
        shutil.rmtree(workdir, ignore_errors=True)
    result.seconds = time.perf_counter() - start

    for grade_id, index in where.items():
        _score(grades[grade_id], nb.cells[index])
    return result


def _score(g: CellGrade, cell: Any) -> None:
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        g.status, g.earned = "failed", 0.0
        g.error_name = str(errors[0].get("ename", ""))
        g.error_message = str(errors[0].get("evalue", ""))
        g.reason = f"{g.error_name}: {g.error_message}".strip().rstrip(":")
    elif cell.get("execution_count") is None:
        g.status, g.earned = "not run", 0.0
        g.reason = "the cell did not run (the kernel stopped before it)"
    else:
        g.status, g.earned, g.reason = "passed", g.points, ""


def grade_folder(submissions: PathLike, source: PathLike, *, timeout: float = 300.0) -> list[GradeResult]:
    """Grade every notebook below a folder of submissions, one after another.

    Parameters
    ----------
    submissions : str or Path
        Folder searched recursively for ``.ipynb`` files (e.g. one sub-folder per student).
    source : str or Path
        One solution notebook that every submission is graded against, or a folder
        of solution notebooks: then each submission is graded against the solution
        with the same file name.
    timeout : float
        Seconds each cell may run.

    Returns
    -------
    list of GradeResult
        In path order; see :func:`write_csv` for one table.
    """
    sub_dir = _check_path("submissions", submissions)
    src = _check_path("source", source)
    _check_timeout(timeout)
    if not sub_dir.is_dir():
        raise ValueError(f"submissions={str(sub_dir)!r} is not a folder")
    paths = _notebooks_in(sub_dir)
    if not paths:
        raise ValueError(f"submissions={str(sub_dir)!r} holds no .ipynb notebooks")
    if src.is_dir():
        solutions = {p.name: p for p in _notebooks_in(src)}
        unmatched = sorted({p.name for p in paths} - set(solutions))
        if unmatched:
            raise ValueError(f"no solution notebook in source={str(src)!r} is named {unmatched}; "
                             f"available: {sorted(solutions)}")
        return [grade(p, solutions[p.name], timeout=timeout) for p in paths]
    return [grade(p, src, timeout=timeout) for p in paths]


def write_csv(results: Sequence[GradeResult], path: PathLike) -> Path:
    """One row per submission: ``submission, source, <grade_id>..., total, max_total``.

    Columns are the union of the grade ids, in order of first appearance.
    """
    out = _check_path("path", path)
    if not results or not all(isinstance(r, GradeResult) for r in results):
        raise TypeError("results must be a non-empty sequence of GradeResult (from grade or grade_folder)")
    ids: list[str] = []
    for r in results:
        ids += [c.grade_id for c in r.cells if c.grade_id not in ids]
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["submission", "source", *ids, "total", "max_total"])
        for r in results:
            earned = {c.grade_id: _fmt(c.earned) for c in r.cells}
            writer.writerow([r.submission, r.source, *(earned.get(i, "") for i in ids),
                             _fmt(r.total), _fmt(r.max_total)])
    return out

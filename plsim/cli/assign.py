"""``plsim assign``: a thin convenience over nbgrader's own commands for plsim's course folder.

::

    plsim assign release                 # nbgrader generate_assignment a1, a2, a3 --force
    plsim assign grade a2 --jobs 2       # nbgrader autograde a2, one process per student, 2 at a time,
                                         # then nbgrader generate_feedback a2, then print the scores

Everything is done by nbgrader (its command line and :class:`nbgrader.api.Gradebook`); this module only
finds the course folder (``notebooks/assignments``, the folder holding ``nbgrader_config.py``) and runs one
``nbgrader autograde --student`` per submission in parallel, which nbgrader does not do by itself. Install
nbgrader with ``pip install -e '.[instructor]'``. The guide is ``docs/instructors.md``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["add_arguments", "run", "course_dir", "nbgrader", "autograde", "add_students", "scores"]

# The course folder in a checkout of this repository.
DEFAULT_COURSE = Path(__file__).resolve().parents[2] / "notebooks" / "assignments"


def course_dir(path: str | Path | None = None) -> Path:
    """The nbgrader course folder: ``path``, else the current folder or this checkout's ``notebooks/assignments``.

    Raises ValueError unless the folder holds ``nbgrader_config.py``.
    """
    candidates = [Path(path)] if path is not None else [Path.cwd(), DEFAULT_COURSE]
    for candidate in candidates:
        if (candidate / "nbgrader_config.py").is_file():
            return candidate.resolve()
    raise ValueError(f"no nbgrader course folder (with nbgrader_config.py) at {', '.join(map(str, candidates))}; "
                     "give one with --course")


def nbgrader(course: Path, *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course folder (``python -m nbgrader`` of this interpreter)."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, check=check,
                          capture_output=capture, text=True)


def autograde(course: Path, assignment: str, students: list[str] | None = None, *, jobs: int = 1,
              timeout: float | None = None) -> dict[str, int]:
    """``nbgrader autograde ASSIGNMENT --student S --force`` for every submission, ``jobs`` at a time.

    Each student is graded by its own nbgrader process (so each submission gets its own kernel, and one
    that crashes nbgrader does not stop the others); returns ``{student: exit status}``.
    """
    if jobs < 1:
        raise ValueError(f"jobs={jobs!r}: give at least 1")
    if students is None:
        students = sorted(p.parent.name for p in (course / "submitted").glob(f"*/{assignment}") if p.is_dir())
    extra = [f"--Execute.timeout={int(timeout)}"] if timeout is not None else []

    def one(student: str) -> int:
        return nbgrader(course, "autograde", assignment, "--student", student, "--force", *extra,
                        check=False, capture=True).returncode

    add_students(course, students)  # first, so this run's nbgrader processes never race to add them
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(zip(students, pool.map(one, students)))


def add_students(course: Path, students: list[str]) -> None:
    """Add each student to the gradebook unless already there.

    Another grader (``plsim assign grade a3`` in a second terminal, or nbgrader itself) may add the same
    student between nbgrader's look-up and its insert; the insert then fails on the unique id, and the
    student is there, which is all this asks.
    """
    from nbgrader.api import Gradebook, InvalidEntry
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in students:
            try:
                gb.update_or_create_student(student)
            except InvalidEntry:  # nbgrader has rolled back; fail loudly unless the other writer added it
                gb.find_student(student)


def scores(course: Path, assignment: str) -> dict[str, tuple[float, float, bool]]:
    """``{student: (score, max_score, needs_manual_grade)}`` from nbgrader's gradebook."""
    from nbgrader.api import Gradebook
    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(assignment):
            out[sub.student_id] = (sub.score, sub.max_score, sub.needs_manual_grade)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", help="the nbgrader course folder (default: the current folder if it holds "
                        "nbgrader_config.py, else notebooks/assignments)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    rel = actions.add_parser("release", help="nbgrader generate_assignment --force (student copies in release/)")
    rel.add_argument("assignments", nargs="*", help="assignment names (default: every folder in source/)")
    grd = actions.add_parser("grade", help="nbgrader autograde every submission in submitted/*/ASSIGNMENT, then "
                             "generate_feedback, then print the scores")
    grd.add_argument("assignment")
    grd.add_argument("--jobs", type=int, default=1, help="submissions graded at the same time (default 1)")
    grd.add_argument("--timeout", type=float, help="seconds a cell may run (default: nbgrader_config.py's)")


def run(args: argparse.Namespace) -> int:
    course = course_dir(args.course)
    if args.action == "release":
        names = args.assignments or sorted(p.name for p in (course / "source").iterdir() if p.is_dir())
        for name in names:
            nbgrader(course, "generate_assignment", name, "--force")
        return 0
    start = time.perf_counter()
    status = autograde(course, args.assignment, jobs=args.jobs, timeout=args.timeout)
    if not status:
        raise ValueError(f"no submissions in {course / 'submitted'}/*/{args.assignment}")
    nbgrader(course, "generate_feedback", args.assignment, "--force", capture=True)
    print(f"graded {len(status)} submission(s) of {args.assignment} in {time.perf_counter() - start:.0f} s")
    for student, (score, max_score, manual) in sorted(scores(course, args.assignment).items()):
        note = "" if status.get(student, 0) == 0 else "  (nbgrader failed: see its log)"
        note += "  + written answers to grade by hand" if manual else ""
        print(f"{student:<20} {score:5.1f} / {max_score:.0f}{note}")
    return 0 if all(code == 0 for code in status.values()) else 1

"""``plsim assign``: a thin convenience over nbgrader for plsim's course folder.

::

    plsim assign release                 # nbgrader generate_assignment a1, a2, a3 --force
    plsim assign grade a2 --jobs 2       # nbgrader's autograde and generate_feedback of every submission,
                                         # 2 at a time, in forked copies of one process; then the scores,
                                         # each with its log file (logs/a2/<student>.log)

Everything is done by nbgrader (its command line, :class:`nbgrader.apps.NbGraderAPI` and
:class:`nbgrader.api.Gradebook`), configured by the course's ``nbgrader_config.py`` — which is where the
sandbox and the grader-side checks come in (:mod:`plsim.grading`), so ``nbgrader autograde`` and the
Formgrader's *Autograde* button grade exactly as this command does. What this command adds: nbgrader is loaded
once and each submission is graded in a forked copy of that process (several at a time), which spares every
submission nbgrader's own start-up, and the log of each submission is kept in a file and named in the table.
Install nbgrader with ``pip install -e '.[instructor]'``. The guide is ``docs/instructors.md``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

__all__ = ["add_arguments", "run", "course_dir", "nbgrader", "autograde", "add_students", "scores", "log_path",
           "interpreter_env"]

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


def interpreter_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` with this interpreter's bin folder first on PATH.

    nbgrader runs ``alembic`` by name when it creates a gradebook, so ``.venv/bin/plsim assign release`` without
    an activated environment failed with ``FileNotFoundError: 'alembic'``.
    """
    env = dict(os.environ if environ is None else environ)
    bin_dir = str(Path(sys.executable).parent)
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    env["PATH"] = os.pathsep.join([bin_dir] + [p for p in parts if p != bin_dir])
    return env


def nbgrader(course: Path, *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course folder (``python -m nbgrader`` of this interpreter)."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, check=check,
                          capture_output=capture, text=True, env=interpreter_env())


def log_path(course: Path, assignment: str, student: str) -> Path:
    """Where the log of one submission's grading is kept: ``logs/<assignment>/<student>.log``."""
    return course / "logs" / assignment / f"{student}.log"


def _api(course: Path, timeout: float | None):
    """nbgrader's API on the course folder, configured by its nbgrader_config.py (as nbgrader's commands are)."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    if timeout is not None:
        config.SandboxedExecute.timeout = int(timeout)
    return NbGraderAPI(config=config)


_WORKER_API = None


def _init_worker(course: Path, timeout: float | None) -> None:
    global _WORKER_API
    import warnings

    from sqlalchemy.exc import SAWarning
    # nbgrader 0.9.6 trips SQLAlchemy's autoflush warnings when it creates a submission (harmless, its own code);
    # six of them per new submission would bury this command's table.
    warnings.filterwarnings("ignore", category=SAWarning, module=r"nbgrader\.")
    _WORKER_API = _api(course, timeout)


def _grade_one(course: Path, assignment: str, student: str, feedback: bool) -> tuple[bool, float]:
    """In a forked grader: nbgrader's autograde of one submission, then its feedback; the log goes to
    :func:`log_path`."""
    start = time.perf_counter()
    result = _WORKER_API.autograde(assignment, student, force=True, create=True)
    text = result.get("log", "") + (("\n" + result["error"]) if result.get("error") else "")
    ok = bool(result.get("success"))
    if ok and feedback:
        made = _WORKER_API.generate_feedback(assignment, student, force=True)
        text += "\n" + made.get("log", "") + (("\n" + made["error"]) if made.get("error") else "")
        ok = bool(made.get("success"))
    path = log_path(course, assignment, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return ok, time.perf_counter() - start


def autograde(course: Path, assignment: str, students: list[str] | None = None, *, jobs: int = 1,
              timeout: float | None = None, feedback: bool = True) -> dict[str, int]:
    """nbgrader's autograde of every submission (``submitted/*/ASSIGNMENT``), ``jobs`` at a time, then (with
    ``feedback``) nbgrader's generate_feedback of each.

    nbgrader and the course's configuration are loaded once; each submission is graded in a forked copy of this
    process, so one that crashes nbgrader does not stop the others. ``timeout`` overrides the seconds a cell may
    run. Returns ``{student: 0 if graded else 1}``; every submission's log is in :func:`log_path`.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs={jobs!r}: give at least 1")
    if students is None:
        students = sorted(p.parent.name for p in (course / "submitted").glob(f"*/{assignment}") if p.is_dir())
    if not students:
        return {}
    os.environ["PATH"] = interpreter_env()["PATH"]  # nbgrader's gradebook creation runs alembic by name
    add_students(course, students)  # first, so the graders never race to add them
    context = multiprocessing.get_context("fork")
    status = {}
    with ProcessPoolExecutor(max_workers=min(jobs, len(students)), mp_context=context, initializer=_init_worker,
                             initargs=(course, timeout)) as pool:
        futures = {s: pool.submit(_grade_one, course, assignment, s, feedback) for s in students}
        for student, future in futures.items():
            try:
                ok, _seconds = future.result()
            except Exception as exc:  # the forked grader itself died (killed, out of memory)
                log_path(course, assignment, student).parent.mkdir(parents=True, exist_ok=True)
                with log_path(course, assignment, student).open("a") as file:
                    file.write(f"\nthe grading process failed: {type(exc).__name__}: {exc}\n")
                ok = False
            status[student] = 0 if ok else 1
    return status


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
    grd = actions.add_parser("grade", help="nbgrader's autograde and generate_feedback of every submission in "
                             "submitted/*/ASSIGNMENT (sandboxed, see docs/instructors.md), then the scores")
    grd.add_argument("assignment")
    grd.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)),
                     help="submissions graded at the same time (default: the CPU count)")
    grd.add_argument("--timeout", type=float, help="seconds a cell may run (default: nbgrader_config.py's)")


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(args: argparse.Namespace) -> int:
    course = course_dir(args.course)
    if args.action == "release":
        names = args.assignments or sorted(p.name for p in (course / "source").iterdir() if p.is_dir())
        for name in names:
            nbgrader(course, "generate_assignment", name, "--force")
        return 0
    start, cpu = time.perf_counter(), _cpu_seconds()
    status = autograde(course, args.assignment, jobs=args.jobs, timeout=args.timeout)
    if not status:
        raise ValueError(f"no submissions in {course / 'submitted'}/*/{args.assignment}")
    print(f"graded {len(status)} submission(s) of {args.assignment} in {time.perf_counter() - start:.0f} s "
          f"({_cpu_seconds() - cpu:.0f} CPU s; feedback in {course / 'feedback'}, logs in "
          f"{course / 'logs' / args.assignment})")
    table = scores(course, args.assignment)
    for student in sorted(set(table) | set(status)):
        score, max_score, manual = table.get(student, (0.0, 0.0, False))
        note = "" if status.get(student, 0) == 0 else \
            f"  (not graded: see {log_path(course, args.assignment, student).relative_to(course)})"
        note += "  + written answers to grade by hand" if manual else ""
        print(f"{student:<20} {score:5.1f} / {max_score:.0f}{note}")
    return 0 if all(code == 0 for code in status.values()) else 1

"""Grading time of a class: N worked solutions of an assignment, graded with `plsim assign grade`, cold and warm.

Run:  python benchmarks/bench_grading.py [a1 a2 a3] [--students 10] [--jobs 2]

For each assignment this makes a fresh copy of the course folder (notebooks/assignments) in a temporary folder,
generates the student copies with nbgrader, hands in N copies of the worked solution, and runs
``plsim assign grade A --jobs J`` twice in a new process each time: "cold" is the first grading of the new course
(the gradebook is created, nothing graded before), "warm" the second (regrading the same submissions). It prints
the wall-clock seconds and the CPU seconds of the command (its own, its forked graders', the sandboxed kernels'
and clusters'), and CPU / J, the wall time the command would take on J otherwise idle CPUs if the work spread
evenly over them. Target (issue 21): 10 submissions of any assignment in <= 60 s on 2 CPUs, cold. On a shared
machine the wall-clock figure is inflated by the other jobs (see the load average printed); the CPU figure much
less so.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COURSE = Path(__file__).resolve().parent.parent / "notebooks" / "assignments"
NOTEBOOKS = {"a1": "a1_speedup_ensembles", "a2": "a2_federated_learning", "a3": "a3_distributed_training"}
DELIMITER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


def make_class(root: Path, assignment: str, students: int) -> Path:
    """A course copy with ``students`` submissions of the worked solution of ``assignment``."""
    import nbformat

    course = root / "course"
    course.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", course)
    shutil.copytree(COURSE / "source" / assignment, course / "source" / assignment)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force"], cwd=course,
                   check=True, capture_output=True)
    name = f"{NOTEBOOKS[assignment]}.ipynb"
    source = nbformat.read(course / "source" / assignment / name, as_version=4)
    answers = {c.metadata.nbgrader["grade_id"]: "\n".join(line for line in c.source.splitlines()
                                                         if not DELIMITER.match(line))
               for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(course / "release" / assignment / name, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    for i in range(students):
        folder = course / "submitted" / f"student{i:02d}" / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / name)
    return course


def grade(course: Path, assignment: str, jobs: int) -> tuple[float, float, str]:
    """Wall and CPU seconds of one `plsim assign grade` (a new process), and the first student's score."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "plsim", "assign", "--course", str(course), "grade", assignment,
                          "--jobs", str(jobs)], capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if run.returncode != 0:
        raise RuntimeError(f"plsim assign grade failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    first = run.stdout.splitlines()[1].split()  # "student00  13.0 / 15  + written answers ..."
    return wall, cpu, f"{first[1]} / {first[3]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", default=list(NOTEBOOKS))
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs seen, {len(os.sched_getaffinity(0))} usable; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'':4} {'run':5} {'wall (s)':>9} {'CPU (s)':>8} {'CPU / jobs':>11}   first score")
    for assignment in args.assignments:
        with tempfile.TemporaryDirectory(prefix="plsim-bench-grading-") as tmp:
            course = make_class(Path(tmp), assignment, args.students)
            for label in ("cold", "warm"):
                wall, cpu, score = grade(course, assignment, args.jobs)
                print(f"{assignment:4} {label:5} {wall:9.1f} {cpu:8.1f} {cpu / args.jobs:11.1f}   {score}")
    print(f"load average afterwards {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

"""``plsim assign``: release student copies of the assignments and grade submissions.

::

    plsim assign release notebooks/assignments/source notebooks/assignments/release
    plsim assign grade alice/a1_speedup_ensembles.ipynb --source notebooks/assignments/source
    plsim assign grade submissions/ --source notebooks/assignments/source --csv grades.csv

The work is done by :mod:`plsim.assignments`; the assignments are in
``notebooks/assignments/``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["add_arguments", "run", "CSV_NAME"]

# The file --csv writes inside a folder it is given.
CSV_NAME = "plsim-grades.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    rel = actions.add_parser("release", help="write student copies (solutions, hidden tests and outputs removed)")
    rel.add_argument("source", help="a solution notebook or a folder of them")
    rel.add_argument("dest", help="the student copy (.ipynb) or a folder for the copies")
    grd = actions.add_parser("grade", help="run a submission (or a folder of them) and score its graded cells")
    grd.add_argument("submission", help="a student's notebook, or a folder searched for notebooks")
    grd.add_argument("--source", required=True,
                     help="the solution notebook, or a folder of them matched by file name")
    grd.add_argument("--timeout", type=float, default=300.0, help="seconds each cell may run (default 300)")
    grd.add_argument("--json", action="store_true", help="print machine-readable JSON")
    grd.add_argument("--csv", metavar="PATH",
                     help=f"also write one row per submission to this CSV file (or to FOLDER/{CSV_NAME} when given an "
                     "existing folder); checked before grading starts")


def run(args: argparse.Namespace) -> int:
    from plsim import assignments
    from plsim.cli import check_output_file, check_output_location

    # Output paths are checked before any work (grading runs every notebook, which takes minutes).
    if args.action == "release":
        check_output_location("dest", args.dest)
        for path in assignments.release(args.source, args.dest):
            print(f"wrote {path}")
        return 0
    csv_path = check_output_file("--csv", args.csv, default_name=CSV_NAME) if args.csv else None
    submission, source = Path(args.submission), Path(args.source)
    if submission.is_dir():
        results = assignments.grade_folder(submission, source, timeout=args.timeout)
    else:
        if source.is_dir():
            source = source / submission.name
        results = [assignments.grade(submission, source, timeout=args.timeout)]
    if args.json:
        payload = [r.to_dict() for r in results]
        json.dump(payload if submission.is_dir() else payload[0], sys.stdout, indent=2)
        print()
    else:
        print("\n\n".join(r.summary() for r in results))
    if csv_path is not None:  # after the grades are printed, so a late failure (disk full) loses none
        sys.stdout.flush()
        print(f"wrote {assignments.write_csv(results, csv_path)}", file=sys.stderr)
    return 0

"""Write the student edition of the course: what students open, without anything only instructors may see.

The repository holds the instructors' assignment sources (``notebooks/assignments/source/``: worked solutions
and hidden tests) next to the lessons. A Binder or nbgitpuller link to the repository itself would copy those
sources into every student's home. The student edition is the part students need, taken from one commit:

* the library (``plsim/``, ``pyproject.toml``) and Binder's configuration (``binder/``), so Binder and
  ``pip install`` work from it as from the repository;
* the lesson notebooks (``notebooks/*.ipynb``) and their exercises' worked solutions (``notebooks/solutions/``,
  loaded on demand with ``%load``; ``--without-lesson-solutions`` leaves them out);
* the student copies of the assignments that nbgrader generated (``notebooks/assignments/release/``);
* the README (with a note saying what this edition is) and the images it shows.

Never: ``notebooks/assignments/source/``, the nbgrader course configuration, a gradebook or any submission,
the grader's checks (``plsim/grading/``: they compute the assignments' reference answers), the tests, the
instructors' guide. Files come from a commit (``--ref``, default ``HEAD``) through ``git
archive``, so nothing that was never committed (a gradebook, ``submitted/``) can be copied by accident; the
result is checked (:func:`problems`) before it is written.

Run from the repository root::

    python docs/make_student_edition.py /tmp/student          # write the edition into a folder
    python docs/make_student_edition.py --branch student      # commit it onto the branch "student"

``--branch`` adds one commit on top of the branch (created on the first run) and touches neither the work
tree, the index nor HEAD; it never rewrites the branch, so students' nbgitpuller copies keep updating. Push it
with ``git push origin student`` (``.github/workflows/student-edition.yml`` does both on every push to main).
Only the standard library is needed.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What the edition holds (fnmatch patterns over committed paths; "*" also matches "/").
INCLUDE = (
    "README.md",
    "pyproject.toml",
    ".gitignore",
    "binder/*",
    "plsim/*",
    "notebooks/[0-9][0-9]_*.ipynb",
    "notebooks/solutions/*",
    "notebooks/assignments/release/*",
    "docs/screenshot.png",
    "docs/figures/*",
)
LESSON_SOLUTIONS = "notebooks/solutions/*"
# Never in the edition, whatever INCLUDE says (checked again on the written files by `problems`).
EXCLUDE = (
    "notebooks/assignments/source/*",
    "*gradebook.db*",
    "*/submitted/*",
    "*/autograded/*",
    "*/feedback/*",
    "*nbgrader_config.py",
    "tests/*",
    "docs/instructors.md",
    # The grader's side of the assignments: its checks compute the reference answers.
    "plsim/grading/*",
)
# nbgrader's delimiters at the start of a line: a solution or a hidden test that was not removed.
DELIMITER = re.compile(r"^\s*#+\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)\b", re.M)

NOTE = """> **Student edition.** This branch is generated from the course's main branch by
> `docs/make_student_edition.py`: the library, the lessons with their exercises' worked solutions, and the
> student copies of the assignments (`notebooks/assignments/release/`). It holds no assignment sources,
> assignment solutions, hidden tests or gradebook, and no tests or instructors' guide. Do not edit it here:
> every change to the main branch is published to it as a new commit.
"""


def _git(repo: Path, *args: str, env: dict | None = None, data: bytes | None = None) -> bytes:
    run = subprocess.run(["git", *args], cwd=repo, env=env, input=data, capture_output=True)
    if run.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {run.stderr.decode(errors='replace').strip()}")
    return run.stdout


def _matches(path: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def select(paths: list[str], *, lesson_solutions: bool = True) -> list[str]:
    """The paths of a commit that belong in the student edition, in order."""
    keep = [p for p in paths if _matches(p, INCLUDE) and not _matches(p, EXCLUDE)]
    if not lesson_solutions:
        keep = [p for p in keep if not fnmatch.fnmatchcase(p, LESSON_SOLUTIONS)]
    return keep


def student_readme(text: str) -> str:
    """The README with the student-edition note under its title."""
    title, sep, rest = text.partition("\n")
    return f"{title}{sep}\n{NOTE}{rest}" if title.startswith("# ") else f"{NOTE}\n{text}"


def write(dest: Path, *, repo: Path = ROOT, ref: str = "HEAD", lesson_solutions: bool = True) -> list[str]:
    """Write the edition of commit ``ref`` into the empty or missing folder ``dest``; return its files.

    Raises ValueError if ``dest`` is not empty or if the written edition has a problem (:func:`problems`).
    """
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"dest={str(dest)!r} is not empty: give a new or empty folder")
    listed = _git(repo, "ls-tree", "-r", "-z", "--name-only", ref).decode().split("\0")
    files = select([p for p in listed if p], lesson_solutions=lesson_solutions)
    if "README.md" not in files or not any(p.startswith("plsim/") for p in files):
        raise ValueError(f"ref={ref!r} of {repo} has no README.md or plsim/: not this course's repository")
    archive = _git(repo, "archive", "--format=tar", ref, "--", *files)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    readme = dest / "README.md"
    readme.write_text(student_readme(readme.read_text(encoding="utf-8")), encoding="utf-8")
    found = problems(dest)
    if found:
        raise ValueError("the student edition would hold instructors' material:\n  " + "\n  ".join(found))
    return files


def _notebook_problems(path: Path, rel: str) -> list[str]:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"{rel}: not a readable notebook ({exc})"]
    out = []
    for i, cell in enumerate(nb.get("cells", [])):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if DELIMITER.search(source):
            out.append(f"{rel} cell {i}: an nbgrader solution or hidden-test delimiter")
        if cell.get("outputs"):
            out.append(f"{rel} cell {i}: stored outputs")
    return out


def problems(dest: Path) -> list[str]:
    """What in the folder ``dest`` must not reach students (an empty list when there is nothing).

    A folder named ``source`` under ``notebooks/assignments``, nbgrader's course configuration, a gradebook,
    submissions, autograded copies or feedback, the tests, the instructors' guide; a notebook cell or a text
    file with a line that starts with nbgrader's ``### BEGIN SOLUTION`` / ``### BEGIN HIDDEN TESTS`` (or END).
    """
    dest = Path(dest)
    out = []
    for path in sorted(dest.rglob("*")):
        rel = path.relative_to(dest).as_posix()
        if rel == ".git" or rel.startswith(".git/"):
            continue
        if _matches(rel, EXCLUDE) or _matches(rel + "/*", EXCLUDE):  # an excluded file, or a folder of them
            out.append(f"{rel}: instructors' material")
            continue
        if not path.is_file():
            continue
        if path.suffix == ".ipynb":
            out += _notebook_problems(path, rel)
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # images
        if DELIMITER.search(text):
            out.append(f"{rel}: a line starting with an nbgrader solution or hidden-test delimiter")
    return out


def commit_to_branch(branch: str, *, repo: Path = ROOT, ref: str = "HEAD",
                     lesson_solutions: bool = True) -> str | None:
    """Commit the edition of ``ref`` onto ``branch`` (one new commit on top of it); return the commit, or None
    when the branch already holds exactly this edition.

    Uses a temporary index: the work tree, the repository's index and HEAD are left alone.
    """
    source = _git(repo, "rev-parse", "--verify", f"{ref}^{{commit}}").decode().strip()
    parent = subprocess.run(["git", "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}"], cwd=repo,
                            capture_output=True, text=True).stdout.strip() or None
    with tempfile.TemporaryDirectory(prefix="student-edition-") as tmp:
        folder = Path(tmp) / "edition"
        write(folder, repo=repo, ref=source, lesson_solutions=lesson_solutions)
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        for role in ("AUTHOR", "COMMITTER"):  # a CI runner has no git identity; keep the user's if set
            env.setdefault(f"GIT_{role}_NAME", "plsim student edition")
            env.setdefault(f"GIT_{role}_EMAIL", "student-edition@plsim.invalid")
        _git(repo, f"--work-tree={folder}", "add", "-A", "-f", ".", env=env)  # -f: .gitignore drops nothing
        tree = _git(repo, "write-tree", env=env).decode().strip()
    if parent is not None and _git(repo, "rev-parse", f"{parent}^{{tree}}").decode().strip() == tree:
        return None
    message = (f"Student edition of {source[:12]}\n\nWritten by docs/make_student_edition.py from {source}: "
               "no assignment sources, hidden tests or gradebook.\n")
    args = ["commit-tree", tree, *(["-p", parent] if parent else [])]
    commit = _git(repo, *args, env=env, data=message.encode()).decode().strip()
    _git(repo, "update-ref", f"refs/heads/{branch}", commit, *([parent] if parent else []))
    return commit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("dest", nargs="?", help="a new or empty folder to write the edition into")
    where.add_argument("--branch", help="commit the edition onto this branch instead (e.g. student)")
    parser.add_argument("--ref", default="HEAD", help="the commit to take the files from (default HEAD)")
    parser.add_argument("--repo", default=str(ROOT), help="the repository (default: this checkout)")
    parser.add_argument("--without-lesson-solutions", action="store_true",
                        help="leave out notebooks/solutions/ (the lessons' %%load cells then fail)")
    args = parser.parse_args(argv)
    repo, keep = Path(args.repo), not args.without_lesson_solutions
    try:
        if args.branch:
            commit = commit_to_branch(args.branch, repo=repo, ref=args.ref, lesson_solutions=keep)
            print(f"branch {args.branch}: " + (f"new commit {commit[:12]}" if commit else "already up to date"))
        else:
            files = write(Path(args.dest), repo=repo, ref=args.ref, lesson_solutions=keep)
            print(f"wrote the student edition of {args.ref} ({len(files)} files) to {args.dest}")
    except (ValueError, RuntimeError) as exc:
        print(f"make_student_edition: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

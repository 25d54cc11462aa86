"""Each notebook executed once per profile per test session, shared by every test that reads the run.

The Binder profile (``tests/_binder_profile.py``: ``binder/start``, one CPU, 2 GiB, ``PLSIM_SMALL=1``) is
the expensive run a notebook's executed outputs come from. Several tests need those outputs:

* ``tests/test_binder_profile.py``: it ran, within 2 GiB, key points restate the run; and the French
  notebooks' key numbers match their English twins' (both runs come from here, each executed once);
* ``tests/test_browser.py``: opens the executed copy in JupyterLab and runs only the cells its widgets need.

:func:`binder_run` executes a notebook the first time it is asked for and returns the same
:class:`~_binder_profile.ProfileRun` afterwards, whatever test asks. The first request executes every notebook
the session's selected tests will ask for (``tests/conftest.py`` announces them after collection), two at a
time, each pinned to its own CPU. Every course notebook that ran without an
error is also written, outputs kept, to ``build/executed/en/`` or ``build/executed/fr/`` (the book reads them
there instead of executing them again; see :func:`executed_path`). The assignments' source copies are never
written there: they hold the solutions.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from _binder_profile import ROOT, ProfileRun, run_notebook

EXECUTED = ROOT / "build" / "executed"
NOTEBOOKS = ROOT / "notebooks"
FRENCH = NOTEBOOKS / "fr"

__all__ = ["EXECUTED", "assignment_sources", "binder_run", "course_notebooks", "english_twin", "executed_path",
           "is_course_notebook", "stamp", "want"]

_RUNS: dict[Path, ProfileRun] = {}
_WANTED: list[Path] = []  # what this session's selected tests will ask for (see want())


def want(paths) -> None:
    """Announce notebooks the selected tests will ask :func:`binder_run` for (``tests/conftest.py`` does, after
    collection), so that the first request executes them all, several at once."""
    for path in paths:
        path = Path(path).resolve()
        if path not in _WANTED:
            _WANTED.append(path)


def _run_all(paths: list[Path]) -> None:
    """Execute ``paths`` under the Binder profile, one per CPU at a time, each pinned to its own CPU.

    Every run still has one CPU to itself (its kernel and its Dask workers are pinned to it), as on Binder; two
    runs side by side on two CPUs are two students on one host. Runs are started longest-first (by file size)
    so that the two CPUs finish together.
    """
    from concurrent.futures import ThreadPoolExecutor
    from queue import Queue

    cpus: Queue[int] = Queue()
    for cpu in sorted(os.sched_getaffinity(0))[:2]:
        cpus.put(cpu)

    def one(path: Path) -> None:
        cpu = cpus.get()
        try:
            _RUNS[path] = _record(path, run_notebook(path, cpu=cpu))
        finally:
            cpus.put(cpu)

    with ThreadPoolExecutor(max_workers=cpus.qsize()) as pool:
        for future in [pool.submit(one, p) for p in sorted(paths, key=lambda p: -p.stat().st_size)]:
            future.result()


def _record(path: Path, run: ProfileRun) -> ProfileRun:
    if run.executed is not None and is_course_notebook(path):
        out = executed_path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(stamp(run.executed, path), indent=1, ensure_ascii=False) + "\n")
    return run


def course_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The numbered lessons of ``folder`` (``notebooks/`` or ``notebooks/fr/``)."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def assignment_sources(folder: Path = NOTEBOOKS) -> list[Path]:
    """The assignments' solution copies under ``folder`` (``notebooks/`` or ``notebooks/fr/``)."""
    return sorted((folder / "assignments" / "source").glob("*/*.ipynb"))


def is_course_notebook(path: Path) -> bool:
    path = Path(path).resolve()
    return path.parent in (NOTEBOOKS, FRENCH) and path in course_notebooks(path.parent)


def english_twin(path: Path) -> Path:
    """The English notebook a French one is generated from (same code cells)."""
    return NOTEBOOKS / Path(path).resolve().relative_to(FRENCH)


def executed_path(path: Path) -> Path:
    """Where the executed copy of a course notebook goes: ``build/executed/<en|fr>/<name>.ipynb``."""
    path = Path(path).resolve()
    return EXECUTED / ("fr" if path.parent == FRENCH else "en") / path.name


def stamp(executed: dict, source: Path) -> dict:
    """Record in the executed notebook what it was executed from, so a reader can refuse a stale copy."""
    source = Path(source).resolve()
    executed.setdefault("metadata", {})["plsim_executed"] = {
        "profile": "binder",
        "source": str(source.relative_to(ROOT)),
        "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
    }
    return executed


def binder_run(path: Path) -> ProfileRun:
    """The Binder-profile run of ``path``: executed on first use in this session (with every other notebook
    announced by :func:`want` and not yet run, side by side), then reused."""
    path = Path(path).resolve()
    if path not in _RUNS:
        _run_all([path] + [p for p in _WANTED if p not in _RUNS and p != path])
    return _RUNS[path]

"""Shared fixtures: one 2-worker and one 1-worker cluster for the tests that only need *a* cluster; which
notebooks the session executes under the Binder profile (once each, tests/_executed.py)."""

from __future__ import annotations

import os

import pytest

# Plots render off-screen in tests.
os.environ.setdefault("MPLBACKEND", "Agg")


def _session_cluster(n_workers: int):
    import plsim

    c = plsim.start_cluster(n_workers=n_workers, threads_per_worker=1, memory_limit=2 * 2**30, processes=True,
                            quiet=True, set_as_default=False)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="session")
def client():
    """A 2-worker LocalCluster shared by the whole session, closed at the end.

    Not Dask's default client (``set_as_default=False``): tests of
    ``start_cluster`` itself (which replaces the default cluster it started
    when asked for a different one) cannot close it under other tests, and
    ``executor="auto"`` does not pick it up unless a test starts a cluster.
    """
    yield from _session_cluster(2)


@pytest.fixture(scope="session")
def one_worker_client():
    """A 1-worker, 1-thread LocalCluster (Binder's size) shared by the whole session, closed at the end; not the
    default client either."""
    yield from _session_cluster(1)


@pytest.fixture(scope="session")
def generated_course(tmp_path_factory):
    """A copy of the course folder (notebooks/assignments) with nbgrader's student copies of every assignment,
    generated once per session as an instructor does (``nbgrader generate_assignment A --force``).

    Returns ``(course, {assignment: nbgrader's stderr})``: tests/test_assignments.py compares the copies with
    the committed ones, tests/test_nbgrader_grading.py grades submissions in copies of this folder.
    """
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("nbgrader", reason="nbgrader is in the instructor extra: pip install -e '.[instructor]'")
    source = Path(__file__).resolve().parents[1] / "notebooks" / "assignments"
    course = tmp_path_factory.mktemp("generated") / "course"
    shutil.copytree(source / "source", course / "source")
    shutil.copy(source / "nbgrader_config.py", course)
    stderr = {}
    for a in sorted(p.name for p in (course / "source").iterdir()):
        run = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", a, "--force"], cwd=course,
                             check=True, capture_output=True, text=True)
        stderr[a] = run.stderr
    return course, stderr


# Test files whose tests share one session-wide product, and so must run in the same process when the suite
# runs on several (pytest-xdist): the Binder-profile runs of the notebooks (tests/_executed.py; the book is
# built from their executed copies) and the course nbgrader generated (the ``generated_course`` fixture).
_SHARED = {"test_binder_profile": "binder-runs", "test_browser": "binder-runs", "test_book": "binder-runs",
           "test_assignments": "generated-course", "test_nbgrader_grading": "generated-course"}


# Units of work that take longest (in one process, measured), handed out first so that the two processes end
# together; the others follow in collection order.
_LONGEST_FIRST = ["binder-runs", "generated-course", "tests/test_federated_lessons.py", "tests/test_executor.py",
                  "notebooks/05_collectives_compression_pipelines.ipynb", "notebooks/03_federated_learning.ipynb",
                  "tests/test_gallery.py", "tests/test_cluster_quiet.py", "notebooks/01_speedup.ipynb",
                  "tests/test_worker_kill_ensembles.py", "tests/test_session_cluster.py",
                  "notebooks/04_distributed_training.ipynb", "tests/test_worker_kill_training.py"]


def _unit_of_work(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return _SHARED.get(path.rsplit("/", 1)[-1].removesuffix(".py"), path)


def pytest_xdist_make_scheduler(config, log):
    """With several processes (pytest-xdist): one unit of work per test file (a notebook's cells share its
    kernel, a module its fixtures), but for the files that share a session-wide product (``_SHARED``), which
    go together; units go out in the order the processes collected them (see below)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByFileAndSharedProduct(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit_of_work(nodeid)

    config.option.loadscopereorder = False  # xdist would otherwise put the units with most tests first
    return ByFileAndSharedProduct(config, log)


def pytest_collection_modifyitems(items):
    """In a pytest-xdist worker, collect the longest units first (every worker collects the same order, which
    the scheduler keeps); a single-process run keeps pytest's order."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        rank = {unit: i for i, unit in enumerate(_LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(_unit_of_work(item.nodeid), len(rank)))


def pytest_collection_finish(session):
    """Announce the notebooks the selected tests (after ``-k``/``-m``) will want executed under the Binder profile
    (tests/_executed.py then executes them all at the first request, side by side), and only those."""
    from pathlib import Path

    import _executed

    wanted = []
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        module = item.module.__name__ if getattr(item, "module", None) else ""
        if module == "test_binder_profile" and "path" in params:
            wanted.append(params["path"])
            if _executed.FRENCH in Path(params["path"]).resolve().parents:
                wanted.append(_executed.english_twin(params["path"]))
        elif module == "test_browser" and "notebook" in params:
            path = item.module.NOTEBOOKS / params["notebook"]
            if path.resolve().parent == _executed.NOTEBOOKS:
                wanted.append(path)
    _executed.want(wanted)


_WORKER_RECORDS: list[dict] = []  # Binder-profile records the worker processes sent back (pytest-xdist)


def _binder_records() -> list[dict]:
    try:
        from test_binder_profile import RECORDS
    except ImportError:
        return []
    return RECORDS


def pytest_sessionfinish(session):
    """In a pytest-xdist worker: send the Binder-profile records back to the main process, which prints them."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["binder_records"] = _binder_records()


def pytest_testnodedown(node, error):
    _WORKER_RECORDS.extend(getattr(node, "workeroutput", {}).get("binder_records", []))


def pytest_terminal_summary(terminalreporter):
    """Print the Binder-profile figures (wall time, peak memory per notebook) when they were measured."""
    records = _binder_records() + _WORKER_RECORDS
    if not records:
        return
    write = terminalreporter.write_line
    terminalreporter.section("Binder profile: 1 CPU, MEM_LIMIT 2 GiB (measured; two notebooks at a time, one per CPU)")
    write(f"{'notebook':55s} {'wall s':>7s} {'peak MiB':>9s}  result")
    for r in records:
        write(f"{r['notebook']:55s} {r['seconds']:7.1f} {r['peak_mib']:9d}  {'ok' if r['returncode'] == 0 else 'FAILED'}")

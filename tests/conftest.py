"""Shared fixtures: one 2-worker cluster for the tests that only need *a* cluster."""

from __future__ import annotations

import os

import pytest

# Plots render off-screen in tests.
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def client():
    """A 2-worker LocalCluster shared by the whole session, closed at the end.

    Not Dask's default client (``set_as_default=False``): tests of
    ``start_cluster`` itself (which replaces the default cluster it started
    when asked for a different one) cannot close it under other tests, and
    ``executor="auto"`` does not pick it up unless a test starts a cluster.
    """
    import plsim

    c = plsim.start_cluster(n_workers=2, threads_per_worker=1, memory_limit=2 * 2**30, processes=True,
                            quiet=True, set_as_default=False)
    try:
        yield c
    finally:
        c.close()


def pytest_terminal_summary(terminalreporter):
    """Print the Binder-profile figures (wall time, peak memory per notebook) when they were measured."""
    try:
        from test_binder_profile import RECORDS
    except ImportError:
        return
    if not RECORDS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("Binder profile: 1 CPU, MEM_LIMIT 2 GiB (measured)")
    write(f"{'notebook':55s} {'wall s':>7s} {'peak MiB':>9s}  result")
    for r in RECORDS:
        write(f"{r['notebook']:55s} {r['seconds']:7.1f} {r['peak_mib']:9d}  {'ok' if r['returncode'] == 0 else 'FAILED'}")

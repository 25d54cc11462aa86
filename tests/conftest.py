"""Shared fixtures: one 2-worker cluster for the tests that only need *a* cluster."""

from __future__ import annotations

import os

import pytest

# Plots render off-screen in tests.
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def client():
    """A 2-worker plsim LocalCluster shared by the whole session, closed at the end."""
    import plsim

    with plsim.start_cluster(n_workers=2, quiet=True) as c:
        yield c
    plsim.close_cluster()

"""Every notebook and every assignment solution runs as Binder gives it: one CPU, 2 GiB.

Each is executed top to bottom through ``binder/start`` with the CPU affinity
pinned to one CPU, ``CPU_LIMIT=1`` and ``MEM_LIMIT=2 GiB`` (see
``tests/_binder_profile.py``). A cell that raises fails the test; so does a peak
resident memory of the kernel plus its Dask workers at or above 2 GiB. The wall
time and peak memory of each are printed at the end of the pytest run and
written to ``test-artifacts/binder_profile.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict

import pytest

from _binder_profile import MEM_LIMIT, ROOT, run_notebook
from _notebook_numbers import key_point_cells, key_points_not_from_run

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
    (ROOT / "notebooks" / "assignments" / "source").glob("*/*.ipynb"))
ARTIFACT = ROOT / "test-artifacts" / "binder_profile.json"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity to pin one CPU"),
]

RECORDS: list[dict] = []


def test_the_profile_covers_every_notebook_and_solution():
    assert len([p for p in NOTEBOOKS if "assignments" not in p.parts]) >= 6
    assert len([p for p in NOTEBOOKS if "assignments" in p.parts]) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_under_the_binder_profile(path):
    run = run_notebook(path)
    record = {k: v for k, v in asdict(run).items() if k != "executed"}
    RECORDS.append({**record, "peak_mib": round(run.peak_mib)})
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(json.dumps(RECORDS, indent=1))
    assert run.returncode == 0, f"{run.notebook} failed on one CPU with 2 GiB:\n{run.error}"
    assert run.peak_bytes > 0, "the memory sampler saw no kernel process"
    assert run.peak_bytes < MEM_LIMIT, f"{run.notebook} peaked at {run.peak_mib:.0f} MiB, over Binder's 2 GiB"
    if "assignments" not in path.parts:
        # Key points restate the run: each number they print was printed earlier in this same run.
        assert key_point_cells(run.executed), f"{run.notebook} has no cell tagged 'key-points'"
        assert key_points_not_from_run(run.executed) == [], (
            f"{run.notebook}: key points print numbers no earlier output showed on one CPU")

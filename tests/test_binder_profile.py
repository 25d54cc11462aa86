"""Every notebook and every assignment solution runs as Binder gives it: one CPU, 2 GiB; both editions.

Each is executed top to bottom through ``binder/start`` with the CPU affinity
pinned to one CPU, ``CPU_LIMIT=1`` and ``MEM_LIMIT=2 GiB`` (see
``tests/_binder_profile.py``), once per test session (``tests/_executed.py``: the
browser test and the book reuse these runs). A cell that raises fails the test; so
does a peak resident memory of the kernel plus its Dask workers at or above 2 GiB.
The French edition (``notebooks/fr/``, same code cells, French text and library
messages) runs under this profile only (nbval's full-size run leaves it out), and
the key numbers each French lesson prints must be its English twin's.
The wall time and peak memory of each are printed at the end of the pytest run and
written to ``test-artifacts/binder_profile.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict

import pytest

from _binder_profile import MEM_LIMIT, ROOT
from _executed import FRENCH, NOTEBOOKS as ENGLISH, assignment_sources, binder_run, course_notebooks, english_twin
from _notebook_numbers import key_number_differences, key_point_cells, key_numbers, key_points_not_from_run

NOTEBOOKS = (course_notebooks(ENGLISH) + assignment_sources(ENGLISH)
             + course_notebooks(FRENCH) + assignment_sources(FRENCH))
FRENCH_LESSONS = course_notebooks(FRENCH)
ARTIFACT = ROOT / "test-artifacts" / "binder_profile.json"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity to pin one CPU"),
]

RECORDS: list[dict] = []


def _id(path) -> str:
    return str(path.relative_to(ENGLISH))


def test_the_profile_covers_every_notebook_and_solution():
    english = [p for p in NOTEBOOKS if FRENCH not in p.parents]
    assert len([p for p in english if "assignments" not in p.parts]) >= 6
    assert len([p for p in english if "assignments" in p.parts]) >= 3
    # Every French notebook has its English twin (nothing in notebooks/fr escapes the profile's run).
    assert all(english_twin(p).is_file() for p in NOTEBOOKS if FRENCH in p.parents)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_runs_under_the_binder_profile(path):
    run = binder_run(path)
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


@pytest.mark.parametrize("path", FRENCH_LESSONS, ids=_id)
def test_french_key_numbers_are_the_english_runs(path):
    """Same code, data and seeds: the French run's key points print the English run's numbers (timings aside)."""
    french, english = binder_run(path), binder_run(english_twin(path))  # both already run above, once each
    if french.executed is None or english.executed is None:
        pytest.fail(f"{_id(path)} or its English twin did not run under the Binder profile (see above)")
    assert key_numbers(english.executed), f"{english.notebook}: no key number that does not depend on timing"
    assert key_number_differences(english.executed, french.executed) == []

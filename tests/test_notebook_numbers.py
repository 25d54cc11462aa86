"""The course's prose quotes no typed results; key points are printed from the run.

The executed-run half of the check (every number a key-points cell prints was
printed earlier in the same run) is in ``tests/test_binder_profile.py``, which
executes each notebook anyway.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _notebook_numbers import (key_number_differences, key_numbers, key_point_cells, key_points_not_from_run,
                               typed_results)

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_typed_results_in_markdown(path):
    assert typed_results(json.loads(path.read_text())) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_key_points_cell_printed_by_code(path):
    nb = json.loads(path.read_text())
    cells = key_point_cells(nb)
    assert len(cells) == 1, f"{path.name}: expected one code cell tagged 'key-points', found {len(cells)}"
    assert "{" in "".join(nb["cells"][cells[0]]["source"]), "key points must be formatted from the run's variables"


def _cell(kind, source, outputs=(), tags=()):
    cell = {"cell_type": kind, "source": source, "metadata": {"tags": list(tags)}}
    if kind == "code":
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": t} for t in outputs]
    return cell


def test_the_checks_can_fail():
    typed = {"cells": [_cell("markdown", "Stacking wins by 3.2 % and runs 1.9x faster."),
                       _cell("markdown", "**Exercise 1.** A program spends 10 % of its time in serial code."),
                       _cell("markdown", "A model with `64 × 10` weights; $S = 95\\%$."),
                       _cell("markdown", "## Key points\n* rounds took 12 s")]}
    assert [i for i, _ in typed_results(typed)] == [0, 0, 3]
    run = {"cells": [_cell("code", "", ["speedup 1.87x, 42 rounds\n"]),
                     _cell("code", "", ["* 1.87x speedup, 42 rounds, 0.93 accuracy\n"], tags=["key-points"])]}
    assert key_points_not_from_run(run) == [(1, "0.93")]


def test_key_numbers_leave_out_timings_and_catch_a_changed_number():
    def run(accuracy, seconds, speedup):
        text = (f"* Bagging scored {accuracy} with 16 members (test accuracy).\n"
                f"* The fits took {seconds} s on the cluster (measured), {speedup}x faster.\n"
                f"* Local SGD sent {speedup}x fewer bytes: 42 kB,\n  parameters equal to 3.1e-16.\n")
        return {"cells": [{"cell_type": "code", "source": "", "metadata": {"tags": ["key-points"]},
                           "outputs": [{"output_type": "display_data", "data": {"text/markdown": text}}]}]}
    english, french = run("0.912", "1.20", "1.9"), run("0.912", "2.75", "1.4")
    assert key_numbers(english) == [("* Bagging scored # with # members (test accuracy).", ["0.912", "16"]),
                                    ("* Local SGD sent #x fewer bytes: # kB, parameters equal to #.", ["42"])]
    assert key_number_differences(english, french) == []  # only timings and ratios differ
    translated = run("0.912", "2.75", "1.4")
    translated["cells"][0]["outputs"][0]["data"]["text/markdown"] = english["cells"][0]["outputs"][0]["data"][
        "text/markdown"].replace("Bagging scored", "Le bagging a obtenu")
    assert key_number_differences(english, translated) == []  # the words may be translated
    changed = key_number_differences(english, run("0.905", "1.20", "1.9"))
    assert changed and "0.912" in changed[0] and "0.905" in changed[0]
    # A measurement decided an item's wording: no number in one run, a measured one in the other.
    noisy = run("0.912", "1.20", "1.9")
    noisy["cells"][0]["outputs"][0]["data"]["text/markdown"] += "* This run could not separate the two.\n"
    measured = run("0.912", "1.20", "1.9")
    measured["cells"][0]["outputs"][0]["data"]["text/markdown"] += "* Shipping cost +0.27 s more (measured).\n"
    assert key_number_differences(noisy, measured) == []

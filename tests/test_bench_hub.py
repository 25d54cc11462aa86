"""The pure parts of benchmarks/bench_hub.py: sizes, flag counting on a hand-made executed notebook, the table.

The benchmark itself runs notebooks for minutes and measures a shared machine; it is run by hand
(``python benchmarks/bench_hub.py``), never in the test suite.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("bench_hub", ROOT / "benchmarks" / "bench_hub.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_hub"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


hub = _load()

SUSPECT = ("Suspect: well below the predicted 1.80x; the CPUs were probably busy with other work (check the load) "
           "or a straggler held the last wave (see the timeline).")
OTHER = "it did not, so other programs used the CPUs during the run."


def _executed() -> dict:
    """An executed notebook as nbconvert writes one, with flags in outputs and in places that must not count."""
    nb = new_notebook(cells=[
        # Markdown quotes a flag to explain it: not an output, not counted.
        new_markdown_cell("The notebook prints **Suspect:** when other programs used the CPUs."),
        new_code_cell("print(reading)", outputs=[
            new_output("stream", name="stdout", text="measured 0.65x\n" + SUSPECT + "\n")]),
        # A rich output: the same sentence in plain text and in HTML counts once.
        new_code_cell("result", outputs=[new_output("execute_result", execution_count=2, data={
            "text/plain": "Implausible: 2.30x is above the ideal 2x. " + OTHER,
            "text/html": "<p><b>Implausible</b>: 2.30x is above the ideal 2x. " + OTHER + "</p>"})]),
        # Source that mentions a flag, output that does not.
        new_code_cell('print("Suspect" if bad else "fine")', outputs=[
            new_output("stream", name="stdout", text="fine\n")]),
        new_code_cell("display(md)", outputs=[new_output("display_data", data={
            "text/markdown": "The repeats disagree by 40% of their median: a noisy machine; rerun. Were the CPUs "
                             "busy? " + OTHER})]),
        new_code_cell("1/0", outputs=[new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                                 traceback=[])]),
    ])
    nbformat.validate(nb)
    return nbformat.from_dict(nb)


def test_flags_are_counted_in_outputs_only_once_per_output():
    flags, errors = hub.count_flags(_executed())
    assert flags == {"suspect": 1, "implausible": 1, "other programs": 2, "noisy machine": 1, "CPUs busy": 2}
    assert errors == 1


def test_a_clean_notebook_has_no_flags():
    nb = new_notebook(cells=[new_code_cell("x", outputs=[new_output("stream", name="stdout", text="1.92x\n")])])
    assert hub.count_flags(nb) == ({}, 0)


def test_every_flag_pattern_matches_a_sentence_plsim_prints():
    # Each pattern must match text the library really emits, or it would count nothing.
    sources = "\n".join(p.read_text() for p in (ROOT / "plsim" / "speedup").glob("*.py"))
    sources += (ROOT / "plsim" / "exercises" / "speedup.py").read_text()
    sources += (ROOT / "plsim" / "plots" / "training.py").read_text()
    for name, pattern in hub.FLAGS.items():
        assert pattern.search(sources), f"flag {name!r} ({pattern.pattern}) matches nothing plsim prints"


def _run(k, student, notebook, seconds, peak_mib, flags=None, returncode=0):
    return hub.NotebookRun(k, student, notebook, seconds, int(peak_mib * 2**20), returncode, flags or {})


def test_summary_and_table():
    runs = [_run(1, 0, "notebooks/00_start_here.ipynb", 15.2, 640),
            _run(2, 0, "notebooks/00_start_here.ipynb", 20.0, 700, {"suspect": 1}),
            _run(2, 1, "notebooks/00_start_here.ipynb", 31.0, 655, {"suspect": 2, "other programs": 1}),
            _run(2, 0, "notebooks/01_speedup.ipynb", 50.0, 800, returncode=1)]
    rows = hub.summarize(runs)
    assert [(r.k, r.notebook, r.students, r.failed) for r in rows] == [
        (1, "notebooks/00_start_here.ipynb", 1, 0), (2, "notebooks/00_start_here.ipynb", 2, 0),
        (2, "notebooks/01_speedup.ipynb", 1, 1)]
    assert rows[1].median_seconds == pytest.approx(25.5) and rows[1].max_seconds == 31.0
    assert rows[1].peak_mib == pytest.approx(700) and rows[1].flags == {"suspect": 3, "other programs": 1}
    table = hub.format_table(rows).splitlines()
    assert table[0].startswith("| students at once | notebook |") and table[1].startswith("|---|")
    assert table[2] == "| 1 | `00_start_here` | 1 (0) | 15 / 15 | 640 | none |"
    assert table[3] == "| 2 | `00_start_here` | 2 (0) | 26 / 31 | 700 | suspect 3, other programs 1 |"
    assert table[4] == "| 2 | `01_speedup` | 1 (1) | 50 / 50 | 800 | none |"


@pytest.mark.parametrize("text, expected", [("2GiB", 2 * 2**30), ("1.5G", int(1.5 * 2**30)), ("512MiB", 2**29),
                                            ("2147483648", 2**31), ("64 kb", 2**16)])
def test_sizes(text, expected):
    assert hub.parse_size(text) == expected


@pytest.mark.parametrize("text", ["two", "-1GiB", "0", "2 GiBs", ""])
def test_bad_sizes_are_refused(text):
    with pytest.raises(ValueError, match="size="):
        hub.parse_size(text)


def test_student_environment_is_a_pod_of_its_own(tmp_path):
    base = {"PATH": "/bin", "PLSIM_SMALL": "1", "DASK_SCHEDULER_ADDRESS": "tcp://elsewhere:8786"}
    env = hub.student_environment(cpus=1, mem_bytes=2**31, small=False, runtime_dir=tmp_path, base=base)
    assert env["CPU_LIMIT"] == "1" and env["MEM_LIMIT"] == str(2**31) and env["PLSIM_SESSION_CLUSTER"] == "1"
    assert env["JUPYTER_RUNTIME_DIR"] == str(tmp_path) and "{port}" in env["DASK_DISTRIBUTED__DASHBOARD__LINK"]
    assert "PLSIM_SMALL" not in env and "DASK_SCHEDULER_ADDRESS" not in env and env["PATH"] == "/bin"
    assert base["PLSIM_SMALL"] == "1"  # the caller's mapping is not changed
    small = hub.student_environment(cpus=2, mem_bytes=2**30, small=True, runtime_dir=tmp_path, base=base)
    assert small["PLSIM_SMALL"] == "1" and small["CPU_LIMIT"] == "2"

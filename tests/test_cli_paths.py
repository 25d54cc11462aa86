"""Output paths of the ``plsim`` command are checked before any work, and every exit status is what --help says.

The benchmark and the grader are replaced by stand-ins that fail if called, so a path error
that came after the work would fail these tests (and they stay fast).
"""

from __future__ import annotations

import os
import socket
import sys

import pytest

from plsim.cli import bench, main

FAST = ["--members", "2", "--samples", "100", "--repeats", "1", "--workers", "1", "--no-joblib"]


def _no_work(*args, **kwargs):
    raise AssertionError("the work started although an output path was bad")


@pytest.fixture
def no_bench(monkeypatch):
    monkeypatch.setattr(bench, "run_bench", _no_work)


@pytest.fixture
def fake_bench(monkeypatch):
    """run_bench returns at once; the table and the figure are small stand-ins (the real figure is tested in
    test_bench.py). Returns the list of paths the figure was saved to."""
    from matplotlib.figure import Figure

    saved = []

    def figure(out):
        fig = Figure(figsize=(1, 1))
        real_savefig = fig.savefig

        def savefig(path, **kwargs):
            saved.append(path)
            real_savefig(path, **kwargs)

        fig.savefig = savefig
        return fig

    monkeypatch.setattr(bench, "run_bench", lambda cfg, **progress: {"fake": True})
    monkeypatch.setattr(bench, "format_table", lambda out: "THE TABLE")
    monkeypatch.setattr(bench, "_figure", figure)
    return saved


def _one_line_error(capsys, *parts: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for part in parts:
        assert part in err, err
    return err


# -- plsim bench --plot: bad paths are refused before the benchmark starts -------------------------
def _plot_path(where, tmp_path):
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("x")
    return {
        "missing folder": tmp_path / "no" / "such" / "x.png",
        "folder is a file": a_file / "x.png",
        "unknown extension": tmp_path / "x.xyz",
        "no extension": tmp_path / "speedup",
        "unwritable folder": "/proc/plsim-speedup.png",  # no one may create files there, not even root
    }[where]


@pytest.mark.parametrize(("where", "message"), [
    ("missing folder", "does not exist"),
    ("folder is a file", "is a file, not a folder"),
    ("unknown extension", "the extension '.xyz' is not a format matplotlib can write"),
    ("no extension", "no extension is not a format matplotlib can write"),
    pytest.param("unwritable folder", "cannot be written",
                 marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")),
])
def test_bad_plot_path_is_one_line_exit_2_and_nothing_runs(where, message, tmp_path, no_bench, capsys):
    path = _plot_path(where, tmp_path)
    assert main(["bench", *FAST, "--plot", str(path)]) == 2
    err = _one_line_error(capsys, "plsim bench: error: --plot", repr(str(path)), message)
    if "extension" in where:
        assert ".png" in err and ".pdf" in err and ".svg" in err  # what is allowed


def test_unwritable_folder_for_a_normal_user(tmp_path, no_bench, capsys):
    if os.name != "posix" or os.geteuid() == 0:
        pytest.skip("root may write to any folder whatever its mode")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert main(["bench", *FAST, "--plot", str(locked / "x.png")]) == 2
    finally:
        locked.chmod(0o700)
    _one_line_error(capsys, "--plot", "cannot be written")


def test_plot_into_a_folder_writes_a_named_file_and_prints_its_path(tmp_path, fake_bench, capsys):
    folder = tmp_path / "figs"
    folder.mkdir()
    assert main(["bench", *FAST, "--plot", str(folder)]) == 0
    written = folder / bench.PLOT_NAME
    captured = capsys.readouterr()
    assert written.read_bytes().startswith(b"\x89PNG")
    assert f"wrote {written}" in captured.err
    assert not (tmp_path / "figs.png").exists()  # the old behaviour: "wrote figs", but figs.png written
    assert captured.out.strip() == "THE TABLE"


@pytest.mark.parametrize(("name", "magic"), [("speedup.pdf", b"%PDF"), ("speedup.SVG", b"<?xml")])
def test_plot_extension_picks_the_format(name, magic, tmp_path, fake_bench, capsys):
    assert main(["bench", *FAST, "--plot", str(tmp_path / name)]) == 0
    assert (tmp_path / name).read_bytes().startswith(magic)
    assert f"wrote {tmp_path / name}" in capsys.readouterr().err


# -- every exit status of `plsim bench` ----------------------------------------------------------------
def test_exit_1_when_the_figure_cannot_be_written_after_the_run_and_results_are_kept(
        tmp_path, fake_bench, monkeypatch, capsys):
    class DiskFull:
        def savefig(self, path, **kwargs):
            raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(bench, "_figure", lambda out: DiskFull())
    assert main(["bench", *FAST, "--plot", str(tmp_path / "x.png")]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == "THE TABLE"  # printed before the figure was attempted
    err = captured.err.strip()
    assert "\n" not in err and err.startswith("plsim bench: error:") and "No space left on device" in err


def test_exit_130_on_interrupt(monkeypatch, capsys):
    def interrupted(cfg, **progress):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "run_bench", interrupted)
    assert main(["bench", *FAST]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_exit_2_for_a_bad_value_and_for_an_unknown_option(no_bench, capsys):
    assert main(["bench", "--members", "0"]) == 2
    _one_line_error(capsys, "plsim bench: error: members=0")
    with pytest.raises(SystemExit) as exc:  # argparse's own usage errors
        main(["bench", "--no-such-option"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_exit_2_for_an_unreachable_scheduler(capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["bench", "--address", f"tcp://127.0.0.1:{port}", "--members", "2", "--samples", "100",
                 "--repeats", "1", "--no-joblib"]) == 2
    assert "no Dask scheduler answered" in capsys.readouterr().err


def test_help_documents_the_exit_status(capsys):
    for argv in (["--help"], ["bench", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "exit status:" in out
        for code in ("0 ", "1 ", "2 ", "130 "):
            assert f"\n  {code}" in out, out
    assert "There is no speedup target" in out  # bench: a slow measurement is a result, not a failure

"""The shared widget frame: Run / Stop / progress / validation behave the same for every topic."""

from __future__ import annotations

import threading

import ipywidgets as w
import pytest
from matplotlib.figure import Figure

from plsim.widgets._panel import RunPanel, figure_to_png


def _figure(value: float) -> Figure:
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [0, value])
    return fig


def _panel(work, validate=None):
    controls = {"n": w.IntSlider(value=3, min=1, max=10, description="n"),
                "kind": w.Dropdown(options=["a", "b"], value="a", description="kind")}
    return RunPanel("Test panel", controls, work, validate=validate)


def test_run_reports_progress_draws_and_finishes():
    def work(params, report):
        for i in range(params["n"]):
            report.progress(i + 1, params["n"], f"step {i + 1}")
            report.figure(_figure(i))
        report.html("<b>done</b>")
        return params["n"] * 10

    panel = _panel(work)
    assert all(not c.continuous_update for c in panel.controls.values() if hasattr(c, "continuous_update"))
    panel.run(block=True)
    assert panel.result == 30
    assert panel.figures_drawn == 3 and bytes(panel.image.value).startswith(b"\x89PNG")
    assert panel.progress.value == panel.progress.max == 3
    assert panel.status.value == "Done." and panel.details.value == "<b>done</b>"
    assert not panel.run_button.disabled and panel.stop_button.disabled
    assert panel.widget.panel is panel


def test_validation_message_instead_of_a_traceback():
    calls = []
    panel = _panel(lambda p, r: calls.append(p), validate=lambda p: "n must be even" if p["n"] % 2 else None)
    panel.run(block=True)
    assert calls == [] and "n must be even" in panel.message.value
    assert panel.status.value.startswith("Not started")
    panel.controls["n"].value = 4
    panel.run(block=True)
    assert calls == [{"n": 4, "kind": "a"}] and panel.message.value == ""


def test_errors_in_work_are_shown_and_the_panel_stays_usable():
    def work(params, report):
        raise ValueError("members must be >= 2")

    panel = _panel(work)
    panel.run(block=True)
    assert isinstance(panel.error, ValueError)
    assert "members must be >= 2" in panel.message.value
    assert panel.status.value.startswith("Failed") and not panel.run_button.disabled


def test_stop_ends_background_work_and_stays_visible():
    started, release = threading.Event(), threading.Event()
    seen = []

    def work(params, report):
        for i in range(100):
            if report.stopped:
                return i
            report.progress(i, 100)
            seen.append(report._panel.status.value)
            started.set()
            release.wait(0.01)
        return 100

    panel = _panel(work)
    panel.run()
    assert started.wait(10)
    panel.stop()
    panel.wait(10)
    assert not panel.running and panel.result < 100
    assert panel.status.value == "Stopped."


def test_stopping_message_survives_progress_updates():
    panel = _panel(lambda p, r: None)
    panel._stop_event.set()
    from plsim.widgets._panel import Report

    Report(panel).progress(2, 5, "round 2")
    assert panel.status.value.startswith("Stopping") and "round 2" in panel.status.value


def test_figure_to_png_is_a_png():
    assert figure_to_png(_figure(1.0)).startswith(b"\x89PNG")


def test_running_twice_while_busy_is_ignored():
    gate = threading.Event()
    panel = _panel(lambda p, r: gate.wait(10))
    panel.run()
    panel.run()  # a second click while running must not start a second job
    gate.set()
    panel.wait(10)
    assert panel.status.value == "Done."


@pytest.mark.parametrize("css", ["plsim-panel", "plsim-run", "plsim-stop", "plsim-progress", "plsim-figure"])
def test_parts_carry_stable_css_classes(css):
    panel = _panel(lambda p, r: None)
    parts = [panel.widget, panel.run_button, panel.stop_button, panel.progress, panel.image]
    assert any(css in part._dom_classes for part in parts)


def test_widgets_resolve_auto_to_a_cluster_they_start_when_there_is_none():
    import plsim
    from plsim.executor import Dask, Sequential
    from plsim.widgets._panel import widget_executor

    assert isinstance(widget_executor(None), Sequential)
    assert plsim.current_client() is None
    try:
        ex = widget_executor("auto")
        assert isinstance(ex, Dask) and ex.client is plsim.current_client()
        assert widget_executor("auto").client is ex.client  # the second Run reuses it
    finally:
        plsim.close_cluster()
    assert plsim.current_client() is None

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
    # the reason is the status itself (one place), not "fix the value above" with the reason elsewhere
    assert calls == [] and "Not started: n must be even" in panel.status.value and panel.message.value == ""
    panel.controls["n"].value = 4
    panel.run(block=True)
    assert calls == [{"n": 4, "kind": "a"}] and panel.message.value == "" and panel.status.value == "Done."


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
    # a work that does not say what it kept: the status names the last step shown, not a bare "Stopped."
    assert panel.status.value == f"<b>Stopped</b> at {panel.result - 1}/100; the output shows what had finished."
    assert panel.progress.value == panel.result - 1 < panel.progress.max


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


def test_a_fresh_panel_shows_no_image_until_the_first_figure():
    # An ipywidgets Image with no PNG is drawn by the browser as a broken-image icon.
    def work(params, report):
        report.figure(_figure(1.0))

    panel = _panel(work)
    assert panel.image.layout.display == "none" and bytes(panel.image.value) == b""
    assert "appear here" in panel.note.value
    panel.run(block=True)
    assert panel.image.layout.display is None and bytes(panel.image.value).startswith(b"\x89PNG")


def test_a_refused_run_says_why_in_the_status_and_marks_the_previous_result():
    def work(params, report):
        report.progress(params["n"], params["n"], "last step")
        report.html(f"<p>n was {params['n']}</p>")
        report.figure(_figure(params["n"]))

    panel = _panel(work, validate=lambda p: "n must be at most 5" if p["n"] > 5 else None)
    panel.run(block=True)
    assert panel.progress.value == panel.progress.max == 3
    panel.controls["n"].value = 9
    panel.run(block=True)
    assert panel.status.value == "<span style='color:#b00020'>Not started: n must be at most 5</span>"
    assert panel.message.value == "" and panel.progress.value == 0  # no full bar for a run that did not start
    # the result of the n=3 run stays, labelled as the previous run, with what differs
    assert panel.details.value == "<p>n was 3</p>"
    assert "previous run" in panel.note.value and "was not started" in panel.note.value
    assert "n: 3 → 9" in panel.note.value


def test_the_note_says_which_settings_the_result_belongs_to():
    panel = _panel(lambda p, r: None)
    panel.run(block=True)
    assert "Result of the run with</b> n: 3; kind: a" in panel.note.value and "⚠" not in panel.note.value
    panel.controls["kind"].value = "b"
    assert "The controls have changed since: kind: a → b" in panel.note.value
    panel.controls["kind"].value = "a"
    assert "⚠" not in panel.note.value


def test_a_control_changed_during_a_run_is_said_and_not_used():
    started, release = threading.Event(), threading.Event()
    seen = []

    def work(params, report):
        started.set()
        release.wait(10)
        seen.append(params["n"])

    panel = _panel(work)
    panel.run()
    assert started.wait(10)
    panel.controls["n"].value = 7  # moved while the run works
    assert "Running with</b> n: 3" in panel.note.value
    assert "Changed during this run: n: 3 → 7" in panel.note.value and "keeps the values it started with" \
        in panel.note.value
    release.set()
    panel.wait(10)
    assert seen == [3]  # the run used the value it started with ...
    assert "Result of the run with</b> n: 3" in panel.note.value  # ... and the panel still says so
    assert "The controls have changed since: n: 3 → 7" in panel.note.value


def test_stopped_status_says_what_the_work_kept():
    def work(params, report):
        report.progress(2, 5, "step 2")
        report._panel.stop()  # Stop clicked during step 3
        report.finish("kept the 2 of 5 steps that finished; 3 dropped", complete=False)

    panel = _panel(work)
    panel.run(block=True)
    assert panel.status.value == "<b>Stopped</b>: kept the 2 of 5 steps that finished; 3 dropped"
    assert panel.progress.value == 2 and panel.progress.max == 5


def test_a_stop_that_came_after_the_last_step_leaves_a_complete_result_labelled_done():
    def work(params, report):
        report.progress(5, 5, "step 5")
        report._panel.stop()  # clicked while the last step was already finishing
        report.finish("5 steps", complete=True)

    panel = _panel(work)
    panel.run(block=True)
    assert panel.status.value.startswith("Done: 5 steps") and "Stop came after the last step" in panel.status.value
    assert panel.progress.value == panel.progress.max == 5
    # without finish(), a full progress bar tells the same
    panel = _panel(lambda p, r: (r.progress(4, 4), r._panel.stop()))
    panel.run(block=True)
    assert panel.status.value.startswith("Done.") and "Stop came after" in panel.status.value


def test_greyed_out_controls_say_why_in_the_panel():
    panel = _panel(lambda p, r: None)
    panel.set_inapplicable({"kind": "kind only matters for n > 5"})
    assert panel.controls["kind"].disabled and panel.controls["kind"].tooltip == "kind only matters for n > 5"
    assert "<b>kind</b>: kind only matters for n &gt; 5" in panel.why_off.value  # visible, not only a tooltip
    panel.run(block=True)
    assert "kind" not in panel.note.value  # a greyed-out control is not among the run's settings
    panel.set_inapplicable({})
    assert not panel.controls["kind"].disabled and panel.why_off.value == ""
    with pytest.raises(ValueError, match=r"no control named \['size'\]"):
        panel.set_inapplicable({"size": "?"})


def test_result_tables_keep_their_columns_apart():
    from plsim.widgets._panel import _TABLE_CSS, html_table

    table = html_table([("async PS, staleness bound 0", "0.2516"), ("local SGD, H=8", "0.2523")],
                       ("method", "final loss"))
    assert table == ("<table class='plsim-table'><tr><th>method</th><th class=num>final loss</th></tr>"
                     "<tr><td>async PS, staleness bound 0</td><td class='num'>0.2516</td></tr>"
                     "<tr><td>local SGD, H=8</td><td class='num'>0.2523</td></tr></table>")
    # the panel's style pads every result cell (JupyterLab's own table style does not reach widget HTML)
    assert ".plsim-details th,.plsim-details td{padding:2px 14px 2px 0" in _TABLE_CSS
    assert ".plsim-details .num{text-align:right" in _TABLE_CSS
    panel = _panel(lambda p, r: None)
    assert _TABLE_CSS in panel.widget.children[0].children[0].value


def test_a_stop_that_lands_after_the_run_ended_leaves_its_final_status():
    # The browser test caught it: a 0.3 s run ended, then the Stop click set "Stopping..." for good.
    panel = _panel(lambda params, report: params["n"])
    panel.run(block=True)
    final = panel.status.value
    panel.stop()
    assert panel.status.value == final
    assert not panel._stop_event.is_set()   # the next Run does not start stopped

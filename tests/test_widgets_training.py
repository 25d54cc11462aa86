"""The training widgets, driven without a browser."""

import pytest

from plsim.widgets.training import pipeline_explorer, pipeline_work, training_race, validate_race


def test_pipeline_explorer_draws_and_reports_formula():
    widget = pipeline_explorer()
    panel = widget.panel
    panel.controls["stages"].value = 4
    panel.controls["micro"].value = 8
    panel.run(block=True)
    assert panel.error is None and panel.figures_drawn == 1
    assert "0.273" in panel.details.value  # 3 / 11
    assert panel.result["bubble"] == pytest.approx(3 / 11)
    panel.controls["micro"].value = 32
    panel.run(block=True)
    assert panel.figures_drawn == 2 and panel.result["bubble"] == pytest.approx(3 / 35)


def test_pipeline_work_plain_function():
    out = pipeline_work({"stages": 2, "micro": 2, "backward_ratio": 1.0})
    assert out["bubble"] == pytest.approx(1 / 3)


def test_race_validation_message():
    assert "steps=4 must be at least H=8" in validate_race({"workers": 2, "H": 8, "steps": 4, "lr": 0.1})
    assert validate_race({"workers": 2, "H": 2, "steps": 4, "lr": 0.1}) is None


@pytest.mark.slow
def test_training_race_runs_on_cluster(client):
    widget = training_race(client=client)
    panel = widget.panel
    panel.controls["workers"].value = 2
    panel.controls["steps"].value = 8
    panel.controls["H"].value = 4
    panel.controls["staleness"].value = 1
    panel.run(block=True)
    assert panel.error is None, panel.message.value
    assert set(panel.result) == {"sync", "async", "local_sgd"}
    assert panel.figures_drawn >= 1 and "final loss" in panel.details.value
    assert panel.result["async"].info["max_clock_gap"] <= 1
    # validation shows a message instead of running
    panel.controls["steps"].value = 4
    panel.controls["H"].value = 8
    before = panel.figures_drawn
    panel.run(block=True)
    assert "must be at least H=8" in panel.message.value and panel.figures_drawn == before


@pytest.mark.slow
def test_training_race_stop(client):
    widget = training_race(client=client)
    panel = widget.panel
    panel.controls["steps"].value = 200
    panel.run()
    panel.stop()
    panel.wait(60)
    assert not panel.running
    assert panel.status.value == "Stopped."
    assert len(panel.result) < 3 or len(panel.result["sync"].steps) < 200


def test_race_titles_name_the_staleness_bound_not_the_sentinel():
    from plsim.widgets.training import UNBOUNDED, _race_figure

    titles = lambda s: [ax.get_title() for ax in _race_figure({}, {"workers": 2, "staleness": s, "H": 4}).axes]
    assert "async PS, unbounded staleness (waiting)" in titles(UNBOUNDED)
    assert "async PS, staleness <= 3 (waiting)" in titles(3)


def test_race_says_when_replicas_outnumber_the_cpus(client, monkeypatch):
    from plsim.widgets.training import _sharing_note

    monkeypatch.setenv("CPU_LIMIT", "1")
    assert "2 replicas share 1 usable CPU" in _sharing_note(2, client)
    assert _sharing_note(1, client) == ""

"""The training widgets, driven without a browser."""

import pytest

import threading

import numpy as np

from plsim.progress import Progress
from plsim.widgets.training import (pipeline_explorer, pipeline_work, race_control_states, race_work, training_race,
                                    validate_race)

RACE = {"sync": True, "async": True, "local_sgd": True, "workers": 2, "staleness": -1, "H": 2, "steps": 4,
        "lr": 0.1, "link": "home"}


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
    assert validate_race({**RACE, "local_sgd": False, "H": 8}) is None  # H does not matter without local SGD
    assert "at least one method" in validate_race({**RACE, "sync": False, "async": False, "local_sgd": False})


def test_controls_that_do_not_apply_say_why():
    assert race_control_states(RACE) == {"staleness": None, "H": None}
    states = race_control_states({**RACE, "async": False, "local_sgd": False})
    assert "only to the async parameter server" in states["staleness"] and "only to local SGD" in states["H"]
    assert "One worker" in race_control_states({**RACE, "workers": 1})["staleness"]


def _fake_runs(monkeypatch, barrier, fail=None):
    """Stand-ins for the three library functions: each waits at ``barrier`` (so they must run at the same
    time), then reports steps through its callback until the callback says stop."""
    import importlib

    from plsim.training._common import TrainingHistory

    # the modules (plsim.training.local_sgd the attribute is the function of that name)
    sync, async_ps, local_sgd = (importlib.import_module(f"plsim.training.{m}") for m in ("sync", "async_ps",
                                                                                         "local_sgd"))

    def fake(method, info):
        def run(model, X, y, *, executor, n_workers, callback, **kw):
            barrier.wait(timeout=20)
            if method == fail:
                raise ValueError(f"{method} failed")
            n = kw.get("n_steps") or kw.get("n_updates") or kw.get("n_rounds") * kw["H"]
            h = TrainingHistory(method, "measured", info={"n_workers": n_workers, **info(kw)})
            per = kw.get("H", 1)
            first = 1 if method == "sync" else 0
            h.steps, h.loss, h.bytes_sent = [first], [2.0], [100 if method == "sync" else 0]
            for s in range(first + per, n + 1, per):
                h.steps.append(s)
                h.loss.append(2.0 / (1 + s))
                h.bytes_sent.append(100)
                unit = "round" if method == "local_sgd" else "step"
                if callback(Progress(s // per, n // per, unit, loss=h.loss[-1])):
                    h.stopped_reason = "stopped"  # as the library functions flag a stop
                    break
            if method == "async":
                h.bytes_sent = h.bytes_sent[1:]  # one count per update, none for the start
                h.staleness = [1] * len(h.bytes_sent)
            h.time = [0.0] * len(h.steps)
            h.params = np.zeros(model.n_params)
            return h
        return run

    before = {"loss_kind": "global mini-batch loss before the step"}
    monkeypatch.setattr(sync, "sync_sgd", fake("sync", lambda kw: before))
    monkeypatch.setattr(async_ps, "async_sgd", fake("async", lambda kw: {}))
    monkeypatch.setattr(local_sgd, "local_sgd", fake("local_sgd", lambda kw: {"H": kw["H"]}))


class _Report:
    def __init__(self, stop_after=None):
        self.calls, self.figures, self.text, self.stop_after = 0, 0, "", stop_after

    @property
    def stopped(self):
        return self.stop_after is not None and self.calls >= self.stop_after

    def progress(self, done, total, text=""):
        self.calls += 1

    def figure(self, fig):
        self.figures += 1
        self.last = fig

    def html(self, text):
        self.text = text


def test_race_runs_the_three_methods_at_the_same_time(monkeypatch, client):
    _fake_runs(monkeypatch, threading.Barrier(3))  # one after another, the barrier would time out
    report = _Report()
    histories = race_work({**RACE, "steps": 8}, report, executor=client, redraw_every=0.05)
    assert list(histories) == ["sync", "async", "local_sgd"]
    assert all(len(h.steps) > 1 for h in histories.values())
    steps_ax, bytes_ax, time_ax = report.last.axes
    for ax in (steps_ax, bytes_ax, time_ax):
        assert len(ax.get_lines()) == 3  # a curve per method against steps, bytes and simulated time
    assert "simulated" in time_ax.get_xlabel() and "home" in time_ax.get_xlabel()
    assert "bytes" in bytes_ax.get_xlabel()
    assert "final loss" in report.text and "simulated s (home)" in report.text


def test_race_stop_stops_all_three(monkeypatch, client):
    _fake_runs(monkeypatch, threading.Barrier(3))
    histories = race_work({**RACE, "steps": 200, "H": 1}, _Report(stop_after=0), executor=client)
    assert set(histories) == {"sync", "async", "local_sgd"}
    assert all(len(h.steps) == 2 for h in histories.values())  # each stopped at its first callback


def test_race_interrupted_stops_all_three_and_returns_what_finished(monkeypatch, client):
    import concurrent.futures

    barrier = threading.Barrier(4)  # the three runs start only once the interrupt has been handled
    _fake_runs(monkeypatch, barrier)
    real_wait, calls = concurrent.futures.wait, []

    def wait_interrupted_once(*args, **kwargs):  # the kernel's interrupt lands where the race waits
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        if len(calls) == 2:
            barrier.wait(timeout=20)
        return real_wait(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "wait", wait_interrupted_once)
    report = _Report()
    with pytest.warns(UserWarning, match="race was interrupted"):
        histories = race_work({**RACE, "steps": 200, "H": 1}, report, executor=client)
    assert set(histories) == {"sync", "async", "local_sgd"}
    assert all(h.partial and h.stopped_reason == "interrupted" and len(h.steps) == 2 for h in histories.values())
    assert "interrupted at step" in report.text


def test_race_error_in_one_run_stops_the_others_and_is_raised(monkeypatch, client):
    _fake_runs(monkeypatch, threading.Barrier(3), fail="async")
    with pytest.raises(ValueError, match="async failed"):
        race_work({**RACE, "steps": 200, "H": 1}, _Report(), executor=client)


def test_race_runs_only_the_ticked_methods(monkeypatch, client):
    _fake_runs(monkeypatch, threading.Barrier(2))
    histories = race_work({**RACE, "async": False}, _Report(), executor=client)
    assert list(histories) == ["sync", "local_sgd"]


@pytest.mark.slow
def test_training_race_runs_on_cluster(client):
    widget = training_race(executor=client)
    panel = widget.panel
    assert panel.controls["workers"].max == len(client.nthreads()) == 2  # the cluster's workers, no more
    assert "start_cluster(n_workers=N)" in panel.controls["workers"].tooltip
    panel.controls["async"].value = False
    assert panel.controls["staleness"].disabled and "async" in panel.controls["staleness"].tooltip
    panel.controls["async"].value = True
    assert not panel.controls["staleness"].disabled
    panel.controls["workers"].value = 2
    panel.controls["steps"].value = 8
    panel.controls["H"].value = 4
    panel.controls["staleness"].value = 1
    panel.run(block=True)
    assert panel.error is None, panel.message.value
    assert set(panel.result) == {"sync", "async", "local_sgd"}
    assert all(h.steps and h.bytes_sent for h in panel.result.values())
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
    widget = training_race(executor=client)
    panel = widget.panel
    panel.controls["steps"].value = 200
    panel.run()
    panel.stop()
    panel.wait(60)
    assert not panel.running
    assert panel.status.value == "Stopped."
    assert len(panel.result) < 3 or len(panel.result["sync"].steps) < 200
    assert all(h.partial and h.stopped_reason == "stopped" for h in panel.result.values())
    assert "partial" in panel.details.value


def test_race_labels_name_the_staleness_bound_not_the_sentinel():
    from plsim.widgets.training import UNBOUNDED, _labels, _race_figure

    assert _labels({**RACE, "staleness": UNBOUNDED})["async"] == "async PS, unbounded staleness"
    assert _labels({**RACE, "staleness": 3})["async"] == "async PS, staleness <= 3"
    fig = _race_figure({}, {**RACE, "staleness": 3})
    assert "waiting: sync DP, async PS, staleness <= 3, local SGD, H=2" in fig._suptitle.get_text()


def test_race_says_when_replicas_outnumber_the_cpus(client, monkeypatch):
    from plsim.executor import Dask, Sequential
    from plsim.widgets.training import _sharing_note

    monkeypatch.setenv("CPU_LIMIT", "1")
    assert "2 replicas share 1 usable CPU" in _sharing_note(2, Dask(client))
    assert _sharing_note(1, Dask(client)) == ""
    assert "2 replicas share 1 usable CPU" in _sharing_note(2, Sequential())  # sequential: one CPU, this one

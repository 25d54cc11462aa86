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
        self.statuses = []

    @property
    def stopped(self):
        return self.stop_after is not None and self.calls >= self.stop_after

    def progress(self, done, total, text=""):
        self.calls += 1
        self.statuses.append((done, total, text))

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
    assert "final training loss" in report.text and "simulated s (home)" in report.text


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
    assert panel.figures_drawn >= 1 and "final training loss" in panel.details.value
    assert panel.result["async"].info["max_clock_gap"] <= 1
    # validation shows a message instead of running
    panel.controls["steps"].value = 4
    panel.controls["H"].value = 8
    before = panel.figures_drawn
    panel.run(block=True)
    assert "Not started: steps=4 must be at least H=8" in panel.status.value and panel.figures_drawn == before


@pytest.mark.slow
def test_training_race_stop(client):
    widget = training_race(executor=client)
    panel = widget.panel
    panel.controls["steps"].value = 200
    panel.run()
    panel.stop()
    panel.wait(60)
    assert not panel.running
    assert panel.status.value.startswith("<b>Stopped</b>: sync DP: kept its first ")
    assert "of 200 steps" in panel.status.value and "the other steps did not run" in panel.status.value
    assert len(panel.result) < 3 or len(panel.result["sync"].steps) < 200
    assert all(h.partial and h.stopped_reason == "stopped" for h in panel.result.values())
    assert "partial" in panel.details.value


def test_race_labels_name_the_staleness_bound_not_the_sentinel():
    from plsim.widgets.training import UNBOUNDED, _labels, _race_figure

    assert _labels({**RACE, "staleness": UNBOUNDED})["async"] == "async PS, unbounded staleness"
    assert _labels({**RACE, "staleness": 3})["async"] == "async PS, staleness bound 3"
    fig = _race_figure({}, {**RACE, "staleness": 3})
    assert "waiting: sync DP, async PS, staleness bound 3, local SGD, H=2" in fig._suptitle.get_text()


def test_race_says_when_replicas_outnumber_the_cpus(client, monkeypatch):
    from plsim.executor import Dask, Sequential
    from plsim.widgets.training import _sharing_note

    monkeypatch.setenv("CPU_LIMIT", "1")
    assert "2 replicas share 1 usable CPU" in _sharing_note(2, Dask(client))
    assert _sharing_note(1, Dask(client)) == ""
    assert "2 replicas share 1 usable CPU" in _sharing_note(2, Sequential())  # sequential: one CPU, this one


def test_race_status_counts_the_steps_completed_to_the_last(monkeypatch, client):
    # Sync records its loss before each step, so its curve ends at step 39 of 40; the status counted that.
    _fake_runs(monkeypatch, threading.Barrier(3))
    report = _Report()
    race_work({**RACE, "steps": 8, "H": 2}, report, executor=client, redraw_every=0.05)
    done, total, text = report.statuses[-1]
    assert (done, total) == (24, 24)
    assert text == ("sync DP: step 8 of 8, loss 0.222; async PS, unbounded staleness: step 8 of 8, loss 0.118; "
                    "local SGD, H=2: step 8 of 8, loss 0.222")


def test_race_table_columns_and_what_ran(monkeypatch, client):
    _fake_runs(monkeypatch, threading.Barrier(3))
    report = _Report()
    race_work({**RACE, "steps": 8, "staleness": 0}, report, executor=client, redraw_every=0.05)
    import re

    # one cell per value: "async PS, staleness bound 0" and its numbers are separate cells, not one run of text
    rows = re.findall(r"<tr>(.*?)</tr>", report.text)
    assert [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r)[:2] for r in rows] == [
        ["method", "steps per worker"], ["sync DP", "8"], ["async PS, staleness bound 0", "8"],
        ["local SGD, H=2", "8"]]
    assert "<b>Ran</b>: softmax regression on digits, sync DP, async PS, staleness bound 0, local SGD, H=2; " \
           "2 worker(s), 8 steps per worker, learning rate 0.1 (async: 0.05 per update)" in report.text


def test_race_legend_is_under_the_plots_not_on_the_curves():
    from plsim.training._common import TrainingHistory
    from plsim.widgets.training import _race_figure

    live = {k: TrainingHistory(k, "measured", steps=[0, 1, 2], loss=[2.0, 1.0, 0.5]) for k in ("sync", "async")}
    fig = _race_figure({}, {**RACE, "local_sgd": False}, live)
    assert all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["sync DP (measured)", "async PS, unbounded staleness "
                                                                                "(measured)"]
    fig.canvas.draw() if hasattr(fig.canvas, "draw") else None
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    box = legend.get_window_extent(renderer)
    assert all(box.y1 <= ax.get_window_extent(renderer).y0 for ax in fig.axes)  # entirely below every plot


def test_race_outcome_says_what_ran_and_what_a_stop_kept():
    from plsim.training._common import TrainingHistory
    from plsim.widgets.training import race_outcome

    params = {**RACE, "steps": 40, "H": 4, "local_sgd": True}
    sync = TrainingHistory("sync", "measured", steps=[1, 2, 40], loss=[2, 1, 0.3],
                           info={"n_workers": 2, "loss_kind": "global mini-batch loss before the step"})
    asy = TrainingHistory("async", "measured", steps=[0, 80], loss=[2, 0.3], info={"n_workers": 2})
    loc = TrainingHistory("local_sgd", "measured", steps=[0, 4, 8], loss=[2, 1, 0.8], stopped_reason="stopped")
    losses = {"sync": 0.25161, "async": 0.25029, "local_sgd": 0.8}
    text, complete = race_outcome({"sync": sync, "async": asy, "local_sgd": loc}, params, losses)
    assert not complete
    assert text == ("sync DP: 40 steps, final training loss 0.2516; async PS, unbounded staleness: 40 steps, final "
                    "training loss 0.2503; local SGD, H=4: kept its first 8 of 40 steps, final training loss 0.8000 "
                    "(the other steps did not run).")
    asy.steps, asy.stopped_reason = [0, 1], "stopped"  # one update of 2 workers: half a step each
    assert race_outcome({"async": asy}, params)[0] == ("async PS, unbounded staleness: kept its first 1 of 80 updates "
                                                       "(the other steps did not run).")
    loc.stopped_reason = None
    assert race_outcome({"local_sgd": loc}, params)[1]


def test_staleness_zero_is_sync_sgd_and_local_sgd_is_not():
    """Issue 20: async with staleness bound 0 and local SGD with H=8 both printed 0.252. Checked: the
    parameter server with bound 0 IS synchronous SGD (same final parameters); local SGD H=8 ends
    0.0007 higher, which a 3-decimal table rounded away. The table now prints 4 decimals of the
    full training loss of every method (sync's mini-batch loss did not compare)."""
    from plsim.data import load_dataset
    from plsim.models import SoftmaxRegression
    from plsim.widgets.training import _race_table, final_losses
    from plsim.executor import Sequential

    params = {**RACE, "staleness": 0, "H": 8, "steps": 40, "lr": 0.3}
    report = _Report()
    out = race_work(params, report, executor=None, redraw_every=0.05)
    ds = load_dataset("digits")
    model = SoftmaxRegression(ds.X_train.shape[1], ds.n_classes)
    losses = final_losses(out, model, ds)
    np.testing.assert_allclose(out["async"].params, out["sync"].params, rtol=0, atol=1e-12)
    assert losses["async"] == pytest.approx(losses["sync"], abs=1e-12)
    assert losses["local_sgd"] - losses["async"] > 2e-4  # apart, and visibly so at 4 decimals
    assert f"{losses['local_sgd']:.4f}" != f"{losses['async']:.4f}"
    assert "it is synchronous SGD, so it ends at sync DP's loss" in _race_table(out, params, 1e-4, 2, Sequential(),
                                                                              losses)

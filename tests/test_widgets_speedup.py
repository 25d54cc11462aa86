"""The speedup explorer, driven without a browser on the shared 2-worker cluster."""

from __future__ import annotations

import re

import pytest

from plsim import speedup as sp
from plsim.widgets.speedup import explore_speedup, speedup_explorer, speedup_outcome

pytestmark = pytest.mark.slow


def test_explore_speedup_measures_each_worker_count(client):
    seen, partial = [], []
    result, timeline = explore_speedup(client, workers=2, task_ms=5, n_tasks=4, data_mb=0.5, ship="scatter",
                                       callback=lambda e: seen.append((e.done, e.total)),
                                       on_partial=lambda r, tl: partial.append(r.workers))
    assert result.workers == [1, 2]
    assert partial == [[1], [1, 2]]
    assert seen[-1] == (12, 12) and [d for d, _ in seen] == list(range(1, 13))
    assert result.model.n_tasks == 4 and result.model.bytes_once == 0.5 * 2**20
    assert result.model.bytes_per_task == 0
    compute = [r.key for r in timeline if r.action == "compute"]
    # The 4 tasks, and the one task that placed the data (its lineage: Dask can re-run it on another worker).
    assert sum(k.startswith("plsim-speedup-task") for k in compute) == 4
    assert sum(k.startswith("plsim-data-data") for k in compute) == 1 and len(compute) == 5
    with pytest.raises(ValueError, match="has 2"):
        explore_speedup(client, workers=3, task_ms=1, n_tasks=1)
    with pytest.raises(ValueError, match="ship='x'"):
        explore_speedup(client, workers=1, task_ms=1, n_tasks=1, ship="x")
    with pytest.raises(ValueError, match="Dask cluster"):
        explore_speedup(None, workers=1, task_ms=1, n_tasks=1)


def test_explore_speedup_per_task_data_counts_bytes_per_task(client):
    cal = sp.Calibration(overhead_per_task=0.001, bandwidth=1e9)
    result, _ = explore_speedup(client, workers=1, task_ms=2, n_tasks=3, data_mb=1, ship="per-task",
                                calibration=cal)
    assert result.model.bytes_per_task == 2**20 and result.model.bytes_once == 0
    assert result.model.overhead_per_task == 0.001


def test_widget_run_updates_figure_progress_and_table(client):
    widget = speedup_explorer(executor=client)
    panel = widget.panel
    panel.controls["workers"].value = 2
    panel.controls["task_ms"].value = 5
    panel.controls["n_tasks"].value = 4
    panel.controls["data_mb"].value = 0.0
    assert bytes(panel.image.value) == b"" and panel.details.value == ""
    panel.run(block=True)
    assert panel.error is None, panel.message.value
    assert panel.status.value == (f"Done: measured sequentially and on 1 to 2 worker(s): speedup "
                                  f"{panel.result.speedup(2):.2f}x on 2 (measured)")
    assert panel.progress.value == panel.progress.max == 12
    assert ("<b>Ran</b>: 4 tasks x 5 ms of pure-Python work each, no data: timed sequentially here, then on 1 to 2 "
            "of this cluster's 2 worker(s)") in panel.details.value
    assert panel.figures_drawn == 2  # once per worker count
    assert bytes(panel.image.value).startswith(b"\x89PNG")
    assert "measured" in panel.details.value and "predicted" in panel.details.value
    assert isinstance(panel.result, sp.SpeedupResult) and panel.result.workers == [1, 2]


def test_workers_slider_follows_the_cluster_and_says_how_to_get_more(client):
    from plsim.widgets.speedup import fit_workers_slider

    panel = speedup_explorer(executor=client).panel
    slider = panel.controls["workers"]
    assert slider.max == len(client.nthreads()) == 2 and slider.min == 1 and not slider.disabled
    slider.value = 4  # beyond the cluster: the slider cannot go there
    assert slider.value == 2
    assert "up to this cluster's 2 worker(s)" in slider.tooltip and "start_cluster(n_workers=N)" in slider.tooltip
    assert "start_cluster(n_workers=N)" in panel.widget.children[0].children[0].value  # the panel says it too
    fit_workers_slider(slider, 1, 1)  # the cluster shrank to one worker: nothing to choose
    assert slider.max == slider.value == 1 and slider.disabled


def test_widget_validation_messages_instead_of_exceptions(client):
    panel = speedup_explorer(executor=client).panel
    panel.controls["workers"].value = 1
    panel.controls["task_ms"].value = 1000
    panel.controls["n_tasks"].value = 200
    panel.run(block=True)
    assert "Not started: 200 tasks x 1000 ms = 200 s of work per run: too long" in panel.status.value
    assert panel.figures_drawn == 0


def test_stop_during_the_sequential_phase_ends_cleanly(client):
    seen = []

    def stop_at_the_second_task(event) -> bool:
        seen.append(event.message)
        return event.done == 2

    result, timeline = explore_speedup(client, workers=2, task_ms=5, n_tasks=8, calibration=sp.Calibration(1e-3, 1e9),
                                       callback=stop_at_the_second_task)
    assert result is None and timeline == []
    assert seen == ["sequential: 1/8 tasks", "sequential: 2/8 tasks"]  # no parallel run started


def test_stop_during_a_parallel_run_keeps_the_worker_counts_measured(client):
    # 4 sequential tasks, 4 on 1 worker, then stop at the first task on 2 workers: 1 worker measured, 2 not.
    events = []
    result, timeline = explore_speedup(client, workers=2, task_ms=2, n_tasks=4, calibration=sp.Calibration(1e-3, 1e9),
                                       callback=lambda e: events.append(e) or e.done == 9)
    assert result.workers == [1] and timeline == [] and result.partial
    last = events[-1].record
    assert (last.label, last.workers, last.done, last.n_tasks) == ("2 worker(s)", 2, 1, 4)
    text, complete = speedup_outcome(result, last, workers=2)
    assert not complete and text == (
        "the 2-worker run was cut after 1 of 4 tasks; its other 3 task(s) were dropped (a run cut short is not a "
        "time). Kept: the sequential time and the time on 1 worker(s) (measured), shown on the right; 2 worker(s) "
        "were not measured.")


def test_a_stop_with_the_last_task_of_a_worker_count_keeps_that_count(client):
    # 4 sequential + 4 on 1 worker: Stop seen at task 8, the 1-worker run's last: its time is whole
    result, _ = explore_speedup(client, workers=2, task_ms=2, n_tasks=4, calibration=sp.Calibration(1e-3, 1e9),
                                callback=lambda e: e.done == 8)
    assert result.workers == [1] and result.partial


def test_speedup_outcome_when_nothing_or_everything_was_measured():
    from plsim.widgets.speedup import Phase

    assert speedup_outcome(None, None, workers=2) == ("before the first task finished: nothing was measured.", False)
    text, complete = speedup_outcome(None, Phase("sequential", 28, 40), workers=2)
    assert not complete and text == (
        "the sequential run was cut after 28 of 40 tasks; its other 12 task(s) were dropped (a run cut short is "
        "not a time). Nothing was kept: a speedup needs the whole sequential run and at least one whole parallel "
        "run, and none finished.")
    full = sp.SpeedupResult.from_seconds(2.0, {1: 2.1, 2: 1.05})
    assert speedup_outcome(full, Phase("2 worker(s)", 40, 40), workers=2) == (
        "measured sequentially and on 1 to 2 worker(s): speedup 1.90x on 2 (measured)", True)


def test_widget_stop_shows_stopped_not_failed(client):
    widget = speedup_explorer(executor=client)
    panel = widget.panel
    panel.controls["task_ms"].value = 50
    panel.controls["n_tasks"].value = 16
    panel.run()
    import time

    deadline = time.monotonic() + 30
    while panel.progress.value < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    panel.stop()
    panel.wait(60)
    assert panel.error is None, panel.message.value
    # not a bare "Stopped.": which run was cut, how many of its tasks were dropped, what was kept
    status = panel.status.value
    assert status.startswith("<b>Stopped</b>: the "), status
    assert re.search(r"run was cut after \d+ of 16 tasks; its other \d+ task\(s\) were dropped|run \(all 16 tasks\)",
                     status), status
    assert ("Kept: the sequential time" in status) != ("Nothing was kept" in status), status

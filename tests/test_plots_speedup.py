"""plsim.plots.speedup renders off-screen with the expected, labelled artists."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from plsim.plots import speedup as psp  # noqa: E402
from plsim.speedup import CostModel, SpeedupResult, TaskRecord  # noqa: E402


@pytest.fixture
def result():
    model = CostModel(task_seconds=0.5, n_tasks=16, serial=0.2, overhead_per_task=0.002)
    return SpeedupResult.from_seconds(8.2, {1: 8.4, 2: 4.4}, model=model, title="16 trees")


def _labels(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_speedup_plot_lines_labels_and_styles(result):
    fig = psp.plot_speedup(result, extend_to=4, joblib_speedup={2: 1.7})
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    lines = _labels(ax)
    measured = lines["plsim on Dask (measured)"]
    predicted = lines["cost model (predicted)"]
    assert measured.get_linestyle() == "-" and predicted.get_linestyle() == "--"
    np.testing.assert_allclose(measured.get_ydata(), [8.2 / 8.4, 8.2 / 4.4])
    np.testing.assert_allclose(predicted.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(predicted.get_ydata(), [result.model.speedup(p) for p in (1, 2, 3, 4)])
    np.testing.assert_allclose(lines["ideal (linear)"].get_ydata(), [1, 2, 3, 4])
    amdahl = next(line for label, line in lines.items() if label.startswith("Amdahl law fitted to measured"))
    f = result.serial_fraction
    np.testing.assert_allclose(amdahl.get_ydata()[1], 1 / (f + (1 - f) / 2))
    np.testing.assert_allclose(lines["joblib processes (measured)"].get_ydata(), [1.7])
    assert "1.86x" in ax.get_title() and "predicted" in ax.get_title()
    assert ax.get_xlabel() and "speedup" in ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("measured" in t for t in legend) and any("predicted" in t for t in legend)


def test_efficiency_plot_divides_by_workers(result):
    fig = psp.plot_efficiency(result)
    lines = _labels(fig.axes[0])
    np.testing.assert_allclose(lines["plsim on Dask (measured)"].get_ydata(), [8.2 / 8.4, 8.2 / 4.4 / 2])
    np.testing.assert_allclose(lines["ideal (linear)"].get_ydata(), [1, 1])
    assert "efficiency" in fig.axes[0].get_ylabel()


def test_speedup_efficiency_figure_and_given_axes(result):
    fig = psp.plot_speedup_efficiency(result)
    assert len(fig.axes) == 2
    mine = Figure()
    ax = mine.add_subplot()
    assert psp.plot_speedup(result, ax=ax) is mine
    fig.savefig(__import__("io").BytesIO(), format="png")  # renders without a display


def test_timeline_bars_per_worker_and_busy_fraction():
    recs = [TaskRecord("tcp://a:1", 10.0, 10.5, "t1"), TaskRecord("tcp://a:1", 10.5, 11.0, "t2"),
            TaskRecord("tcp://b:2", 10.0, 10.5, "t3")]
    fig = psp.plot_timeline(recs)
    ax = fig.axes[0]
    assert [t.get_text().split("\n")[0] for t in ax.get_yticklabels()] == ["worker 0", "worker 1"]
    # busy: 1.0 s + 0.5 s out of 2 workers x 1.0 s span = 75 %
    assert "busy 75%" in ax.get_title() and "measured" in ax.get_title()
    # one idle background + one compute collection per worker
    assert len(ax.collections) == 4
    assert ax.get_xlim() == pytest.approx((0.0, 1.0))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "task running (measured)" in legend and "idle / overhead" in legend


def test_plot_bad_inputs(result):
    with pytest.raises(TypeError, match="SpeedupResult"):
        psp.plot_speedup({"speedup": 2})
    with pytest.raises(ValueError, match="quantity='time'"):
        psp.plot_speedup(result, quantity="time")
    with pytest.raises(ValueError, match="extend_to=0"):
        psp.plot_speedup(result, extend_to=0)
    with pytest.raises(ValueError, match="records is empty"):
        psp.plot_timeline([])
    with pytest.raises(TypeError, match="TaskRecord"):
        psp.plot_timeline([(1, 2)])


def test_a_measurement_stopped_before_any_worker_count_still_plots():
    from plsim.speedup import Timing

    stopped = SpeedupResult(Timing((1.0,)), {}, stopped_reason="stopped")
    for plot in (psp.plot_speedup, psp.plot_speedup_efficiency):
        fig = plot(stopped)
        assert fig.axes and fig.axes[0].get_xlim()[0] <= 1

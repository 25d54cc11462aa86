"""Figures of plsim.plots.training and plsim.plots.comm: labels say measured / simulated / predicted."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from plsim.comm import LinkModel
from plsim.data import load_dataset
from plsim.models import SoftmaxRegression
from plsim.plots.comm import plot_compression, plot_cost_vs_model_size, plot_cost_vs_workers
from plsim.plots.training import plot_loss_curves, plot_pipeline_timeline, plot_scaling, plot_staleness
from plsim.training.async_ps import async_sgd_simulated
from plsim.training.pipeline import gpipe_schedule
from plsim.training.scaling import predict_scaling
from plsim.training.sync import sync_sgd


@pytest.fixture(scope="module")
def runs():
    ds = load_dataset("digits")
    m = SoftmaxRegression(64, 10)
    sync = sync_sgd(m, ds.X_train, ds.y_train, n_steps=5, batch_size=64)
    asyn = async_sgd_simulated(m, ds.X_train, ds.y_train, n_workers=3, n_updates=15, worker_speeds=[1, 1, 0.3])
    return sync, asyn


def _legend(fig):
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_loss_curves_label_kinds(runs):
    fig = plot_loss_curves(runs, x="time")
    assert isinstance(fig, Figure)
    labels = _legend(fig)
    assert any("measured" in t for t in labels) and any("simulated" in t for t in labels)
    lines = fig.axes[0].get_lines()
    assert lines[0].get_linestyle() == "-" and lines[1].get_linestyle() == "--"
    with pytest.raises(ValueError, match="x='epochs'"):
        plot_loss_curves(runs, x="epochs")


def test_staleness_histogram(runs):
    fig = plot_staleness(runs[1])
    assert "staleness" in fig.axes[0].get_xlabel()
    with pytest.raises(ValueError, match="staleness"):
        plot_staleness(runs[0])


def test_pipeline_timeline_title_has_bubble():
    fig = plot_pipeline_timeline(gpipe_schedule(4, 8))
    assert "27%" in fig.axes[0].get_title() and "simulated" in fig.axes[0].get_title()


def test_cost_plots_dashed_and_predicted():
    for fig in (plot_cost_vs_workers(4e6, link=LinkModel()), plot_cost_vs_model_size(16)):
        assert all("predicted" in t for t in _legend(fig))
        assert all(line.get_linestyle() == "--" for line in fig.axes[0].get_lines())


def test_scaling_and_compression_plots():
    measured = [{"workers": 1, "mode": "strong", "speedup": 1.0}, {"workers": 2, "mode": "strong", "speedup": 1.8}]
    predicted = predict_scaling([1, 2, 4, 8], compute_seconds=1.0, n_bytes=1e6, mode="strong") + \
        predict_scaling([1, 2, 4, 8], compute_seconds=1.0, n_bytes=1e6, mode="weak")
    fig = plot_scaling(measured, predicted)
    labels = _legend(fig)
    assert "strong scaling (measured)" in labels and "weak scaling (predicted)" in labels
    fig2 = plot_compression([{"label": "none", "bytes": 1e6, "accuracy": 0.9},
                             {"label": "top-1%", "bytes": 2e4, "accuracy": 0.85}])
    assert "50x" in fig2.axes[0].get_title()
    with pytest.raises(ValueError, match="lacks"):
        plot_compression([{"label": "x"}])


def test_plots_accept_ax():
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_pipeline_timeline(gpipe_schedule(2, 2), ax=ax) is fig
    assert np.isfinite(len(ax.patches))

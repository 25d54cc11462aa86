"""Federated and data figures: they return Figures, accept ax=, label measured vs simulated."""

from __future__ import annotations

import numpy as np
import pytest

from plsim import data, federated as F, models
from plsim.plots.data import plot_label_distribution
from plsim.plots.federated import plot_accuracy, plot_drift, plot_runs, plot_simulated_time, run_color
from plsim.plots.style import COLORS


@pytest.fixture(scope="module")
def runs():
    ds = data.load_dataset("digits", n_samples=400)
    parts = data.partition_shards(ds.y_train, 10, 2)
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    clock = F.VirtualClock(speed_sigma=1.0, deadline=0.2, compute_speed=2000)
    common = dict(rounds=4, client_fraction=0.5, lr=0.1, random_state=0)
    return {
        "FedSGD": F.run_federated(model, ds, parts, algorithm="fedsgd", **common),
        "FedAvg E=2": F.run_federated(model, ds, parts, local_epochs=2, batch_size=10, clock=clock, **common),
        "FedProx": F.run_federated(model, ds, parts, algorithm="fedprox", mu=0.1, local_epochs=2, batch_size=10,
                                   **common),
        "DP": F.run_federated(model, ds, parts, dp=F.DPConfig(1.0, 0.5), **common),
    }


def _labels(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_accuracy_plots(runs):
    from matplotlib.figure import Figure

    fig = plot_runs(runs, target=0.8)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ax_rounds, ax_bytes = fig.axes
    assert all("measured" in t for t in _labels(ax_rounds) if "target" not in t)
    assert "megabytes" in ax_bytes.get_xlabel()
    # x data: megabytes equal the history's cumulative bytes
    line = ax_bytes.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata()[1:], runs["FedSGD"].cumulative_bytes / 1e6)
    fig2 = plot_accuracy(runs, x="simulated")
    ax = fig2.axes[0]
    assert all("simulated" in t for t in _labels(ax)) and ax.get_lines()[0].get_linestyle() == "--"
    with pytest.raises(ValueError, match="x="):
        plot_accuracy(runs, x="time")


def test_colors_follow_style(runs):
    assert run_color(runs["FedSGD"]) == COLORS["fedsgd"]
    assert run_color(runs["FedProx"]) == COLORS["fedprox"]
    assert run_color(runs["DP"]) == COLORS["dp"]


def test_drift_and_time_and_given_axes(runs):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert plot_drift(runs, ax=ax) is fig
    assert len(ax.get_lines()) == 4 and "drift" in ax.get_ylabel()
    f = plot_simulated_time(runs["FedAvg E=2"])
    texts = _labels(f.axes[0])
    assert any("simulated" in t for t in texts) and any("measured" in t for t in texts)
    assert any("stragglers" in t for t in texts)


def test_label_heatmap():
    y = np.repeat(np.arange(4), 10)
    parts = data.partition_shards(y, 4, 1)
    counts = data.label_distribution(y, parts, 4)
    fig = plot_label_distribution(counts)
    ax = fig.axes[0]
    assert "1.0 of 4 labels" in ax.get_title()
    np.testing.assert_array_equal(ax.images[0].get_array(), counts)
    with pytest.raises(ValueError):
        plot_label_distribution(np.zeros(3))


def test_runs_of_one_algorithm_differ_by_shade_and_marker_not_by_dashes(runs):
    pair = {"FedAvg a": runs["FedAvg E=2"], "FedAvg b": runs["FedAvg E=2"]}
    lines = plot_accuracy(pair).axes[0].get_lines()[:2]
    assert [ln.get_linestyle() for ln in lines] == ["-", "-"]  # measured stays solid
    assert lines[0].get_color() != lines[1].get_color()
    assert lines[0].get_marker() != lines[1].get_marker()
    sim = plot_accuracy(pair, x="simulated").axes[0].get_lines()[:2]
    assert [ln.get_linestyle() for ln in sim] == ["--", "--"]  # simulated stays dashed
    assert sim[0].get_color() != sim[1].get_color()
    drift = plot_drift(pair).axes[0].get_lines()
    assert [ln.get_linestyle() for ln in drift] == ["-", "-"]


def test_simulated_time_title_counts_straggler_rounds(runs):
    h = runs["FedAvg E=2"]
    late = sum(1 for rec in h.records if rec.stragglers or rec.dropped)
    ax = plot_simulated_time(h).axes[0]
    assert ax.get_title().startswith(f"{late} of {len(h.records)} rounds")
    styles = {ln.get_label(): ln.get_linestyle() for ln in ax.get_lines()}
    assert styles["round time (simulated, virtual clock)"] == "--"
    assert styles["round time (measured on this machine)"] == "-"

"""plsim.plots.ensembles: the figures render (Agg) with the expected artists and labels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from plsim.ensembles import AccuracyCurve, ParallelBaggingClassifier, accuracy_curve, pairwise_disagreement
from plsim.plots.ensembles import (
    plot_accuracy_vs_members,
    plot_disagreement,
    plot_diversity_vs_accuracy,
    plot_member_times,
)

CURVE = AccuracyCurve(np.arange(1, 5), np.array([0.7, 0.75, 0.8, 0.82]), np.array([0.7, 0.68, 0.72, 0.66]))
PREDS = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [1, 1, 0, 0]])


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_accuracy_vs_members_artists():
    fig = plot_accuracy_vs_members(CURVE)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    ensemble_line = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 4][0]
    np.testing.assert_array_equal(ensemble_line.get_ydata(), CURVE.ensemble)
    assert ensemble_line.get_linestyle() == "-"  # measured: solid
    hlines = [ln.get_ydata()[0] for ln in ax.get_lines() if len(ln.get_xdata()) == 2]
    assert pytest.approx(sorted(hlines)) == sorted([CURVE.members.mean(), CURVE.members.max()])
    assert any(isinstance(c, PolyCollection) for c in ax.collections)  # member range band
    assert all("measured" in t for t in legend_texts(ax))
    assert "82.0%" in ax.get_title() and "beat" in ax.get_title()
    assert ax.get_xlabel() and "accuracy" in ax.get_ylabel()


def test_accuracy_vs_members_on_given_axes_and_real_curve():
    from sklearn.datasets import make_classification

    X, y = make_classification(200, 6, random_state=0)
    model = ParallelBaggingClassifier(n_estimators=3, random_state=0).fit(X[:150], y[:150])
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_accuracy_vs_members(accuracy_curve(model, X[150:], y[150:]), ax=ax) is fig
    with pytest.raises(TypeError, match="AccuracyCurve"):
        plot_accuracy_vs_members([0.1, 0.2])


def test_disagreement_heatmap():
    d = pairwise_disagreement(PREDS)
    fig = plot_disagreement(d, names=["a", "b", "c"])
    ax = fig.axes[0]
    images = [a for a in ax.get_children() if isinstance(a, AxesImage)]
    assert len(images) == 1
    np.testing.assert_allclose(images[0].get_array(), d)
    assert len(fig.axes) == 2  # heatmap + colorbar
    assert "measured" in fig.axes[1].get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert "67%" in ax.get_title()  # mean of 0.25, 1.0, 0.75
    with pytest.raises(ValueError, match="square"):
        plot_disagreement(np.zeros((2, 3)))


def test_diversity_vs_accuracy_scatter():
    d = pairwise_disagreement(PREDS)
    fig = plot_diversity_vs_accuracy([0.6, 0.7, 0.5], d, ensemble_accuracy=0.8)
    ax = fig.axes[0]
    dots = [c for c in ax.collections if isinstance(c, PathCollection)][0]
    np.testing.assert_allclose(dots.get_offsets(), np.c_[[0.625, 0.5, 0.875], [0.6, 0.7, 0.5]])
    assert all("measured" in t for t in legend_texts(ax))
    with pytest.raises(ValueError, match="one per member"):
        plot_diversity_vs_accuracy([0.5], d)


def test_member_times_bars_by_worker():
    fig = plot_member_times([0.1, 0.2, 0.3], ["w1", "w2", "w1"], wall_seconds=0.35)
    ax = fig.axes[0]
    heights = sorted(p.get_height() for p in ax.patches)
    np.testing.assert_allclose(heights, [0.1, 0.2, 0.3])
    assert legend_texts(ax) == ["w1 (measured)", "w2 (measured)"]
    assert "0.60 s" in ax.get_title() and "0.35 s" in ax.get_title()
    with pytest.raises(ValueError, match="equal"):
        plot_member_times([0.1], ["a", "b"])


def test_colours_follow_the_course_palette_and_worker_names_are_short():
    from plsim.plots.style import COLORS

    d = pairwise_disagreement(PREDS)
    ax = plot_diversity_vs_accuracy([0.6, 0.7, 0.5], d, ensemble_accuracy=0.8).axes[0]
    dots = [c for c in ax.collections if isinstance(c, PathCollection)][0]
    assert matplotlib.colors.to_hex(dots.get_facecolor()[0]) == COLORS["member"]
    assert ax.get_lines()[0].get_color() == COLORS["ensemble"]
    low, high = ax.get_ylim()
    assert low < 0.5 and high > 0.8  # the ensemble line is inside the axes, not on its edge
    line = [ln for ln in plot_accuracy_vs_members(CURVE).axes[0].get_lines() if len(ln.get_xdata()) == 4][0]
    assert line.get_color() == COLORS["ensemble"]
    fig = plot_member_times([0.1, 0.2], ["tcp://127.0.0.1:40001", "tcp://127.0.0.1:40002"])
    assert legend_texts(fig.axes[0]) == ["worker 0 (:40001) (measured)", "worker 1 (:40002) (measured)"]


def test_disagreement_diagonal_is_blank_and_colours_span_the_pairs():
    d = pairwise_disagreement(PREDS)
    image = plot_disagreement(d).axes[0].images[0]
    assert image.get_array().mask.tolist() == np.eye(3, dtype=bool).tolist()
    assert image.get_clim() == (0.25, 1.0)  # off-diagonal min and max, not the diagonal's 0

"""The scaling-out figure: predicted dashed, measured solid, both named in the legend."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

from plsim.plots.scaling import plot_scaling_out


def test_predicted_and_measured_are_drawn_and_labelled():
    fig = plot_scaling_out({"ring": ([1, 2, 4], [1.0, 1.9, 3.5])}, {"ring": ([1, 2], [1.0, 1.7])},
                           title="finding")
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"ring (predicted)", "ring (measured)", "ideal (linear)"}
    assert lines["ring (predicted)"].get_linestyle() == "--"
    assert lines["ring (measured)"].get_linestyle() == "-"
    assert lines["ring (predicted)"].get_color() == lines["ring (measured)"].get_color()
    assert list(lines["ideal (linear)"].get_xdata()) == [1.0, 4.0]
    assert ax.get_xscale() == "log" and ax.get_title() == "finding"
    assert ax.get_xlabel() and ax.get_ylabel()


def test_draws_on_a_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert plot_scaling_out({"a": ([1, 2], [1, 2])}, ax=ax) is fig


@pytest.mark.parametrize("bad", [{}, {"a": ([1, 2], [1])}, {"a": "nope"}])
def test_bad_input(bad):
    with pytest.raises(ValueError):
        plot_scaling_out(bad)

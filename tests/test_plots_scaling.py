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


def test_concept_labels_get_course_colours():
    from plsim.plots.style import COLORS

    ax = plot_scaling_out({"ring": ([1, 2], [1, 2]), "parameter server": ([1, 2], [1, 1.5]),
                           "something else": ([1, 2], [1, 1.2])}).axes[0]
    colours = {line.get_label(): line.get_color() for line in ax.get_lines()}
    assert colours["ring (predicted)"] == COLORS["ring"]
    assert colours["parameter server (predicted)"] == COLORS["parameter_server"]
    assert colours["something else (predicted)"] != COLORS["predicted"]


def test_style_helpers_closed_forms():
    from matplotlib.figure import Figure

    from plsim.plots.style import COLORS, plain_log_ticks, shade, variant_styles

    assert shade("#000000", 0.5) == "#808080" and shade("#ffffff", -1.0) == "#000000"
    assert shade("#0072b2", 0.0) == "#0072b2"
    with pytest.raises(ValueError, match="amount"):
        shade("#000000", 2)
    styles = variant_styles([COLORS["fedavg"], COLORS["fedsgd"], COLORS["fedavg"]], ["measured", "measured",
                                                                                      "simulated"])
    assert [s["linestyle"] for s in styles] == ["-", "-", "--"]
    assert styles[1]["color"] == COLORS["fedsgd"]  # a colour used once is kept as is
    assert styles[0]["color"] == shade(COLORS["fedavg"], -0.4) and styles[2]["color"] == shade(COLORS["fedavg"], 0.35)
    assert styles[0]["marker"] != styles[2]["marker"]
    with pytest.raises(ValueError, match="kind"):
        variant_styles(["#000000"], "guessed")
    fig = Figure()
    ax = fig.add_subplot()
    ax.plot([1, 3], [0.3, 2.5])
    ax.set_yscale("log")
    plain_log_ticks(ax, "y")
    shown = [ax.yaxis.get_major_formatter()(v, 0) for v in ax.yaxis.get_majorticklocs()
             if 0.3 <= v <= 2.5]
    assert shown == ["0.5", "1", "2"]  # less than 1.5 decades: 1-2-5 ticks, plain numbers

"""Figures of plsim.plots.training and plsim.plots.comm: labels say measured / simulated / predicted."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from plsim.comm import LinkModel
from plsim.data import load_dataset
from plsim.models import SoftmaxRegression
from plsim.plots.comm import plot_compression, plot_cost_vs_model_size, plot_cost_vs_workers
from plsim.plots.training import (plot_loss_costs, plot_loss_curves, plot_pipeline_timeline, plot_scaling,
                                  plot_staleness, simulated_history)
from plsim.training.async_ps import async_sgd_simulated
from plsim.training.pipeline import gpipe_schedule
from plsim.training.scaling import predict_scaling
from plsim.training.sync import sync_sgd


@pytest.fixture(scope="module")
def runs():
    ds = load_dataset("digits")
    m = SoftmaxRegression(64, 10)
    sync = sync_sgd(m, ds.X_train, ds.y_train, n_steps=5, batch_size=64, random_state=0)
    asyn = async_sgd_simulated(m, ds.X_train, ds.y_train, n_workers=3, n_updates=15, worker_speeds=[1, 1, 0.3], random_state=0)
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


def test_local_sgd_variants_share_colour_family_but_stay_solid():
    from plsim.models import SoftmaxRegression
    from plsim.training.local_sgd import local_sgd

    ds = load_dataset("digits", n_samples=300)
    m = SoftmaxRegression(64, 10)
    hs = [local_sgd(m, ds.X_train, ds.y_train, n_workers=2, H=H, n_rounds=8 // H, lr=0.3, batch_size=16, random_state=0)
          for H in (1, 4)]
    fig = plot_loss_curves(hs, labels=["H=1", "H=4"])
    lines = fig.axes[0].get_lines()
    assert [ln.get_linestyle() for ln in lines] == ["-", "-"]
    assert lines[0].get_color() != lines[1].get_color() and lines[0].get_marker() != lines[1].get_marker()
    assert fig.axes[0].get_title() in ("Lowest final loss: H=1", "Lowest final loss: H=4")  # names the runs' labels


def test_staleness_bars_measured_filled_simulated_outlined(runs):
    from plsim.training.async_ps import async_sgd_simulated

    ds = load_dataset("digits")
    m = SoftmaxRegression(64, 10)
    bounded = async_sgd_simulated(m, ds.X_train, ds.y_train, n_workers=3, n_updates=15, worker_speeds=[1, 1, 0.3],
                                  staleness_bound=0, random_state=0)
    fig = plot_staleness([bounded, runs[1]])
    ax = fig.axes[0]
    assert sum(p.get_height() for p in ax.patches) == len(bounded.staleness) + len(runs[1].staleness)
    assert all(p.get_height() > 0 for p in ax.patches)  # no zero-height stray bars
    assert all(p.get_fill() is False or p.get_facecolor()[3] == 0 for p in ax.patches)  # simulated: outlines
    mean = np.mean(runs[1].staleness)
    assert f"{mean:.1f}" in ax.get_title()


def test_pipeline_legend_does_not_cover_the_bars():
    import io

    fig = plot_pipeline_timeline(gpipe_schedule(4, 8))
    fig.savefig(io.BytesIO(), format="png")  # lays the figure out
    ax = fig.axes[0]
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1


def test_scaling_colours_and_plain_ticks():
    import io

    from plsim.plots.style import COLORS

    predicted = predict_scaling([1, 2, 4, 8], compute_seconds=1.0, n_bytes=1e6, mode="strong") + \
        predict_scaling([1, 2, 4, 8], compute_seconds=1.0, n_bytes=1e6, mode="weak")
    fig = plot_scaling([], predicted)
    fig.savefig(io.BytesIO(), format="png")
    ax = fig.axes[0]
    colours = {ln.get_label(): ln.get_color() for ln in ax.get_lines()}
    assert colours["strong scaling (predicted)"] == COLORS["strong_scaling"]
    assert colours["weak scaling (predicted)"] == COLORS["weak_scaling"]
    assert "predicted" in ax.get_title()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ticks and all("^" not in t for t in ticks) and "8" in ticks


def test_comm_colours_and_compression_legend():
    from plsim.plots.comm import ALG_COLORS
    from plsim.plots.style import COLORS

    assert ALG_COLORS == {a: COLORS[a] for a in ("parameter_server", "naive", "tree", "ring")}
    fig = plot_compression([{"label": "none", "bytes": 1e6, "accuracy": 0.9},
                            {"label": "8-bit", "bytes": 1.3e5, "accuracy": 0.9}])
    assert any("measured" in t for t in _legend(fig))
    low, high = fig.axes[0].get_ylim()
    assert low < 0.9 < high


@pytest.fixture(scope="module")
def noniid():
    from plsim.data import partition_shards
    from plsim.training.local_sgd import local_sgd

    ds = load_dataset("digits")
    m = SoftmaxRegression(64, 10)
    parts = partition_shards(ds.y_train, 4, 2, random_state=0)
    runs = [local_sgd(m, ds.X_train, ds.y_train, shards=parts, H=H, n_rounds=16 // H, lr=0.3, batch_size=32, random_state=0)
            for H in (1, 16)]
    return ds, m, parts, runs


def test_local_sgd_takes_the_shards_it_is_given(noniid):
    from plsim.training._common import shard_indices
    from plsim.training.local_sgd import local_sgd

    ds, m, parts, (h1, h16) = noniid
    X, y = ds.X_train, ds.y_train
    assert h1.info["n_workers"] == 4 and h1.steps[-1] == h16.steps[-1] == 16
    # the default (random, IID) split, given explicitly, is the same run
    default = local_sgd(m, X, y, n_workers=3, H=2, n_rounds=2, random_state=0)
    explicit = local_sgd(m, X, y, shards=shard_indices(len(y), 3, 0), H=2, n_rounds=2, random_state=0)
    np.testing.assert_array_equal(default.params, explicit.params)
    # on a few labels per replica, rare averaging costs convergence
    assert h16.loss[-1] > h1.loss[-1]
    with pytest.raises(ValueError, match="n_workers=3 but 4 shards"):
        local_sgd(m, X, y, shards=parts, n_workers=3, random_state=0)
    with pytest.raises(ValueError, match=r"shards\[1\] must hold distinct row indices"):
        local_sgd(m, X, y, shards=[np.arange(5), np.array([0, len(y)])], random_state=0)
    with pytest.raises(ValueError, match=r"shards\[0\] must be a non-empty"):
        local_sgd(m, X, y, shards=[np.array([], dtype=int)], random_state=0)
    with pytest.raises(TypeError, match="list of index arrays"):
        local_sgd(m, X, y, shards=np.arange(10), random_state=0)


def test_simulated_history_is_compute_plus_exchanges(noniid, runs):
    from plsim.comm import LINK_PRESETS, comm_time

    _, m, _, (h1, h16) = noniid
    home = LINK_PRESETS["home"]
    n = m.n_params * 8
    sim = simulated_history(h16, step_seconds=1e-3, link="home")
    assert sim.time_kind == "simulated" and sim.loss == h16.loss and sim.bytes_sent == h16.bytes_sent
    assert sim.time == pytest.approx([0.0, 16e-3 + comm_time("parameter_server", 4, n, home)])
    assert h16.time_kind == "measured"  # the run itself is not changed
    sim1 = simulated_history(h1, step_seconds=1e-3, link=home)
    assert sim1.time[-1] == pytest.approx(16 * (1e-3 + comm_time("parameter_server", 4, n, home)))
    sync, asyn = runs  # sync records the loss before each step; async counts updates of 3 workers
    assert simulated_history(sync, step_seconds=1.0, link="datacenter").time[0] == 0.0
    t_async = simulated_history(asyn, step_seconds=1.0, link="datacenter").time
    assert t_async[3] == t_async[1] > 1.0 and t_async[4] > t_async[3]  # 3 workers' updates land in one step time
    with pytest.raises(ValueError, match="step_seconds=-1"):
        simulated_history(h1, step_seconds=-1)
    with pytest.raises(ValueError, match="not a link preset|unknown"):
        simulated_history(h1, step_seconds=0.0, link="carrier pigeon")


def test_loss_costs_three_views_with_bytes_and_simulated_time(noniid):
    _, _, _, (h1, h16) = noniid
    fig = plot_loss_costs([h1, h16], labels=["H=1", "H=16"], step_seconds=1e-3, link="home", target=0.8)
    steps_ax, bytes_ax, time_ax = fig.axes
    for ax in fig.axes:
        data = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2 or ln.get_label().startswith("H=")]
        assert len(data) == 2  # one curve per run (the dotted target is a separate line)
    assert "bytes sent so far (counted)" in bytes_ax.get_xlabel()
    assert bytes_ax.get_lines()[0].get_xdata()[-1] == h1.total_bytes  # H=1: every round's bytes, counted
    assert bytes_ax.get_lines()[1].get_xdata()[-1] == h16.total_bytes
    assert "simulated" in time_ax.get_xlabel() and "home link" in time_ax.get_xlabel()
    assert steps_ax.get_xlabel() == "local steps per replica"
    assert time_ax.get_lines()[0].get_linestyle() == "--"  # simulated curves are dashed
    with pytest.raises(ValueError, match="three matplotlib axes"):
        plot_loss_costs([h1], step_seconds=0.0, axes=[steps_ax])

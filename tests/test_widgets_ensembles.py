"""The ensemble builder widget, driven without a browser."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification

from plsim.widgets.ensembles import BASE_MODELS, SAMPLING, ensemble_builder, run_ensemble

X, Y = make_classification(400, 8, n_informative=5, random_state=0)


@pytest.mark.slow
def test_run_trains_on_the_cluster_and_updates_the_panel(client):
    widget = ensemble_builder(executor=client, X=X, y=Y)
    panel = widget.panel
    panel.controls["members"].value = 6
    panel.controls["sampling"].value = "random patches"
    assert panel.figures_drawn == 0 and panel.details.value == ""
    panel.run(block=True)
    assert panel.error is None, panel.message.value
    run = panel.result
    assert len(run.model.estimators_) == 6
    assert set(run.model.member_workers_) <= set(client.nthreads())
    assert run.model.max_samples == 0.5 and run.model.max_features == 0.5
    assert panel.figures_drawn == 1 and panel.image.value[:4] == b"\x89PNG"
    assert panel.progress.value == panel.progress.max == 6
    assert "measured" in panel.details.value and f"{run.wall_seconds:.2f} s" in panel.details.value
    assert panel.status.value == (f"Done: trained 6 decision tree members, random patches in {run.wall_seconds:.2f} s "
                                  f"(measured): {run.curve.ensemble[-1]:.1%} test accuracy (measured).")
    # the result names the base model and how members sampled the data (8 columns, half each)
    assert "<td>base model (each member)</td><td>decision tree</td>" in panel.details.value
    assert ("<td>sampling</td><td>random patches: 50% of the rows, without replacement, 4 of 8 columns at "
            "random</td>") in panel.details.value
    # Same client on a second click: the figure is redrawn, no new cluster.
    panel.controls["base"].value = "naive Bayes"
    panel.run(block=True)
    assert panel.figures_drawn == 2 and panel.result.model.estimators_[0].__class__.__name__ == "GaussianNB"


@pytest.mark.slow
def test_stop_cancels_remaining_members_and_shows_the_partial_ensemble(client):
    widget = ensemble_builder(executor=client, X=X, y=Y)
    panel = widget.panel
    panel.controls["members"].value = 5
    panel._work_orig = panel._work

    def stop_after_first(params, report):
        panel._stop_event.set()  # as if Stop were pressed while members train
        return panel._work_orig(params, report)

    panel._work = stop_after_first
    panel.run(block=True)
    assert panel.error is None, panel.message.value
    run = panel.result
    # Stop was seen when the first member came back: that one is kept, the other four cancelled.
    assert run.partial and run.model.partial_ and len(run.model.estimators_) == 1
    # The status line keeps what the work said when it stopped, not a bare "Stopped.".
    assert panel.status.value.startswith("<b>Stopped</b>: kept the 1 of 5 decision tree members, bootstrap "
                                         "(bagging) that had finished (a partial ensemble, shown on the right); "
                                         "the other 4 were cancelled.") and panel.figures_drawn == 1
    assert "1 of 5 (stopped: partial ensemble)" in panel.details.value
    # The member kept is the one of the same index in a complete run.
    i = int(run.model.member_indices_[0])
    from plsim.ensembles.demo import demo_settings

    full = run_ensemble(None, *train_test(), members=5, random_state=demo_settings().random_state)
    np.testing.assert_array_equal(run.model.estimators_samples_[0], full.model.estimators_samples_[i])
    # The cluster is still whole and trains the next run completely.
    panel._work = panel._work_orig
    panel.run(block=True)
    assert not panel.result.partial and len(panel.result.model.estimators_) == 5
    assert len(client.nthreads()) == 2 and panel.status.value.startswith("Done: trained 5 decision tree members")


def train_test():
    """The builder's own split of (X, Y) (the demo settings' test fraction and seed)."""
    from sklearn.model_selection import train_test_split

    from plsim.ensembles.demo import demo_settings

    settings = demo_settings()
    X_train, X_test, y_train, y_test = train_test_split(X, Y, test_size=settings.test_fraction,
                                                        random_state=settings.random_state, stratify=Y)
    return X_train, y_train, X_test, y_test


def test_stop_in_run_ensemble_keeps_the_first_members_sequentially():
    run = run_ensemble(None, X[:300], Y[:300], X[300:], Y[300:], members=6, callback=lambda e: e.done == 2)
    full = run_ensemble(None, X[:300], Y[:300], X[300:], Y[300:], members=6)
    assert run.partial and list(run.model.member_indices_) == [0, 1]
    np.testing.assert_array_equal(run.curve.ensemble, full.curve.ensemble[:2])
    assert run.members_text() == "2 of 6 (stopped: partial ensemble)" and full.members_text() == "6"


def test_run_ensemble_logic_sequential():
    calls = []
    run = run_ensemble(None, X[:300], Y[:300], X[300:], Y[300:], base="logistic regression", members=3,
                       sampling="random subspaces", callback=lambda e: calls.append(e.done))
    assert calls == [1, 2, 3]
    assert run.model.member_workers_ == ["local"] * 3
    assert all(len(f) == 4 for f in run.model.estimators_features_)  # half of 8 columns
    assert run.curve.ensemble[-1] == pytest.approx(np.mean(run.model.predict(X[300:]) == Y[300:]))
    assert run.wall_seconds >= run.member_seconds * 0.5 > 0
    assert set(SAMPLING) == {"bootstrap (bagging)", "random subspaces", "random patches"}
    assert "k-nearest neighbours" in BASE_MODELS


def test_default_executor_is_auto_and_starts_no_cluster_until_run(monkeypatch):
    import inspect

    assert inspect.signature(ensemble_builder).parameters["executor"].default == "auto"
    started = []
    monkeypatch.setattr("plsim.cluster.start_cluster", lambda **kw: started.append(kw))
    ensemble_builder(X=X, y=Y)  # building the widget starts nothing
    assert started == []


def test_bad_arguments():
    with pytest.raises(ValueError, match="both X and y"):
        ensemble_builder(X=X)
    with pytest.raises(ValueError, match="400 rows but y has 10"):
        ensemble_builder(X=X, y=Y[:10])
    with pytest.raises(ValueError, match="base='svm'"):
        run_ensemble(None, X, Y, X, Y, base="svm")
    with pytest.raises(ValueError, match="sampling='rows'"):
        run_ensemble(None, X, Y, X, Y, sampling="rows")


def test_progress_names_the_members_sampling_not_the_class():
    # "member 18 of ParallelBaggingClassifier" was shown for random subspaces
    widget = ensemble_builder(executor=None, X=X, y=Y)
    panel = widget.panel
    panel.controls["members"].value = 3
    panel.controls["sampling"].value = "random subspaces"
    panel.controls["base"].value = "naive Bayes"
    shown = []
    panel.status.observe(lambda change: shown.append(change["new"]), names="value")
    panel.run(block=True)
    assert "3 of 3 members trained (naive Bayes, random subspaces)" in shown
    assert not any("ParallelBaggingClassifier" in text for text in shown)


def test_members_slider_says_its_range():
    from plsim.ensembles.demo import demo_settings

    panel = ensemble_builder(executor=None, X=X, y=Y).panel
    top = demo_settings().max_members
    slider = panel.controls["members"]
    assert slider.max == top and slider.description == f"members (1 to {top})"
    slider.value = 9999  # a typed 9999 cannot get past the range the label shows
    assert slider.value == top


def test_a_stop_after_the_last_member_is_done_not_stopped():
    # "Stopped." above a complete result: the members had all finished when Stop was seen
    widget = ensemble_builder(executor=None, X=X, y=Y)
    panel = widget.panel
    panel.controls["members"].value = 3
    original = panel._work

    def work(params, report):
        out = original(params, report)
        panel._stop_event.set()  # Stop clicked as the last member came back: nothing left to cancel
        return out

    panel._work = work
    panel.run(block=True)
    assert not panel.result.partial and len(panel.result.model.estimators_) == 3
    assert panel.status.value.startswith("Done: trained 3 decision tree members")
    assert "Stop came after the last step had started: the run is complete." in panel.status.value
    assert panel.progress.value == panel.progress.max == 3


def test_member_times_legend_is_below_the_bars():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from plsim.widgets.ensembles import _figure

    run = run_ensemble(None, X[:300], Y[:300], X[300:], Y[300:], members=4)
    fig = _figure(run)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    right = fig.axes[1]
    legend = right.get_legend()
    assert legend.get_title().get_text() == "trained on"
    assert legend.get_window_extent(renderer).y1 <= right.get_window_extent(renderer).y0
    assert fig._suptitle.get_text() == "decision tree, bootstrap (bagging)"


def test_ensemble_outcome_texts():
    from plsim.widgets.ensembles import ensemble_outcome

    run = run_ensemble(None, X[:300], Y[:300], X[300:], Y[300:], members=5, sampling="random subspaces",
                       callback=lambda e: e.done == 2)
    assert ensemble_outcome(run) == (
        f"kept the 2 of 5 decision tree members, random subspaces that had finished (a partial ensemble, shown on "
        f"the right); the other 3 were cancelled. Ensemble of 2: {run.curve.ensemble[-1]:.1%} test accuracy "
        "(measured).", False)

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
    assert panel.status.value == "Done."
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
    assert panel.status.value.startswith("Stopped: kept the 1 of 5 members") and panel.figures_drawn == 1
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
    assert len(client.nthreads()) == 2 and panel.status.value == "Done."


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

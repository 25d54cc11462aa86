"""The federation playground, driven without a browser."""

from __future__ import annotations

import pytest

from plsim.widgets.federated import (effective_params, federation_playground, inapplicable_controls,
                                     play_federation, validate_playground)


def _set(panel, **values):
    for k, v in values.items():
        panel.controls[k].value = v


@pytest.mark.slow
def test_playground_runs_on_the_cluster_and_updates(client):
    widget = federation_playground(executor=client)
    panel = widget.panel
    _set(panel, n_clients=10, rounds=4, client_fraction=0.5, local_epochs=1, noise_multiplier=0.5,
         dropout_rate=0.2)
    panel.run(block=True)
    assert panel.error is None, panel.message.value
    hist = panel.result
    assert len(hist) == 4 and hist.settings["parallel"]
    assert panel.progress.value == panel.progress.max == 4
    assert panel.figures_drawn >= 4 and len(panel.image.value) > 1000
    assert "MB" in panel.details.value and "ε" in panel.details.value and "simulated" in panel.details.value
    assert panel.status.value == "Done."


def test_stop_ends_after_current_round():
    params = dict(n_clients=8, partition="IID", alpha=1.0, algorithm="fedavg", rounds=10, client_fraction=0.5,
                  local_epochs=1, batch_size="20", lr=0.05, mu=0.0, noise_multiplier=0.0, dropout_rate=0.0)
    seen = []
    hist, counts = play_federation(params, callback=lambda event: seen.append(event.record.round) or len(seen) >= 3)
    assert len(hist) == 3 and hist.stopped_early and seen == [1, 2, 3]
    assert hist.partial and hist.stopped_reason == "stopped"
    assert counts.shape == (8, 10) and counts.sum() == 1347


def test_stop_button_on_panel():
    from unittest import mock

    widget = federation_playground()
    panel = widget.panel
    _set(panel, n_clients=6, rounds=30, client_fraction=0.5, local_epochs=1, partition="IID")
    original = panel._work

    def work_pressing_stop(params, report):
        panel.stop()  # Stop pressed while the first round runs
        return original(params, report)

    panel._work = work_pressing_stop
    # no cluster running and none started: the playground then runs the clients in this process
    with mock.patch("plsim.cluster.current_client", return_value=None), \
            mock.patch("plsim.cluster.start_cluster", return_value=None):
        panel.run(block=True)
    assert panel.error is None, panel.message.value
    assert len(panel.result) == 1 and panel.result.stopped_early and panel.status.value == "Stopped."
    assert panel.result.partial and panel.result.stopped_reason == "stopped"
    assert "1 rounds of 30 (partial: stopped)" in panel.details.value


def test_controls_that_do_not_apply_are_disabled_with_a_reason():
    assert set(inapplicable_controls("fedsgd")) == {"local_epochs", "batch_size", "mu"}
    assert set(inapplicable_controls("fedavg")) == {"mu"} and inapplicable_controls("fedprox") == {}
    params = dict(federation_playground().panel.params(), algorithm="fedsgd", local_epochs=5, mu=0.5)
    eff = effective_params(params)
    assert eff["local_epochs"] == 1 and eff["batch_size"] == "∞ (full)" and eff["mu"] == 0.0
    assert validate_playground(params) is None  # ignored, not refused
    panel = federation_playground().panel
    panel.controls["algorithm"].value = "fedsgd"
    assert panel.controls["local_epochs"].disabled and "FedSGD" in panel.controls["local_epochs"].tooltip
    assert panel.controls["mu"].disabled and "FedProx" in panel.controls["mu"].tooltip
    assert panel.controls["lr"].value > 0.1  # FedSGD starts at its own, larger rate
    panel.controls["algorithm"].value = "fedprox"
    assert not panel.controls["mu"].disabled and not panel.controls["local_epochs"].disabled


def test_fedsgd_with_default_controls_runs():
    params = dict(n_clients=8, partition="IID", alpha=1.0, algorithm="fedsgd", rounds=2, client_fraction=0.5,
                  local_epochs=5, batch_size="10", lr=0.5, mu=0.3, noise_multiplier=0.0, dropout_rate=0.0)
    hist, _ = play_federation(params)
    assert len(hist) == 2 and hist.settings["local_epochs"] == 1 and hist.settings["batch_size"] is None


@pytest.mark.parametrize("change, word", [
    (dict(rounds=60, client_fraction=1.0, local_epochs=20), "sample-gradients"),
])
def test_validation_messages(change, word):
    widget = federation_playground()
    panel = widget.panel
    params = {**panel.params(), **change}
    assert word in validate_playground(params)
    _set(panel, **change)
    panel.run(block=True)
    assert word in panel.message.value and panel.result is None
    assert validate_playground(federation_playground().panel.params()) is None

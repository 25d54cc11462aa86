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
    assert panel.figures_drawn >= 2 and len(panel.image.value) > 1000  # live after round 1 (then at most 1/s), final
    assert "MB" in panel.details.value and "ε" in panel.details.value and "simulated" in panel.details.value
    assert panel.status.value == f"Done: 4 rounds of FedAvg, test accuracy {hist.final_accuracy:.1%} (measured)."
    # what ran, in words, above the numbers
    assert ("<b>Ran</b>: FedAvg training an MLP (64 inputs, 32 hidden, 10 classes) on digits' 1,347 training rows "
            "split over 10 clients (IID); 4 rounds, C=0.5, E=1 local epoch(s), B=10, client lr 0.05, DP noise 0.5, "
            "drop-out rate 0.2.") in panel.details.value


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
    assert len(panel.result) == 1 and panel.result.stopped_early
    assert panel.status.value == (f"<b>Stopped</b>: after round 1 of 30: kept the round that finished, test "
                                  f"accuracy {panel.result.final_accuracy:.1%} (measured); rounds 2 to 30 did not run.")
    assert panel.progress.value == 1 and panel.progress.max == 30
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
    assert word in panel.status.value and panel.result is None
    assert validate_playground(federation_playground().panel.params()) is None


def test_the_work_limit_is_written_exactly():
    # "1.6e+06 sample-gradients, more than the playground's 2e+06": the limit is 1.5e6, rounded to one digit
    params = dict(federation_playground().panel.params(), rounds=60, client_fraction=1.0, local_epochs=20)
    assert validate_playground(params) == ("That is 1,616,400 sample-gradients (rounds x C x 1,347 rows x E), more "
                                           "than the playground's limit of 1,500,000: lower the rounds, C or E.")
    assert validate_playground(dict(params, rounds=55)) is None  # 1,481,700: under the limit, runs


def test_alpha_is_greyed_out_unless_the_partition_is_dirichlet_and_reasons_are_visible():
    panel = federation_playground().panel
    assert panel.controls["partition"].value == "IID" and panel.controls["alpha"].disabled
    assert "<b>Dirichlet α</b>: α sets the label skew of the Dirichlet partition only" in panel.why_off.value
    assert "<b>FedProx μ</b>: μ is FedProx" in panel.why_off.value  # in the panel, not only in a tooltip
    panel.controls["partition"].value = "Dirichlet α"
    assert not panel.controls["alpha"].disabled and "Dirichlet α" not in panel.why_off.value
    panel.controls["algorithm"].value = "fedprox"
    assert panel.why_off.value == ""
    assert panel.controls["lr"].value == 0.05  # choosing the partition did not move the learning rate
    assert "alpha" in inapplicable_controls("fedavg", "2-label shards")
    assert "alpha" not in inapplicable_controls("fedavg", "Dirichlet α")


def test_details_tell_the_rounds_time_from_the_whole_runs_time():
    # "0.8 s measured here" for a 5 s run: that number is the sum of the rounds' own times
    from plsim.widgets.federated import _details

    params = dict(n_clients=6, partition="IID", alpha=1.0, algorithm="fedavg", rounds=2, client_fraction=0.5,
                  local_epochs=1, batch_size="20", lr=0.05, mu=0.0, noise_multiplier=0.0, dropout_rate=0.0)
    hist, _ = play_federation(params)
    rounds = sum(r.wall_seconds_measured for r in hist.records)
    text = _details(hist, run_seconds=5.04)
    assert f"measured here: {rounds:.2g} s in the rounds (client training, aggregation, test evaluation)" in text
    assert "5 s for the whole Run (also placing the data and drawing these figures)" in text


def test_federation_outcome_after_stop_divergence_and_a_full_run():
    from plsim.widgets.federated import federation_outcome

    params = dict(n_clients=6, partition="IID", alpha=1.0, algorithm="fedsgd", rounds=4, client_fraction=0.5,
                  local_epochs=1, batch_size="20", lr=0.5, mu=0.0, noise_multiplier=0.0, dropout_rate=0.0)
    full, _ = play_federation(params)
    assert federation_outcome(full) == (f"4 rounds of FedSGD, test accuracy {full.final_accuracy:.1%} (measured).",
                                        True)
    part, _ = play_federation(params, callback=lambda e: e.done == 3)
    assert federation_outcome(part) == (f"after round 3 of 4: kept the 3 rounds that finished, test accuracy "
                                        f"{part.final_accuracy:.1%} (measured); round 4 did not run.", False)

"""The federation playground: clients, partition, C, E, B, mu, noise, drop-outs -> a live federated run.

Press Run: the digits training set is split over the clients (IID, Dirichlet
alpha or 2-label shards), a small MLP is trained by FedSGD / FedAvg / FedProx
with the clients' updates running as Dask tasks, and the accuracy curve redraws
as rounds finish, next to the clients' label heatmap and the bytes moved.
Stop ends the run after the current round (the run's :mod:`plsim.progress`
callback returns True).

Taught in ``notebooks/03_federated_learning.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from plsim.i18n import _
from plsim.widgets._panel import RunPanel, widget_executor

__all__ = ["federation_playground", "play_federation", "live_history", "validate_playground",
           "inapplicable_controls", "effective_params", "federation_outcome", "ran_text", "B_CHOICES"]

B_CHOICES = {"5": 5, "10": 10, "20": 20, "50": 50, "∞ (full)": None}
PARTITIONS = {"IID": "iid", "Dirichlet α": "dirichlet", "2-label shards": "shards"}
# starting client learning rates on digits: FedSGD's one step per round wants a far larger step than
# FedAvg's many; choosing an algorithm moves the lr slider to its rate (students can still change it)
START_LR = {"fedsgd": 0.5, "fedavg": 0.05, "fedprox": 0.05}
MAX_WORK = 1_500_000  # sample-gradients per run: about half a minute for MLP(32) on digits on one CPU
REDRAW_SECONDS = 1.0  # live figure: at most one redraw per second of the run
N_TRAIN = 1347  # digits' training rows (plsim.data.load_dataset("digits"))
HIDDEN = (32,)  # the playground's MLP
NAMES = {"fedavg": "FedAvg", "fedprox": "FedProx", "fedsgd": "FedSGD"}


@lru_cache(maxsize=1)
def _digits() -> Any:
    from plsim.data import load_dataset

    return load_dataset("digits")


def inapplicable_controls(algorithm: str, partition: str | None = None) -> dict[str, str]:
    """``{control name: why it does not apply}`` for ``algorithm`` (and the ``partition`` label, if given).

    The widget greys these out and writes the reasons in the panel.
    """
    out = {}
    if partition is not None and PARTITIONS.get(partition) != "dirichlet":
        out["alpha"] = _("α sets the label skew of the Dirichlet partition only; {partition} "
                          "clients do not use it.").format(partition=partition)
    if algorithm == "fedsgd":
        out["local_epochs"] = _("FedSGD takes one gradient step per client per round: there are no local epochs.")
        out["batch_size"] = _("FedSGD's one gradient uses the client's whole data set (B = ∞).")
    if algorithm != "fedprox":
        out["mu"] = _("μ is FedProx's proximal term: pick the fedprox algorithm to use it.")
    return out


def effective_params(params: dict) -> dict:
    """``params`` with the controls that do not apply to the algorithm set to their neutral values."""
    out = dict(params)
    off = inapplicable_controls(params["algorithm"])
    if "local_epochs" in off:
        out["local_epochs"] = 1
    if "batch_size" in off:
        out["batch_size"] = "∞ (full)"
    if "mu" in off:
        out["mu"] = 0.0
    return out


def _work(params: dict) -> float:
    epochs = 1 if params["algorithm"] == "fedsgd" else params["local_epochs"]
    return params["rounds"] * params["client_fraction"] * N_TRAIN * epochs


def validate_playground(params: dict) -> str | None:
    """A message when the controls cannot run together, else None.

    Controls that do not apply to the algorithm (E and B for FedSGD, μ unless FedProx)
    are ignored, not refused: see :func:`inapplicable_controls`.
    """
    params = effective_params(params)
    if params["partition"] == "2-label shards" and 2 * params["n_clients"] > 1347:
        return _("Too many clients for 2 shards each.")
    if _work(params) > MAX_WORK:
        return (_("That is {work:,.0f} sample-gradients (rounds x C x {N_TRAIN:,} rows x E), "
                   "more than the playground's limit of {MAX_WORK:,.0f}: lower the rounds, C or "
                   "E.").format(work=_work(params), N_TRAIN=N_TRAIN, MAX_WORK=MAX_WORK))
    return None


def _parts(params: dict) -> list[np.ndarray]:
    from plsim import data

    scheme = PARTITIONS[params["partition"]]
    kw = {"alpha": params["alpha"]} if scheme == "dirichlet" else {}
    return data.partition(_digits().y_train, params["n_clients"], scheme, random_state=0, **kw)


def _counts(params: dict) -> np.ndarray:
    from plsim import data

    return data.label_distribution(_digits().y_train, _parts(params), 10)


def _figure(history: Any, counts: np.ndarray, rounds: int, target: float = 0.9) -> Any:
    from matplotlib.figure import Figure

    from plsim.plots.data import plot_label_distribution
    from plsim.plots.federated import plot_accuracy

    fig = Figure(figsize=(10, 3.8), layout="constrained")
    a1, a2 = fig.subplots(1, 2, width_ratios=[1.4, 1])
    label = history.settings["algorithm"]
    plot_accuracy({label: history}, ax=a1, target=target,
                  title=_("round {n_history}/{rounds}: test accuracy {final_accuracy:.1%}").format(n_history=len(history), rounds=rounds, final_accuracy=history.final_accuracy))
    a1.set_xlim(0, rounds)
    plot_label_distribution(counts, ax=a2, max_clients=40)
    return fig


def _setup(params: dict) -> tuple[Any, list[np.ndarray], np.ndarray, Any, Any, np.ndarray]:
    """``(dataset, parts, label counts, model, DPConfig or None, initial weights)`` of a configuration."""
    from plsim import data, federated
    from plsim.models import MLP

    ds = _digits()
    parts = _parts(params)
    counts = data.label_distribution(ds.y_train, parts, ds.n_classes)
    model = MLP(ds.n_features, HIDDEN, ds.n_classes)
    dp = (federated.DPConfig(clip=1.0, noise_multiplier=params["noise_multiplier"], delta=1e-3)
          if params["noise_multiplier"] > 0 else None)
    return ds, parts, counts, model, dp, model.init_params(0)


def live_history(params: dict) -> Any:
    """An empty history to collect a running playground's records in (for live plots)."""
    from plsim import federated

    params = effective_params(params)
    ds, _, _, model, dp, w0 = _setup(params)
    live = federated.FederatedHistory(settings={"algorithm": params["algorithm"], "dp": dp,
                                                "rounds": params["rounds"]})
    live.initial_accuracy = float(model.accuracy(w0, ds.X_test, ds.y_test))
    return live


def play_federation(
    params: dict,
    *,
    executor: Any = None,
    callback: Callable[[Any], Any] | None = None,
) -> tuple[Any, np.ndarray]:
    """Run one playground configuration; the logic behind the widget.

    Parameters
    ----------
    params : dict
        The control values (``n_clients, partition, alpha, algorithm, rounds,
        client_fraction, local_epochs, batch_size, lr, mu, noise_multiplier, dropout_rate``).
    executor : None, "auto", dask.distributed.Client or Executor
        Where the clients run (None: sequentially in this process); see
        :func:`plsim.executor.resolve_executor`.
    callback : callable, optional
        A :mod:`plsim.progress` callback: called with each round's event
        (``event.record`` is its ``RoundRecord``); a truthy return stops the run.

    Returns
    -------
    (FederatedHistory, label counts per client)
        Stopped early, the history holds the rounds that finished and is flagged
        ``partial`` (``stopped_reason="stopped"``).
    """
    from plsim import federated

    params = effective_params(params)
    ds, parts, counts, model, dp, w0 = _setup(params)
    history = federated.run_federated(
        model, ds, parts, algorithm=params["algorithm"], rounds=params["rounds"],
        client_fraction=params["client_fraction"],
        local_epochs=params["local_epochs"], batch_size=B_CHOICES[params["batch_size"]],
        lr=params["lr"], mu=params["mu"], dp=dp, dropout_rate=params["dropout_rate"],
        executor=executor, random_state=0, callback=callback, initial_weights=w0,
    )
    return history, counts


def federation_playground(executor: Any = "auto") -> Any:
    """Build (and return, not display) the federation playground widget.

    Parameters
    ----------
    executor : "auto", None, dask.distributed.Client or Executor
        Where to run the clients. ``"auto"`` (default): the running plsim
        cluster (:func:`plsim.cluster.current_client`), started if there is
        none; None: in this process.

    Returns
    -------
    ipywidgets.Widget
        With ``.panel`` (the :class:`RunPanel`) for driving it from code.
    """
    import ipywidgets as w

    controls = {
        "n_clients": w.IntSlider(value=30, min=2, max=100, description=_("clients K")),
        "partition": w.Dropdown(options=list(PARTITIONS), value="IID", description=_("partition")),
        "alpha": w.FloatLogSlider(value=0.3, base=10, min=-2, max=2, step=0.1, description=_("Dirichlet α")),
        "algorithm": w.Dropdown(options=["fedavg", "fedprox", "fedsgd"], value="fedavg", description=_("algorithm")),
        "rounds": w.IntSlider(value=20, min=1, max=60, description=_("rounds")),
        "client_fraction": w.FloatSlider(value=0.2, min=0.05, max=1.0, step=0.05, description=_("fraction C")),
        "local_epochs": w.IntSlider(value=5, min=1, max=20, description=_("local epochs E")),
        "batch_size": w.Dropdown(options=list(B_CHOICES), value="10", description=_("batch size B")),
        "lr": w.FloatLogSlider(value=START_LR["fedavg"], base=10, min=-3, max=0, step=0.1, description=_("client lr")),
        "mu": w.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description=_("FedProx μ")),
        "noise_multiplier": w.FloatSlider(value=0.0, min=0.0, max=3.0, step=0.1,
                                          description=_("DP noise (0 = off)")),
        "dropout_rate": w.FloatSlider(value=0.0, min=0.0, max=0.8, step=0.05, description=_("drop-out rate")),
    }

    def work(params: dict, report: Any) -> Any:
        import time

        start = time.perf_counter()
        where = widget_executor(executor)
        params = effective_params(params)
        rounds = params["rounds"]
        counts = _counts(params)
        live = live_history(params)
        ran = _("<b>Ran</b>: {ran_text}<br>").format(ran_text=ran_text(params))
        drawn = [-REDRAW_SECONDS]

        def callback(event: Any) -> bool:
            live.records.append(event.record)
            # Redrawn at most every REDRAW_SECONDS: a redraw per round made the whole Run up to 10x
            # longer than its rounds on a busy 2-CPU machine.
            if time.perf_counter() - drawn[0] >= REDRAW_SECONDS and event.done < rounds:
                report.figure(_figure(live, counts, rounds))
                report.html(ran + _details(live, time.perf_counter() - start))
                drawn[0] = time.perf_counter()
            return report.callback(event)  # True once Stop was clicked

        history, counts = play_federation(params, executor=where, callback=callback)
        report.figure(_figure(history, counts, rounds))
        report.html(ran + _details(history, time.perf_counter() - start))
        text, complete = federation_outcome(history)
        report.finish(text, complete=complete)
        return history

    panel = RunPanel(
        _("Federation playground"), controls, work, validate=validate_playground,
        description=_("Digits split over clients; a small MLP trained federatedly on the Dask workers."),
    )

    def sync(change: Any = None) -> None:
        panel.set_inapplicable(inapplicable_controls(controls["algorithm"].value, controls["partition"].value))
        if change is not None and change["owner"] is controls["algorithm"]:
            controls["lr"].value = START_LR[change["new"]]

    controls["algorithm"].observe(sync, names="value")
    controls["partition"].observe(sync, names="value")
    sync()
    return panel.widget


def ran_text(params: dict) -> str:
    """What a playground Run trains, in one sentence (the settings that apply)."""
    params = effective_params(params)
    algorithm = params["algorithm"]
    partition = params["partition"] + (f" {params['alpha']:.3g}" if PARTITIONS[params["partition"]] == "dirichlet"
                                       else "")
    local = (_("one full-batch gradient per client per round") if algorithm == "fedsgd" else
             _("E={local_epochs} local epoch(s), B={batch_size}").format(local_epochs=params['local_epochs'], batch_size=params['batch_size'])
             + (f", μ={params['mu']:.3g}" if algorithm == "fedprox" else ""))
    extras = "".join([_(", DP noise {noise_multiplier:.3g}").format(noise_multiplier=params['noise_multiplier']) if params["noise_multiplier"] else "",
                      _(", drop-out rate {dropout_rate:.2g}").format(dropout_rate=params['dropout_rate']) if params["dropout_rate"] else ""])
    ds = _digits()
    return (_("{NAMES} training an MLP ({n_features} inputs, {join} hidden, {n_classes} "
               "classes) on digits' {n_y_train:,} training rows split over {n_clients} clients "
               "({partition}); {rounds} rounds, C={client_fraction:.2g}, {local}, client lr "
               "{lr:.3g}{extras}.").format(NAMES=NAMES[algorithm], n_features=ds.n_features, join=', '.join(map(str, HIDDEN)), n_classes=ds.n_classes, n_y_train=len(ds.y_train), n_clients=params['n_clients'], partition=partition, rounds=params['rounds'], client_fraction=params['client_fraction'], local=local, lr=params['lr'], extras=extras))


def federation_outcome(history: Any) -> tuple[str, bool]:
    """``(text, complete)`` for the panel's status: what ran, or after Stop which rounds were kept."""
    asked = history.settings.get("rounds", len(history))
    done = len(history)
    accuracy = _("test accuracy {final_accuracy:.1%} (measured)").format(final_accuracy=history.final_accuracy)
    if history.stopped_reason in ("stopped", "interrupted"):
        if done == 0:
            return _("before the first round finished: nothing was kept."), False
        rest = _("; rounds {value} to {asked} did not run").format(value=done + 1, asked=asked) if done + 1 < asked else _("; "
                                                                                         "round "
                                                                                         "{asked} "
                                                                                         "did "
                                                                                         "not "
                                                                                         "run").format(asked=asked)
        kept = _("the round that finished") if done == 1 else _("the {done} rounds that finished").format(done=done)
        return _("after round {done} of {asked}: kept {kept}, {accuracy}{rest}.").format(done=done, asked=asked, kept=kept, accuracy=accuracy, rest=rest), False
    if history.stopped_reason == "diverged":
        return (_("ended after round {done} of {asked}: the model diverged (lower the client "
                   "learning rate); {accuracy}.").format(done=done, asked=asked, accuracy=accuracy), True)
    return _("{done} rounds of {get}, {accuracy}.").format(done=done, get=NAMES.get(history.settings.get('algorithm'), 'federated training'), accuracy=accuracy), True


def _details(history: Any, run_seconds: float | None = None) -> str:
    if not history.records:
        return ""
    last = history.records[-1]
    eps = "" if last.epsilon is None else (
        _("<br>privacy budget ε = {epsilon:.2f} (δ = 1e-3)").format(epsilon=last.epsilon) if math.isfinite(last.epsilon) else "")
    dropped = sum(len(r.dropped) for r in history.records)
    down = sum(r.bytes_down for r in history.records) / 1e6
    up = sum(r.bytes_up for r in history.records) / 1e6
    cut = ""
    if history.partial:
        why = {"stopped": "stopped", "interrupted": "interrupted",
               "diverged": "diverged: lower the client learning rate"}.get(history.stopped_reason,
                                                                           history.stopped_reason)
        cut = _(" of {get} (partial: {why})").format(get=history.settings.get('rounds', '?'), why=why)
    return (_("<b>{n_history} rounds{cut}</b>: test accuracy {test_accuracy:.1%} "
               "(measured)<br>bytes moved: {value:.2f} MB ({down:.2f} down, {up:.2f} up; "
               "measured from the payloads)<br>drop-outs: {dropped} client updates "
               "lost<br>time: {cumulative_simulated_seconds:.1f} s simulated (virtual clock); "
               "measured here: {seconds} in the rounds (client training, aggregation, test "
               "evaluation)").format(n_history=len(history), cut=cut, test_accuracy=last.test_accuracy, value=last.cumulative_bytes / 1e6, down=down, up=up, dropped=dropped, cumulative_simulated_seconds=last.cumulative_simulated_seconds, seconds=_seconds(history.wall_time[-1]))
            + ("" if run_seconds is None else _(", {seconds} for the whole Run (also placing "
                                                 "the data and drawing these figures)").format(seconds=_seconds(run_seconds)))
            + eps)


def _seconds(x: float) -> str:
    """Seconds with two significant digits below 10 s (0.043 s, 2.7 s), whole ones above."""
    return f"{x:.0f} s" if x >= 10 else f"{x:.2g} s"

"""Exercises of ``notebooks/03_federated_learning.ipynb``: the answers live here, not in the notebook.

* ``fedavg_round_saving`` (predict -> run -> explain): how many times fewer rounds
  FedAvg (E=5) needs than FedSGD on IID clients, each at its own tuned rate.
* ``fedavg_round`` (code): one FedAvg round written with ``client.scatter`` and
  ``client.submit``, checked against :func:`plsim.federated.run_federated`
  running exactly one round from the same weights, parties and seed, and
  against the scheduler's record: every party's update the result of a task on
  the cluster, the tasks submitted together.
* ``dp_noise_for_budget`` (answer): the least noise that keeps DP-FedAvg within
  a privacy budget, found with :func:`plsim.federated.compute_epsilon`.
* ``secagg_max_dropouts`` (answer): how many drop-outs the notebook's secure
  aggregation round survives, from its threshold.

Worked solutions: ``notebooks/solutions/<name>.py``. Tested in ``tests/test_exercises_federated.py``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from plsim.i18n import N_, _
from plsim.exercises._core import Exercise, cluster_work, register, values_in

__all__ = ["DP_NOISE_GRID", "DP_EPSILON_BUDGET", "DP_SAMPLING", "fedavg_round_case", "reference_fedavg_round",
           "noise_for_budget"]

NOTEBOOK = "03_federated_learning"

# -- predict -> run -> explain: FedAvg's round saving ------------------------------------------------


def _saving_explain(guess: float | None, measured: float, tuned: Any = None, fair: Any = None, **_ignored: Any) -> str:
    """The usual reasons for the gap, picked from the run's own numbers."""
    if not math.isfinite(measured):
        return (_("There is no ratio this time: one of the two runs did not reach the target within its round "
                   "cap at any learning rate of its grid. Look at the table: which one, and at which rates?"))
    steps = None
    if fair is not None:
        steps = 5 * -(-fair.samples_per_client // fair.batch_size)
    sgd_lr = getattr(tuned.get("FedSGD"), "best_lr", None) if isinstance(tuned, dict) else None
    parts = []
    if guess is not None and steps and guess >= 0.5 * steps:
        parts.append(_("Each FedAvg round does {steps} local steps per client, yet it saves "
                        "far fewer rounds than that: later local steps start from a model that "
                        "already fits the client's data, so each adds less, and they all start "
                        "from the same stale global model.").format(steps=steps))
    if guess is not None and guess > measured:
        lr_txt = _(" (its tuned rate here is {sgd_lr:g})").format(sgd_lr=sgd_lr) if sgd_lr else ""
        parts.append(_("FedSGD at its OWN tuned learning rate takes large steps") + lr_txt + _(", so it is a much "
                        "stronger baseline than FedSGD at FedAvg's small rate."))
    elif guess is not None and guess < measured:
        parts.append(_("On IID clients every client's data looks like the whole data set, so a client's local "
                        "steps are nearly steps on the pooled data: local work converts into progress well, and "
                        "FedSGD's one step per round is capped by the largest stable step size."))
    if not parts:
        parts.append(_("Local work pays off on IID clients, but not one-for-one: compare the ratio with the "
                        "number of local steps per round."))
    edge = _tuned_at_an_edge(tuned)
    if edge:
        parts.append(_("Careful: the tuned rate of {join} lies at an end of its grid, so a "
                        "rate outside the grid might do better and change the ratio.").format(join=' and '.join(edge)))
    return " ".join(parts)


def _tuned_at_an_edge(tuned: Any) -> list[str]:
    """The algorithms whose tuned rate is not inside their grid (the figure's circled point at an end)."""
    from plsim.federated.comparison import LrTuning
    from plsim.federated.lessons import grid_interior

    if not isinstance(tuned, dict):
        return []
    return [label for label, t in tuned.items()
            if isinstance(t, LrTuning) and t.best_lr is not None and not grid_interior(t)]


register(Exercise(
    name="fedavg_round_saving",
    kind="predict",
    rel_tol=0.35,
    hint=N_("prediction = how many times fewer rounds FedAvg (E=5) needs than FedSGD, e.g. 2.0"),
    explain=_saving_explain,
    misconception="Local steps convert one-for-one into saved rounds (150 local steps per round = 150x fewer "
                  "rounds), or the opposite: FedAvg's saving is a fixed property of the algorithm, whatever the "
                  "learning rates and the data.",
    notebook=NOTEBOOK,
))

# -- code: one FedAvg round with scatter and submit --------------------------------------------------


def fedavg_round_case(random_state: int = 7) -> dict[str, Any]:
    """The check's federation: 5 parties of very different sizes, a softmax regression on digits.

    Unequal sizes make a plain (unweighted) mean of the updates differ clearly
    from FedAvg's average weighted by the parties' sample counts.
    """
    from plsim import data, models
    from plsim._random import task_rng, task_seed
    from plsim.federated import ClientData

    ds = data.load_dataset("digits", random_state=0)
    order = task_rng(random_state, "data").permutation(len(ds.y_train))
    cuts = np.cumsum([20, 40, 80, 160, 320])
    parts = [np.sort(p) for p in np.split(order[:cuts[-1]], cuts[:-1])]
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    w0 = model.init_params(task_seed(random_state, "init"))
    parties = [ClientData(k, ds.X_train[p], ds.y_train[p]) for k, p in enumerate(parts)]
    return dict(dataset=ds, parts=parts, model=model, w_global=w0, parties=parties,
                settings=dict(local_epochs=2, batch_size=10, lr=0.05, random_state=random_state, round_index=1))


def reference_fedavg_round(case: dict[str, Any]) -> np.ndarray:
    """plsim's own FedAvg round on the case: every party trains, one round, from ``w_global``."""
    from plsim.federated import run_federated

    s = case["settings"]
    h = run_federated(case["model"], case["dataset"], case["parts"], algorithm="fedavg", rounds=1,
                      client_fraction=1.0, local_epochs=s["local_epochs"], batch_size=s["batch_size"], lr=s["lr"],
                      random_state=s["random_state"], initial_weights=case["w_global"])
    return np.asarray(h.weights)


def _party_deltas(case: dict[str, Any]) -> list[np.ndarray]:
    """Each party's local update (``delta``) of the round, as plsim computes it: what one party's task yields."""
    from plsim.federated import client_seed, local_update

    s = case["settings"]
    return [local_update(case["model"], case["w_global"], p.X, p.y, algorithm="fedavg",
                         local_epochs=s["local_epochs"], batch_size=s["batch_size"], lr=s["lr"],
                         seed=client_seed(s["random_state"], s["round_index"], p.client_id)).delta
            for p in case["parties"]]


@functools.cache
def _deltas_of_the_check() -> tuple[np.ndarray, ...]:
    """:func:`_party_deltas` of the check's federation (computed once per process: the case never changes)."""
    return tuple(_party_deltas(fedavg_round_case()))


def _unweighted_round(case: dict[str, Any]) -> np.ndarray:
    """The common mistake: every party's update counts the same, whatever its size."""
    return case["w_global"] - np.mean(_party_deltas(case), axis=0)


def _is_update(w_global: np.ndarray) -> Any:
    """``same(result, delta)`` for :func:`cluster_work`: the party's delta, or its locally trained weights."""
    def same(result: Any, delta: np.ndarray) -> bool:
        for value in values_in(result):
            if isinstance(value, np.ndarray) and value.shape == delta.shape and (
                    np.allclose(value, delta, rtol=1e-9, atol=1e-12)
                    or np.allclose(value, w_global - delta, rtol=1e-9, atol=1e-12)):
                return True
        return False
    return same


def _run_fedavg_round(fn: Any, dask_client: Any = None, **_ignored: Any) -> tuple[bool, str]:
    if dask_client is None:
        return False, _("pass the notebook's Dask client: check_code(\"fedavg_round\", fedavg_round, dask_client=dask_client)")
    from plsim.exercises.scheduler_record import watch_scheduler

    case = fedavg_round_case()
    w_before = case["w_global"].copy()
    with watch_scheduler(dask_client, only_this_client=True) as seen:
        got = fn(dask_client, case["model"], case["w_global"], case["parties"], **case["settings"])
    if not np.array_equal(case["w_global"], w_before):
        return False, _("your function changed w_global in place; the server's model must stay as it was (copy it).")
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False, _("return the new global weights as one flat array, not {name}").format(name=type(got).__name__)
    want = reference_fedavg_round(case)
    if got.shape != want.shape:
        return False, _("you returned shape {shape}; the model has {size} parameters (a flat "
                         "vector)").format(shape=got.shape, size=want.size)
    n = len(case["parties"])
    how = _("submit one local-training task per party with dask_client.submit, and average the updates you gather")
    if not seen.record.computed():
        return False, _("no task ran on the cluster while your function ran: {how}.").format(how=how)
    if not np.allclose(got, want, rtol=1e-9, atol=1e-12):
        gap = float(np.max(np.abs(got - want)))
        if np.allclose(got, _unweighted_round(case), rtol=1e-9, atol=1e-12):
            return False, (_("you averaged the updates with equal weights: a party with 320 samples must count 16 times "
                              "as much as one with 20 (weight each update by its party's n_samples)."))
        if np.allclose(got, case["w_global"]):
            return False, _("the weights did not change: apply the averaged update, w_global - average(delta).")
        return False, (_("your new weights differ from plsim's by up to {gap:.3g}. Seed each "
                          "party's local training with client_seed(random_state, round_index, "
                          "party.client_id) and subtract the weighted average of the deltas "
                          "from w_global.").format(gap=gap))
    work = cluster_work(seen, _deltas_of_the_check(), _is_update(case["w_global"]), what=_("parties' updates"), how=how,
                        own="run_federated")
    if work.problem:
        return False, work.problem
    return True, (_("your round matches plsim's run_federated round on {n} parties of sizes "
                     "{value}; each party's update was computed by its own task on the cluster, "
                     "up to {in_flight} in flight at once (scheduler's record).").format(n=n, value=[p.n_samples for p in case['parties']], in_flight=work.in_flight))


register(Exercise(
    name="fedavg_round",
    kind="code",
    hint=N_("scatter each party once (dask_client.scatter), submit one F.local_update task per party "
            "(seed=F.client_seed(random_state, round_index, party.client_id)), gather, and average the deltas "
            "weighted by each result's n_samples"),
    run=_run_fedavg_round,
    misconception="The server's average is a plain mean of the clients' models; and the clients' data travels "
                  "with every round's task (instead of being placed on the workers once).",
    notebook=NOTEBOOK,
))

# -- answer: the least noise for a privacy budget ----------------------------------------------------

DP_NOISE_GRID = (0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0)
DP_EPSILON_BUDGET = 4.0
DP_SAMPLING = 0.5


@functools.lru_cache(maxsize=32)
def noise_for_budget(rounds: int, delta: float, budget: float = DP_EPSILON_BUDGET,
                     grid: tuple[float, ...] = DP_NOISE_GRID, sampling: float = DP_SAMPLING) -> float | None:
    """The smallest noise multiplier of ``grid`` whose epsilon after ``rounds`` rounds is at most ``budget``."""
    from plsim.federated import compute_epsilon

    for z in sorted(grid):
        if compute_epsilon(z, sampling, rounds, delta) <= budget:
            return z
    return None


def _dp_expected(rounds: int | None = None, delta: float | None = None) -> float | None:
    from plsim.federated import demo_settings

    cfg = demo_settings()
    return noise_for_budget(cfg.rounds if rounds is None else rounds, cfg.delta if delta is None else delta)


register(Exercise(
    name="dp_noise_for_budget",
    kind="answer",
    expected=_dp_expected,
    rel_tol=1e-9,
    hint=N_("loop over the grid and call F.compute_epsilon(z, 0.5, cfg.rounds, cfg.delta) for each z; keep the "
            "smallest z whose epsilon is within the budget"),
    misconception="Privacy is a property of the noise level alone; in fact epsilon grows with every round and "
                  "with the sampling rate, so the noise needed depends on how long you train.",
    notebook=NOTEBOOK,
))

# -- answer: how many drop-outs secure aggregation survives ------------------------------------------


def _secagg_expected(agg: Any = None) -> int:
    if agg is None:
        raise ValueError("pass the notebook's round: check(\"secagg_max_dropouts\", answer, agg=sec)")
    return len(agg.participants) - agg.threshold


register(Exercise(
    name="secagg_max_dropouts",
    kind="answer",
    expected=_secagg_expected,
    hint=N_("the server unmasks only when at least `threshold` of the participants sent their vectors"),
    misconception="Secure aggregation survives any number of drop-outs (and so would reveal a lone survivor's "
                  "update), or none at all.",
    notebook=NOTEBOOK,
))

"""Notebook 03's exercises: each worked solution passes its check, and wrong answers fail it.

Expected values are checked independently where possible: the FedAvg round by a
hand-written weighted average of plsim's local updates, the privacy answer
against the epsilons of the grid, the drop-outs against the threshold rule.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from _exercise_solutions import on_clusters  # noqa: F401
from plsim import federated as F
from plsim.exercises import check, check_code, predict, reveal
from plsim.exercises import _core
from plsim.exercises import federated as ex
from plsim.federated import secagg

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "solutions"


def _exec_solution(name: str, **namespace) -> dict:
    ns = dict(F=F, np=np, check=check, check_code=check_code, predict=predict, reveal=reveal, **namespace)
    exec(compile((SOLUTIONS / f"{name}.py").read_text(), f"{name}.py", "exec"), ns)
    return ns


# -- fedavg_round (code) -----------------------------------------------------------------------------

def _by_hand(case, weighted=True):
    """FedAvg's round written out: local updates from plsim, the average done here."""
    s = case["settings"]
    deltas, sizes = [], []
    for p in case["parties"]:
        r = F.local_update(case["model"], case["w_global"], p.X, p.y, algorithm="fedavg",
                           local_epochs=s["local_epochs"], batch_size=s["batch_size"], lr=s["lr"],
                           seed=F.client_seed(s["random_state"], s["round_index"], p.client_id))
        deltas.append(r.delta)
        sizes.append(len(p.y))
    weights = np.array(sizes, float) if weighted else np.ones(len(sizes))
    return case["w_global"] - sum(wk * d for wk, d in zip(weights, deltas)) / weights.sum()


def test_the_reference_round_is_a_weighted_average_of_local_updates():
    case = ex.fedavg_round_case()
    assert [len(p.y) for p in case["parties"]] == [20, 40, 80, 160, 320]
    ref = ex.reference_fedavg_round(case)
    assert np.allclose(ref, _by_hand(case), rtol=1e-12, atol=1e-14)
    # the unequal sizes make the unweighted mean clearly different
    assert np.max(np.abs(ref - _by_hand(case, weighted=False))) > 1e-3


@on_clusters
def test_fedavg_round_solution_passes(cluster, request):
    client = request.getfixturevalue(cluster)
    ns = _exec_solution("fedavg_round", dask_client=client)
    fb = check_code("fedavg_round", ns["fedavg_round"], dask_client=client, quiet=True)
    assert fb.correct is True, fb
    assert "each party's update was computed by its own task on the cluster" in fb


def test_fedavg_round_without_weights_fails(client):
    def unweighted(dask_client, model, w_global, parties, *, local_epochs, batch_size, lr,
                                random_state, round_index=1):
        def train(m, w, party, seed):
            return F.local_update(m, w, party.X, party.y, local_epochs=local_epochs, batch_size=batch_size,
                                  lr=lr, seed=seed)
        futures = [dask_client.submit(train, model, w_global, f,
                                      F.client_seed(random_state, round_index, p.client_id))
                   for p, f in zip(parties, dask_client.scatter(list(parties)))]
        return w_global - np.mean([r.delta for r in dask_client.gather(futures)], axis=0)

    fb = check_code("fedavg_round", unweighted, dask_client=client, quiet=True)
    assert fb.correct is False and "equal weights" in fb


def test_fedavg_round_must_run_on_the_cluster_and_not_mutate(client):
    case = ex.fedavg_round_case()
    right = ex.reference_fedavg_round(case)

    def no_dask(dask_client, model, w_global, parties, **kw):
        return right.copy()

    fb = check_code("fedavg_round", no_dask, dask_client=client, quiet=True)
    assert fb.correct is False and "task" in fb

    def mutating(dask_client, model, w_global, parties, **kw):
        dask_client.gather([dask_client.submit(np.sum, i) for i in range(len(parties))])
        w_global -= 1.0
        return w_global

    fb = check_code("fedavg_round", mutating, dask_client=client, quiet=True)
    assert fb.correct is False and "in place" in fb

    fb = check_code("fedavg_round", no_dask, quiet=True)
    assert fb.correct is False and "dask_client=dask_client" in fb


def test_fedavg_round_by_calling_run_federated_fails(client):
    """plsim's own round on the cluster: the exact answer, from tasks the student did not write."""
    def via_run_federated(dask_client, model, w_global, parties, *, local_epochs, batch_size, lr, random_state,
                          round_index):
        case = ex.fedavg_round_case()  # the same parties, as a dataset and its partition
        return F.run_federated(model, case["dataset"], case["parts"], rounds=1, client_fraction=1.0,
                               local_epochs=local_epochs, batch_size=batch_size, lr=lr, random_state=random_state,
                               initial_weights=w_global, executor=dask_client).weights

    fb = check_code("fedavg_round", via_run_federated, dask_client=client, quiet=True)
    assert fb.correct is False and "plsim's own (run_federated's)" in fb, fb


def test_fedavg_round_in_this_process_plus_dummy_tasks_fails(client):
    """run_federated in this process (executor=None) gives the exact round; tasks for show do not make it Dask."""
    def kernel_plus_dummies(dask_client, model, w_global, parties, *, local_epochs, batch_size, lr, random_state,
                            round_index):
        dask_client.gather(dask_client.map(abs, range(len(parties)), pure=False))
        case = ex.fedavg_round_case()
        return F.run_federated(model, case["dataset"], case["parts"], rounds=1, client_fraction=1.0,
                               local_epochs=local_epochs, batch_size=batch_size, lr=lr, random_state=random_state,
                               initial_weights=w_global, executor=None).weights

    fb = check_code("fedavg_round", kernel_plus_dummies, dask_client=client, quiet=True)
    assert fb.correct is False, fb
    assert "5 of the 5 parties' updates your answer needs were not computed by any task on the cluster" in fb, fb


def _train(model, w, party, seed, *, local_epochs, batch_size, lr):
    return F.local_update(model, w, party.X, party.y, algorithm="fedavg", local_epochs=local_epochs,
                          batch_size=batch_size, lr=lr, seed=seed)


def test_fedavg_round_one_party_at_a_time_fails(client):
    def sequential(dask_client, model, w_global, parties, *, local_epochs, batch_size, lr, random_state,
                   round_index):
        results = [dask_client.submit(_train, model, w_global, p, F.client_seed(random_state, round_index, p.client_id),
                                      local_epochs=local_epochs, batch_size=batch_size, lr=lr, pure=False).result()
                   for p in parties]
        return w_global - F.weighted_average([r.delta for r in results], [r.n_samples for r in results])

    fb = check_code("fedavg_round", sequential, dask_client=client, quiet=True)
    assert fb.correct is False and "the 5 tasks that computed your parties' updates ran one at a time" in fb, fb


def test_fedavg_round_returning_local_weights_passes(client):
    """Another honest design: each party's task returns its locally trained weights, the server averages them."""
    def local_models(dask_client, model, w_global, parties, *, local_epochs, batch_size, lr, random_state,
                     round_index):
        futures = [dask_client.submit(lambda *a, **k: w_global - _train(*a, **k).delta, model, w_global, f,
                                      F.client_seed(random_state, round_index, p.client_id),
                                      local_epochs=local_epochs, batch_size=batch_size, lr=lr, pure=False)
                   for p, f in zip(parties, dask_client.scatter(list(parties)))]
        return F.weighted_average(dask_client.gather(futures), [p.n_samples for p in parties])

    fb = check_code("fedavg_round", local_models, dask_client=client, quiet=True)
    assert fb.correct is True, fb


# -- dp_noise_for_budget (answer) --------------------------------------------------------------------

def test_dp_noise_for_budget(monkeypatch):
    rounds = 20
    cfg = SimpleNamespace(rounds=rounds, delta=1e-3)
    monkeypatch.setattr(F, "demo_settings", lambda small=None: cfg)
    eps = {z: F.compute_epsilon(z, ex.DP_SAMPLING, rounds, 1e-3) for z in ex.DP_NOISE_GRID}
    # epsilon falls as the noise rises: the answer is the first grid value under the budget
    assert all(a > b for a, b in zip(eps.values(), list(eps.values())[1:]))
    want = min(z for z, e in eps.items() if e <= ex.DP_EPSILON_BUDGET)
    assert want == 3.0  # epsilon 4.6 at z = 2 and 2.7 at z = 3 (the accountant's table, read once by hand)
    ns = _exec_solution("dp_noise_for_budget", cfg=cfg)
    assert ns["answer"] == want
    assert check("dp_noise_for_budget", ns["answer"], quiet=True).correct is True
    assert check("dp_noise_for_budget", 2.0, quiet=True).correct is False
    assert check("dp_noise_for_budget", 5.0, quiet=True).correct is False
    # half the rounds need less noise for the same budget (epsilon 3.1 at z = 2 after 10 rounds)
    assert ex.noise_for_budget(10, 1e-3) == 2.0


# -- secagg_max_dropouts (answer) --------------------------------------------------------------------

def test_secagg_max_dropouts():
    sec = secagg.SecureAggregation((0, 1, 2, 3, 4), threshold=3, value_bound=100.0, random_state=0)
    ns = _exec_solution("secagg_max_dropouts", sec=sec)
    assert ns["answer"] == 2
    assert check("secagg_max_dropouts", 2, agg=sec, quiet=True).correct is True
    assert check("secagg_max_dropouts", 3, agg=sec, quiet=True).correct is False
    assert check("secagg_max_dropouts", 0, agg=sec, quiet=True).correct is False
    # the rule behind the answer: 2 drop-outs still unmask, 3 are refused
    x = {k: np.full(4, float(k)) for k in sec.participants}
    masked = {k: sec.mask(k, v) for k, v in x.items()}
    assert np.allclose(sec.unmask({k: masked[k] for k in (0, 1, 2)}), x[0] + x[1] + x[2])
    with pytest.raises(ValueError, match="below the threshold 3"):
        sec.unmask({k: masked[k] for k in (0, 1)})


# -- fedavg_round_saving (predict -> run -> explain) -------------------------------------------------

@pytest.fixture
def no_predictions():
    yield
    _core._PREDICTIONS.clear()


def test_fedavg_round_saving_prediction_and_feedback(no_predictions):
    ns = _exec_solution("fedavg_round_saving")
    assert _core._PREDICTIONS["fedavg_round_saving"] == ns["prediction"]
    fair = SimpleNamespace(samples_per_client=300, batch_size=10)
    tuned = {"FedSGD": SimpleNamespace(best_lr=3.0)}
    close = reveal("fedavg_round_saving", ns["prediction"] * 1.1, fair=fair, tuned=tuned, quiet=True)
    assert close.correct is True
    predict("fedavg_round_saving", 150.0, quiet=True)  # one saved round per local step: far too high
    fb = reveal("fedavg_round_saving", 3.0, fair=fair, tuned=tuned, quiet=True)
    assert fb.correct is False and "too high" in fb and "150 local steps" in fb and "tuned rate here is 3" in fb
    predict("fedavg_round_saving", 1.0, quiet=True)
    fb = reveal("fedavg_round_saving", 6.0, fair=fair, tuned=tuned, quiet=True)
    assert fb.correct is False and "too low" in fb and "IID" in fb
    fb = reveal("fedavg_round_saving", float("nan"), fair=fair, tuned=tuned, quiet=True)
    assert fb.correct is False and "no ratio" in fb

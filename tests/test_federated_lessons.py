"""plsim.federated.lessons and the comparison runner: interior grids, the cap + 1 rule, one source of figures."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from plsim.federated import lessons
from plsim.federated.demo import PARTITIONS, FairComparison, comparison_task, demo_settings, fedavg_label
from plsim.federated.comparison import LrTuning, start_comparison, tune_lr


def _tuning(lrs, rounds, cap=20, target=0.8, algorithm="fedavg"):
    """An LrTuning as tune_lr leaves it: a run that did not reach the target ran to the cap."""
    stopped = [r if r is not None else cap for r in rounds]
    return LrTuning("t", algorithm, target, list(lrs), list(rounds), stopped, [False] * len(lrs), {}, cap)


# -- grid_interior ---------------------------------------------------------------------------------

@pytest.mark.parametrize("lrs, rounds, interior", [
    ((0.1, 0.3, 1.0), (30, 12, 25), True),        # the best has a slower rate on each side
    ((0.1, 0.3, 1.0), (30, 25, 12), False),       # best at the top end: a larger rate might do better
    ((0.1, 0.3, 1.0), (12, 25, None), False),     # best at the bottom end
    ((0.1, 0.3, 1.0), (None, None, None), False),  # nothing tuned
    ((0.1, 0.3), (20, 12), False),                # two rates cannot bracket an optimum
    ((1.0, 0.1, 0.3), (20, 20, 12), True),        # order of the grid does not matter
])
def test_grid_interior(lrs, rounds, interior):
    t = _tuning(lrs, rounds)
    assert lessons.grid_interior(t) is interior


def test_grid_interior_refuses_what_is_not_a_tuning():
    with pytest.raises(TypeError, match="LrTuning"):
        lessons.grid_interior({"lrs": [0.1]})


# -- round_ratio and the cap + 1 rule ----------------------------------------------------------------

def test_round_ratio_when_both_reach_is_exact():
    q = lessons.round_ratio(_tuning((1, 3), (60, 45), cap=200), _tuning((0.1, 0.3), (9, 5), cap=25))
    assert (q.fedsgd_rounds, q.fedavg_rounds, q.kind) == (45, 5, "exact")
    assert q.ratio == pytest.approx(9.0) and str(q) == "9.00x"


def test_round_ratio_counts_a_method_that_never_reached_as_cap_plus_one():
    sgd = _tuning((1, 3), (80, 56), cap=100)
    avg = _tuning((0.03, 0.1), (None, None), cap=100)
    q = lessons.round_ratio(sgd, avg)
    assert not q.fedavg_reached and q.fedsgd_reached and q.kind == "at most"
    assert q.ratio == pytest.approx(56 / 101) and str(q) == "at most 0.55x"
    back = lessons.round_ratio(_tuning((1, 3), (None, None), cap=150), _tuning((0.1,), (10,), cap=20))
    assert back.kind == "at least" and back.ratio == pytest.approx(151 / 10)
    neither = lessons.round_ratio(_tuning((1,), (None,), cap=150), _tuning((0.1,), (None,), cap=20))
    assert neither.kind == "none" and "no ratio" in str(neither)


def test_round_ratio_refuses_tunings_with_different_targets():
    with pytest.raises(ValueError, match="different targets"):
        lessons.round_ratio(_tuning((1,), (5,), target=0.8), _tuning((1,), (5,), target=0.85))


@pytest.mark.parametrize("iid, shards, verdict", [
    ((60, 6), (60, 12), "shrinks"),               # 10x -> 5x
    ((60, 6), (60, 80), "reverses"),              # FedAvg needs more rounds
    ((60, 6), (60, 5), "does not shrink"),        # 10x -> 12x
    ((60, 6), (56, None), "reverses"),            # FedAvg never reached in 100 rounds: at most 56/101
    ((60, 6), (None, 20), "cannot tell"),         # FedSGD never reached: at least 101/20 = 5.05, and 10x on IID
    ((60, None), (56, 10), "cannot tell"),        # no IID ratio to compare with
    ((60, 6), (None, None), "cannot tell"),
])
def test_advantage_change(iid, shards, verdict):
    q_iid = lessons.round_ratio(_tuning((1,), (iid[0],), cap=200), _tuning((0.1,), (iid[1],), cap=25))
    q_sh = lessons.round_ratio(_tuning((1,), (shards[0],), cap=100), _tuning((0.1,), (shards[1],), cap=100))
    assert lessons.advantage_change(q_iid, q_sh) == verdict


def test_advantage_change_with_a_lower_bound_above_the_iid_ratio():
    q_iid = lessons.round_ratio(_tuning((1,), (30,), cap=200), _tuning((0.1,), (6,), cap=25))     # 5x
    q_sh = lessons.round_ratio(_tuning((1,), (None,), cap=100), _tuning((0.1,), (4,), cap=100))  # >= 101/4
    assert q_sh.kind == "at least" and lessons.advantage_change(q_iid, q_sh) == "does not shrink"


# -- the comparison runner: a small deterministic case -------------------------------------------------

# FedSGD's optimum inside its grid, FedAvg's at the top end; on the shards both reach the target, FedAvg later.
TINY = FairComparison(n_clients=6, samples_per_client=60, hidden=(8,), client_fraction=0.5, local_epochs=(1, 2),
                      shards_local_epochs=(1,), target=0.4, fedsgd_lrs=(1.0, 3.0, 10.0), fedavg_lrs=(0.1, 0.3, 1.0),
                      fedsgd_max_rounds=30, fedavg_max_rounds=10, shards_fedavg_lrs=(0.03, 0.1), shards_max_rounds=20)


def _direct(cfg):
    """The comparison by hand: tune_lr on each partition and algorithm, one after the other."""
    ds, model, parts = comparison_task(cfg)
    return {p: {label: tune_lr(model, ds, parts[p], lrs, target=cfg.target, max_rounds=cap, patience=cfg.patience,
                               label=label, client_fraction=cfg.client_fraction, random_state=cfg.random_state, **kw)
                for label, (kw, lrs, cap) in cfg.algorithms(p).items()}
            for p in PARTITIONS}


def fig_case(got):
    fig = lessons.comparison_figures(got, TINY)
    return fig["fedsgd_best_lr_interior"], fig["fedavg_best_lr_interior"], fig["noniid_advantage_e1"]


def _same(a, b):
    assert list(a) == list(b)
    for p in a:
        assert list(a[p]) == list(b[p])
        for label in a[p]:
            x, y = a[p][label], b[p][label]
            assert (x.lrs, x.rounds, x.stopped_at, x.diverged, x.cap) == (y.lrs, y.rounds, y.stopped_at, y.diverged,
                                                                         y.cap)
            assert np.array_equal(x.best.weights, y.best.weights)


def test_start_comparison_runs_what_tune_lr_runs_and_the_figures_follow_from_the_grids():
    want = _direct(TINY)
    comp = start_comparison(TINY)
    assert comp.partitions == PARTITIONS
    got = comp.results()
    _same(got, want)
    assert list(got["IID"]) == ["FedSGD", fedavg_label(1, 10), fedavg_label(2, 10)]
    assert list(got["2 shards per client"]) == ["FedSGD", fedavg_label(1, 10)]
    assert got["2 shards per client"]["FedSGD"].cap == TINY.shards_max_rounds
    assert got["IID"]["FedSGD"].cap == TINY.fedsgd_max_rounds and got["IID"][fedavg_label(2, 10)].cap == 10
    # what this case is for: an interior and an edge optimum, a reversal with both reaching the target
    assert fig_case(got) == (True, False, "reverses")

    fig = lessons.comparison_figures(got, TINY)
    json.dumps(fig)   # JSON-able as it is

    def rounds(t):    # the tuned round count, read off the grid independently of LrTuning.best_rounds
        reached = [r for r in t.rounds if r is not None]
        return min(reached) if reached else t.cap + 1

    for e in TINY.local_epochs:
        sgd, avg = got["IID"]["FedSGD"], got["IID"][fedavg_label(e, 10)]
        assert fig[f"fedavg_iid_round_ratio_e{e}"] == pytest.approx(rounds(sgd) / rounds(avg), abs=1e-3)
        assert fig[f"fedavg_e{e}_best_lr_interior"] == lessons.grid_interior(avg)
    assert fig["fedavg_best_lr_interior"] == all(fig[f"fedavg_e{e}_best_lr_interior"] for e in TINY.local_epochs)
    sh = got["2 shards per client"]
    assert fig["noniid_fedsgd_reached"] == any(r is not None for r in sh["FedSGD"].rounds)
    assert fig["fedavg_noniid_round_ratio_e1"] == pytest.approx(
        rounds(sh["FedSGD"]) / rounds(sh[fedavg_label(1, 10)]), abs=1e-3)
    iid_sgd = got["IID"]["FedSGD"]
    assert fig["tunings"]["IID"]["FedSGD"]["grid"] == {f"{lr:g}": r for lr, r in zip(iid_sgd.lrs, iid_sgd.rounds)}


@pytest.mark.slow
def test_start_comparison_on_the_cluster_gives_the_same_tunings(client):
    want = _direct(TINY)
    comp = start_comparison(TINY, client)
    shards = comp.partition("2 shards per client")   # any order of waiting
    _same({"IID": comp.partition("IID"), "2 shards per client": shards}, want)
    _same(comp.results(), want)


def test_start_comparison_refuses_bad_input():
    with pytest.raises(TypeError, match="FairComparison"):
        start_comparison(demo_settings())
    with pytest.raises(ValueError, match="partitions"):
        start_comparison(TINY, partitions=("IID", "Dirichlet"))
    with pytest.raises(TypeError, match="partitions"):
        start_comparison(TINY, partitions="IID")
    with pytest.raises(ValueError, match="partitions"):
        start_comparison(TINY, partitions=())
    comp = start_comparison(TINY, partitions=("IID",))
    with pytest.raises(ValueError, match="not in this comparison"):
        comp.partition("2 shards per client")


def test_course_figures_runs_the_demo_settings(monkeypatch):
    from plsim.federated import demo

    seen = []

    def tiny(small=None):
        seen.append(small)
        return replace(demo.FederatedDemo(), compare=TINY)

    monkeypatch.setattr(lessons, "demo_settings", tiny)
    fig = lessons.course_figures(small=True)
    assert seen == [True] and fig["small"] is True
    assert fig == {**lessons.comparison_figures(_direct(TINY), TINY), "small": True}
    with pytest.raises(TypeError, match="small"):
        lessons.course_figures(small="yes")


# -- the lesson itself, at the notebook's own settings (deterministic: rounds, not seconds) -------------

@pytest.mark.slow
@pytest.mark.parametrize("small", [False, True], ids=["2 CPUs", "PLSIM_SMALL"])
def test_the_demo_shows_fedavgs_saving_and_client_drift(small):
    fig = lessons.course_figures(small=small)
    assert fig["fedavg_iid_round_ratio_e5"] >= 5 and fig["fedavg_iid_round_ratio_e20"] >= 5
    assert fig["fedavg_iid_round_ratio_e5_kind"] == fig["fedavg_iid_round_ratio_e20_kind"] == "exact"
    assert fig["fedsgd_best_lr_interior"] and fig["fedavg_best_lr_interior"]
    assert fig["noniid_fedsgd_reached"]
    assert fig["fedavg_noniid_round_ratio_e5"] < fig["fedavg_iid_round_ratio_e5"]
    assert fig["noniid_advantage_e5"] in ("shrinks", "reverses")
    assert math.isfinite(fig["fedavg_noniid_round_ratio_e5"])


# -- the fedavg_round_saving exercise reads the grid too ---------------------------------------------

def test_round_saving_feedback_warns_when_a_tuned_rate_is_at_the_grid_edge():
    from types import SimpleNamespace

    from plsim.exercises import _core, predict, reveal

    fair = SimpleNamespace(samples_per_client=300, batch_size=10)
    inside = {"FedSGD": _tuning((1, 3, 8), (90, 50, None), cap=200, algorithm="fedsgd"),
              "FedAvg E=5 B=10": _tuning((0.1, 0.5, 0.8), (12, 6, None), cap=25)}
    edge = {**inside, "FedAvg E=5 B=10": _tuning((0.1, 0.2, 0.3), (12, 9, 7), cap=25)}
    try:
        predict("fedavg_round_saving", 7.0, quiet=True)
        assert "end of its grid" not in reveal("fedavg_round_saving", 50 / 6, fair=fair, tuned=inside, quiet=True)
        fb = reveal("fedavg_round_saving", 50 / 7, fair=fair, tuned=edge, quiet=True)
        assert "FedAvg E=5 B=10" in fb and "end of its grid" in fb
    finally:
        _core._PREDICTIONS.clear()

"""Grader-side checks of assignment A1 (speedup and ensembles): cases drawn at grading time, references here.

The notebook's hidden tests send what the student's ``speedup_and_efficiency``, ``serial_fraction``,
``fit_times`` and ``train_both`` return for these cases (``plsim.grading.send``). Q4's "trained on the
cluster" is read from the scheduler's record of the grader's own cluster, not from the kernel.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from plsim.grading.checks import CheckContext, Failed, check, close, same_array
from plsim.grading.protocol import Raised

A = "a1"


# -- Q1 speedup and efficiency ----------------------------------------------------------------------------

def _q1_by_hand_cases(rng):
    return [{"t1": 12.0, "tp": 6.0, "p": 2}, {"t1": 12.0, "tp": 4.0, "p": 4},
            {"t1": float(rng.uniform(5, 50)), "tp": float(rng.uniform(1, 5)), "p": int(rng.integers(2, 16))}]


def _q1_properties_cases(rng):
    cases = [{"t1": 5.0, "tp": 5.0, "p": 1}, {"t1": 2.0, "tp": 4.0, "p": 8}]   # no gain; slower in parallel
    cases += [{"t1": float(rng.uniform(1, 100)), "tp": float(rng.uniform(0.1, 100)), "p": int(rng.integers(1, 64))}
              for _ in range(12)]
    return cases


def _check_speedup(ctx: CheckContext) -> None:
    for case, got in ctx.pairs():
        s = case["t1"] / case["tp"]
        if not (isinstance(got, tuple | list) and len(got) == 2):
            raise Failed("speedup_and_efficiency must return the pair (S, E)")
        if not close(got[0], s) or not close(got[1], s / case["p"]):
            slower = " (here the parallel run is slower: S < 1)" if s < 1 else ""
            raise Failed(f"speedup_and_efficiency is wrong for a case with p = {case['p']}{slower}: S = T1 / Tp, "
                         "E = S / p")


check(A, "q1-by-hand", cases=_q1_by_hand_cases)(_check_speedup)
check(A, "q1-properties", cases=_q1_properties_cases)(_check_speedup)


# -- Q2 Karp-Flatt ----------------------------------------------------------------------------------------

def _karp_flatt(speedup: float, p: int) -> float:
    return (1.0 / speedup - 1.0 / p) / (1.0 - 1.0 / p)


def _check_serial_fraction(ctx: CheckContext) -> None:
    for case, got in ctx.pairs():
        if isinstance(got, Raised):
            raise Failed(f"serial_fraction raised {got.name} for p = {case['p']} (at least 2 workers is fine)")
        if not close(got, _karp_flatt(case["speedup"], case["p"]), rel=1e-9, abs_=1e-12):
            raise Failed(f"serial_fraction is wrong for a speedup of {case['speedup']:.3g} on {case['p']} workers")


def _q2_round_trip_cases(rng):
    cases = [{"speedup": 1 / 0.325, "p": 4}]
    for _ in range(10):
        f, p = float(rng.choice([0.0, rng.uniform(0, 1)])), int(rng.integers(2, 129))
        cases.append({"speedup": 1 / (f + (1 - f) / p), "p": p})
    return cases


def _q2_extremes_cases(rng):
    p = int(rng.integers(2, 65))
    return [{"speedup": 8.0, "p": 8}, {"speedup": 1.0, "p": 8}, {"speedup": 0.5, "p": 4},
            {"speedup": float(p), "p": p}, {"speedup": 1.0, "p": p}, {"speedup": float(rng.uniform(0.1, 0.9)), "p": p}]


check(A, "q2-amdahl-round-trip", cases=_q2_round_trip_cases)(_check_serial_fraction)
check(A, "q2-extremes", cases=_q2_extremes_cases)(_check_serial_fraction)


def _q2_errors_cases(rng):
    return [{"p": p} for p in (1, 0, -3, -int(rng.integers(4, 100)))]


@check(A, "q2-errors", cases=_q2_errors_cases)
def _q2_errors(ctx: CheckContext) -> None:
    for case, got in ctx.pairs():
        if not (isinstance(got, Raised) and got.is_a("ValueError")):
            raise Failed(f"serial_fraction(1.0, {case['p']}) must raise ValueError (fewer than 2 workers), not "
                         f"{'raise ' + got.name if isinstance(got, Raised) else 'return a value'}")


# -- Q3 fit Amdahl ----------------------------------------------------------------------------------------

def _times_case(rng, exact: bool) -> dict:
    workers = sorted({1, *rng.choice([2, 3, 4, 6, 8, 12, 16, 32], size=int(rng.integers(2, 6)), replace=False)})
    t1, f = float(rng.uniform(5, 100)), float(rng.uniform(0.02, 0.6))
    times = {p: t1 * (f + (1 - f) / p) * (1.0 if exact else float(rng.uniform(0.9, 1.1))) for p in workers}
    times[1] = t1
    order = rng.permutation(len(workers)).tolist()              # keys in any order
    return {"times": [[int(workers[i]), times[workers[i]]] for i in order], "f": f}


def _check_fit(ctx: CheckContext, exact: bool) -> None:
    from plsim.speedup import fit_amdahl
    for case, got in ctx.pairs():
        times = dict((int(p), t) for p, t in case["times"])
        workers = sorted(times)
        speedups = [times[1] / times[p] for p in workers]
        if isinstance(got, Raised) or not (isinstance(got, tuple | list) and len(got) == 3):
            raise Failed("fit_times must return (workers, speedups, f)")
        w, s, f = got
        if not isinstance(w, list | tuple | np.ndarray) or list(np.asarray(w).tolist()) != workers:
            raise Failed("fit_times must return the worker counts in increasing order")
        if not same_array(s, speedups):
            raise Failed("the speedups must be T1 / Tp, in increasing order of workers")
        expected = case["f"] if exact else fit_amdahl(workers, speedups)
        if not close(f, expected, rel=1e-6, abs_=1e-9):
            raise Failed("the fitted serial fraction is not what fit_amdahl gives for these speedups")


check(A, "q3-exact-amdahl", cases=lambda rng: [_times_case(rng, True) for _ in range(3)])(
    lambda ctx: _check_fit(ctx, exact=True))
check(A, "q3-any-order", cases=lambda rng: [_times_case(rng, False) for _ in range(3)])(
    lambda ctx: _check_fit(ctx, exact=False))


# -- Q4 the same model here and on the cluster ------------------------------------------------------------

@lru_cache(maxsize=1)
def _q4_data():
    from sklearn.datasets import make_classification
    return make_classification(n_samples=300, n_features=10, n_informative=5, random_state=0)


def _q4_cases(rng):
    return [{"rows": int(rng.integers(120, 301)), "n": int(rng.integers(2, 7)), "seed": int(rng.integers(0, 2**31))}]


def _reference_proba(case: dict) -> np.ndarray:
    from plsim.ensembles import ParallelBaggingClassifier
    X, y = _q4_data()
    model = ParallelBaggingClassifier(n_estimators=case["n"], random_state=case["seed"], executor=None)
    return model.fit(X[:case["rows"]], y[:case["rows"]]).predict_proba(X)


def _q4_answer(ctx: CheckContext) -> tuple[dict, dict]:
    [(case, got)] = ctx.pairs()
    if isinstance(got, Raised) or not isinstance(got, dict):
        raise Failed(f"train_both {got if isinstance(got, Raised) else 'returned something else'} for "
                     f"{case['n']} members")
    if (got.get("n_seq"), got.get("n_par")) != (case["n"], case["n"]):
        raise Failed("both models must have n_estimators members")
    return case, got


def _plsim_bagging_tasks(ctx: CheckContext) -> list:
    if ctx.record is None:
        raise Failed("the grader has no record of the Dask cluster")
    return [t for t in ctx.record.record.tasks if t.computed and t.name.startswith("plsim-bagging-member")]


@check(A, "q4-where", cases=_q4_cases, needs_record=True)
def _q4_where(ctx: CheckContext) -> None:
    case, got = _q4_answer(ctx)
    if got.get("seq_workers") != ["local"]:
        raise Failed("the sequential model must be trained here (executor=None)")
    members = _plsim_bagging_tasks(ctx)
    if len(members) < case["n"]:
        raise Failed(f"the scheduler saw {len(members)} member task(s) on the cluster for a model of {case['n']} "
                     "members: the parallel model must be trained on the cluster (executor=client)")


@check(A, "q4-same-model", cases=_q4_cases, needs_record=True)
def _q4_same_model(ctx: CheckContext) -> None:
    case, got = _q4_answer(ctx)
    expected = _reference_proba(case)
    if not same_array(got.get("seq_proba"), expected, rel=1e-9, abs_=1e-12):
        raise Failed("the sequential model is not the ParallelBaggingClassifier of these n_estimators and "
                     "random_state")
    if not same_array(got.get("par_proba"), expected, rel=1e-9, abs_=1e-12):
        raise Failed("the model trained on the cluster differs from the sequential one: same n_estimators and "
                     "random_state, only the executor changes")
    if len(_plsim_bagging_tasks(ctx)) < case["n"]:
        raise Failed("the scheduler saw no model trained on the cluster")

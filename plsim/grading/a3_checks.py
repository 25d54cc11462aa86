"""Grader-side checks of assignment A3 (all-reduce and compression): cases drawn at grading time, references here.

The notebook's hidden tests send what the student's ``ring_time``, ``ring_bytes_per_worker``, ``topk`` and
``TopKErrorFeedback`` return for these cases (``plsim.grading.send``).
"""

from __future__ import annotations

import numpy as np

from plsim.grading.checks import CheckContext, Failed, check, close, same_array
from plsim.grading.protocol import Raised

A = "a3"


# -- Q1 ring all-reduce time ------------------------------------------------------------------------------

def _ring_time(p: int, n: float, alpha: float, beta: float) -> float:
    return 2 * (p - 1) * (alpha + n / p * beta)


def _check_ring_time(ctx: CheckContext) -> None:
    for case, got in ctx.pairs():
        if isinstance(got, Raised):
            raise Failed(f"ring_time raised {got.name} for p = {case['p']}")
        if not close(got, _ring_time(**case), rel=1e-9, abs_=1e-15):
            limits = (" (latency only)" if case["beta"] == 0 else " (bandwidth only)" if case["alpha"] == 0 else
                      " (one worker sends nothing)" if case["p"] == 1 else "")
            raise Failed(f"ring_time is wrong for p = {case['p']}{limits}: 2 (p - 1) steps, each one latency "
                         "plus n/p bytes")


def _q1_by_hand_cases(rng):
    return [{"p": 4, "n": 1e6, "alpha": 1e-5, "beta": 1e-9}, {"p": 1, "n": 1e6, "alpha": 1e-5, "beta": 1e-9},
            {"p": 3, "n": 600.0, "alpha": 1.0, "beta": 0.01},
            {"p": int(rng.integers(2, 100)), "n": float(rng.uniform(1e3, 1e9)), "alpha": float(rng.uniform(1e-6, 1e-3)),
             "beta": float(rng.uniform(1e-10, 1e-8))}]


def _q1_limits_cases(rng):
    cases = [{"p": 5, "n": 1e9, "alpha": 1.0, "beta": 0.0}]
    cases += [{"p": int(p), "n": 1e6, "alpha": 0.0, "beta": 1e-9} for p in (2, 8, 1000, rng.integers(3, 500))]
    cases.append({"p": int(rng.integers(2, 64)), "n": float(rng.uniform(1, 1e8)), "alpha": float(rng.uniform(0, 1)),
                  "beta": 0.0})
    return cases


check(A, "q1-by-hand", cases=_q1_by_hand_cases)(_check_ring_time)
check(A, "q1-limits", cases=_q1_limits_cases)(_check_ring_time)


@check(A, "q1-errors", cases=lambda rng: [{"p": 0}, {"p": -1}, {"p": -int(rng.integers(2, 50))}])
def _q1_errors(ctx: CheckContext) -> None:
    for case, got in ctx.pairs():
        if not (isinstance(got, Raised) and got.is_a("ValueError")):
            raise Failed(f"ring_time with p = {case['p']} must raise ValueError, not "
                         f"{'raise ' + got.name if isinstance(got, Raised) else 'return a value'}")


# -- Q2 bytes per worker ----------------------------------------------------------------------------------

def _q2_by_hand_cases(rng):
    return [{"p": 4, "n": 800}, {"p": 1, "n": 800}, {"p": 2, "n": 800},
            {"p": int(rng.integers(3, 64)), "n": int(rng.integers(1, 10**7))}]


@check(A, "q2-by-hand", cases=_q2_by_hand_cases)
def _q2_by_hand(ctx: CheckContext) -> None:
    for case, got in ctx.pairs():
        if not close(got, 2 * (case["p"] - 1) / case["p"] * case["n"], rel=1e-9, abs_=1e-9):
            raise Failed(f"ring_bytes_per_worker is wrong for p = {case['p']}: each worker sends one chunk of n/p "
                         "bytes in every step")


def _q2_measured_cases(rng):
    return [{"p": int(p), "floats": int(p) * int(rng.integers(1, 200))}
            for p in rng.choice(np.arange(2, 9), size=3, replace=False)]


@check(A, "q2-measured", cases=_q2_measured_cases)
def _q2_measured(ctx: CheckContext) -> None:
    """Against the bytes plsim's ring all-reduce really passes, counted here by the grader."""
    from plsim.comm import ring_allreduce_local
    for case, got in ctx.pairs():
        p, floats = case["p"], case["floats"]
        ring = ring_allreduce_local([np.full(floats, float(r)) for r in range(p)])
        if not all(close(got, b, rel=1e-9) for b in ring.bytes_per_rank):
            raise Failed(f"for {p} workers, ring_bytes_per_worker disagrees with the bytes a real ring all-reduce "
                         "passed between them")


# -- Q3 top-k ---------------------------------------------------------------------------------------------

def _topk(g: list, k: int) -> np.ndarray:
    g = np.asarray(g, dtype=float)
    keep = np.argsort(-np.abs(g), kind="stable")[:k]
    out = np.zeros_like(g)
    out[keep] = g[keep]
    return out


def _ties(rng, n: int) -> list[float]:
    return (rng.integers(-3, 4, size=n) * 0.5).tolist()          # few distinct magnitudes: many ties


def _check_topk(ctx: CheckContext) -> None:
    for case, got in ctx.pairs():
        if not isinstance(got, dict) or not same_array(got.get("out"), _topk(case["g"], case["k"]), abs_=0, rel=0):
            ties = " (equal magnitudes: keep the lower index)" if len(set(np.abs(case["g"]))) < len(case["g"]) else ""
            raise Failed(f"topk keeps the wrong entries for k = {case['k']} of {len(case['g'])}{ties}")
        if got.get("same_object") or not got.get("g_unchanged", False):
            raise Failed("topk must return a new vector and leave g unchanged")


def _q3_by_hand_cases(rng):
    return [{"g": [0.1, -3.0, 2.0, 0.5], "k": 2}, {"g": [1.0, -1.0, 1.0, 0.5], "k": 2},
            {"g": _ties(rng, 9), "k": int(rng.integers(1, 9))}]


def _q3_properties_cases(rng):
    cases = [{"g": rng.normal(size=50).round(8).tolist(), "k": int(rng.integers(1, 50))}]
    g = rng.normal(size=int(rng.integers(3, 12))).round(8).tolist()
    cases += [{"g": g, "k": len(g)}, {"g": g, "k": 0}, {"g": _ties(rng, 20), "k": int(rng.integers(1, 20))}]
    return cases


check(A, "q3-by-hand", cases=_q3_by_hand_cases)(_check_topk)
check(A, "q3-properties", cases=_q3_properties_cases)(_check_topk)


# -- Q4 error feedback ------------------------------------------------------------------------------------

def _ef_reference(k: int, grads: list) -> list[tuple[np.ndarray, np.ndarray]]:
    residual = None
    out = []
    for g in grads:
        g = np.asarray(g, dtype=float)
        corrected = g if residual is None else g + residual
        sent = _topk(corrected, k)
        residual = corrected - sent
        out.append((sent, residual))
    return out


def _check_ef(ctx: CheckContext) -> None:
    for case, got in ctx.pairs():
        if isinstance(got, Raised) or not isinstance(got, list) or len(got) != len(case["grads"]):
            raise Failed("TopKErrorFeedback.step must return the vector sent, step after step")
        for step, ((sent, residual), answer) in enumerate(zip(_ef_reference(case["k"], case["grads"]), got), 1):
            if not isinstance(answer, dict) or not same_array(answer.get("sent"), sent, rel=1e-9, abs_=1e-12):
                raise Failed(f"with k = {case['k']}, step {step} sends the wrong vector (compress gradient plus "
                             "residual)")
            if not same_array(answer.get("residual"), residual, rel=1e-9, abs_=1e-12):
                raise Failed(f"with k = {case['k']}, the residual after step {step} is wrong (what was not sent)")


def _q4_by_hand_cases(rng):
    return [{"k": 1, "grads": [[1.0, 0.5], [0.2, 0.4]]}]


def _q4_nothing_lost_cases(rng):
    n = int(rng.integers(5, 25))
    return [{"k": int(rng.integers(1, n)), "grads": rng.normal(size=(int(rng.integers(5, 30)), n)).round(8).tolist()}]


def _q4_limits_cases(rng):
    return [{"k": 3, "grads": [[0.5, -2.0, 1.0]]}, {"k": 1, "grads": [[1.0, 0.4]] * 3},
            {"k": 2, "grads": (np.tile([[1.0, 0.3, -0.2]], (6, 1))).tolist()}]


check(A, "q4-by-hand", cases=_q4_by_hand_cases)(_check_ef)
check(A, "q4-nothing-lost", cases=_q4_nothing_lost_cases)(_check_ef)
check(A, "q4-limits", cases=_q4_limits_cases)(_check_ef)

"""Grader-side checks of assignment A2 (federated learning): cases drawn at grading time, references computed here.

The notebook's hidden tests send what the student's ``fedavg``, ``round_bytes``, ``labels_per_client`` and
``client_drift`` return for these cases (``plsim.grading.send``); nothing the kernel says about passing counts.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from plsim.grading.checks import CheckContext, Failed, check, close, same_array
from plsim.grading.protocol import Raised

A = "a2"


def _vectors(rng: np.random.Generator, n_clients: int, size: int) -> list[list[float]]:
    return [rng.normal(size=size).round(6).tolist() for _ in range(n_clients)]


def _weighted(vectors: list, counts: list) -> np.ndarray:
    w = np.asarray(counts, dtype=float)
    return (w[:, None] * np.asarray(vectors, dtype=float)).sum(axis=0) / w.sum()


# -- Q1 FedAvg ------------------------------------------------------------------------------------------

def _q1_by_hand_cases(rng):
    cases = [{"vectors": [[1.0, 2.0], [3.0, 4.0]], "n": [1, 3]},
             {"vectors": [[1.0, -2.0, 3.0]], "n": [7]}]              # one client: its own vector, a new array
    for _ in range(3):
        k = int(rng.integers(2, 6))
        cases.append({"vectors": _vectors(rng, k, int(rng.integers(2, 8))),
                      "n": rng.integers(1, 60, size=k).tolist()})
    return cases


def _check_fedavg(ctx: CheckContext) -> None:
    for case, got in ctx.pairs():
        if isinstance(got, Raised):
            raise Failed(f"fedavg raised {got.name} for {len(case['n'])} valid client(s)")
        if not same_array(got.get("out") if isinstance(got, dict) else None, _weighted(case["vectors"], case["n"])):
            raise Failed(f"fedavg does not return the sample-weighted mean for {len(case['n'])} client(s) "
                         "(weight each vector by its client's sample count)")
        if got.get("same_object") or not got.get("inputs_unchanged", False):
            raise Failed("fedavg must return a new array and leave its inputs unchanged")


check(A, "q1-by-hand", cases=_q1_by_hand_cases)(_check_fedavg)


def _q1_properties_cases(rng):
    cases = []
    for _ in range(6):
        k = int(rng.integers(1, 8))
        counts = rng.integers(1, 100, size=k)
        if rng.random() < 0.3:
            counts[:] = counts[0]                                    # equal counts: the plain mean
        cases.append({"vectors": _vectors(rng, k, int(rng.integers(1, 12))), "n": counts.tolist()})
    return cases


check(A, "q1-properties", cases=_q1_properties_cases)(_check_fedavg)


def _q1_errors_cases(rng):
    cases = [{"vectors": 3, "n": 2}]
    for _ in range(3):
        k = int(rng.integers(1, 6))
        cases.append({"vectors": k, "n": k + int(rng.choice([-1, 1, 2])) if k > 1 else k + 1})
    return cases


@check(A, "q1-errors", cases=_q1_errors_cases)
def _q1_errors(ctx: CheckContext) -> None:
    for case, got in ctx.pairs():
        if not (isinstance(got, Raised) and got.is_a("ValueError")):
            raise Failed(f"fedavg with {case['vectors']} vectors and {case['n']} counts must raise ValueError, "
                         f"not {'raise ' + got.name if isinstance(got, Raised) else 'return a value'}")


# -- Q2 bytes of a round --------------------------------------------------------------------------------

def _round_bytes(n_params: int, k: int) -> dict[str, int]:
    down, up = k * 8 * n_params, k * (8 * n_params + 8)
    return {"down": down, "up": up, "total": down + up}


def _check_round_bytes(ctx: CheckContext) -> None:
    for case, got in ctx.pairs():
        expected = _round_bytes(case["n_params"], case["k"])
        if not isinstance(got, dict) or set(got) != set(expected):
            raise Failed('round_bytes must return a dict with the keys "down", "up" and "total"')
        if any(isinstance(v, bool) or not isinstance(v, int) for v in got.values()):
            raise Failed("round_bytes must count whole bytes (integers), not floats")
        if got != expected:
            raise Failed(f"round_bytes({case['n_params']}, {case['k']}) counts the wrong number of bytes "
                         "(each selected client: the vector down; its update and one 8-byte count up)")


def _q2_by_hand_cases(rng):
    return [{"n_params": 10, "k": 3}, {"n_params": 1, "k": 1},
            {"n_params": int(rng.integers(2, 2000)), "k": int(rng.integers(1, 50))}]


def _q2_scaling_cases(rng):
    cases = []
    for _ in range(8):
        cases.append({"n_params": int(rng.integers(1, 5000)), "k": int(rng.integers(0, 40))})
    return cases


check(A, "q2-by-hand", cases=_q2_by_hand_cases)(_check_round_bytes)
check(A, "q2-scaling", cases=_q2_scaling_cases)(_check_round_bytes)


@lru_cache(maxsize=1)
def _course_data():
    from plsim import data, models
    ds = data.load_dataset("digits", n_samples=600, random_state=0)
    return ds, models.SoftmaxRegression(ds.n_features, ds.n_classes)


def _q2_ledger_cases(rng):
    return [{"fraction": float(f), "seed": int(rng.integers(0, 2**31))} for f in rng.choice([0.1, 0.2, 0.3, 0.5],
                                                                                            size=2, replace=False)]


@check(A, "q2-ledger", cases=_q2_ledger_cases)
def _q2_ledger(ctx: CheckContext) -> None:
    """The student's count against the bytes plsim's run_federated really moved (counted here, by the grader)."""
    from plsim import data, federated
    ds, model = _course_data()
    for case, got in ctx.pairs():
        parts = data.partition(ds.y_train, 10, "iid", random_state=case["seed"])
        hist = federated.run_federated(model, ds, parts, rounds=1, client_fraction=case["fraction"], lr=0.1,
                                       random_state=case["seed"], executor=None)
        ledger = hist.ledger.rounds[0]
        if not isinstance(got, dict) or (got.get("down"), got.get("up")) != (ledger.bytes_down, ledger.bytes_up):
            raise Failed(f"with {case['fraction']:.0%} of 10 clients per round, round_bytes does not match the "
                         "bytes plsim counted in a real round's payloads")


# -- Q3 labels per client -------------------------------------------------------------------------------

def _q3_by_hand_cases(rng):
    cases = [{"y": [0, 0, 1, 2], "parts": [[0, 1], [2, 3]]},
             {"y": [5, 5, 5, 1, 1, 0], "parts": [[5, 4, 3], [0, 1, 2]]},
             {"y": list(range(6)), "parts": [[], list(range(6))]}]
    for _ in range(3):
        n = int(rng.integers(5, 40))
        y = rng.integers(0, int(rng.integers(2, 8)), size=n).tolist()
        order = rng.permutation(n)
        cuts = sorted(rng.choice(np.arange(1, n), size=2, replace=False).tolist())
        cases.append({"y": y, "parts": [p.tolist() for p in np.split(order, cuts)]})
    return cases


@check(A, "q3-by-hand", cases=_q3_by_hand_cases)
def _q3_by_hand(ctx: CheckContext) -> None:
    for case, got in ctx.pairs():
        y = np.asarray(case["y"])
        expected = [len(set(y[np.asarray(p, dtype=int)].tolist())) for p in case["parts"]]
        if not isinstance(got, list) or got != expected or any(isinstance(v, bool) or not isinstance(v, int)
                                                               for v in got):
            raise Failed("labels_per_client must return, for each client, how many different labels its rows "
                         "hold, as a list of ints (repeated labels count once; an empty client has 0)")


def _q3_partition_cases(rng):
    return [{"kind": kind, "seed": int(rng.integers(0, 2**31))} for kind in ("iid", "shards")]


@check(A, "q3-iid-versus-shards", cases=_q3_partition_cases)
def _q3_partitions(ctx: CheckContext) -> None:
    from plsim import data
    ds, _ = _course_data()
    for case, got in ctx.pairs():
        parts = data.partition(ds.y_train, 10, case["kind"], random_state=case["seed"],
                               **({"shards_per_client": 2} if case["kind"] == "shards" else {}))
        expected = [len(set(ds.y_train[p].tolist())) for p in parts]
        if not isinstance(got, list) or got != expected:
            raise Failed(f"labels_per_client is wrong for a {case['kind']} partition of the digits")


# -- Q4 client drift ------------------------------------------------------------------------------------

def _drift(deltas: list, counts: list) -> float:
    d = np.asarray(deltas, dtype=float)
    w = np.asarray(counts, dtype=float)
    mean = (w[:, None] * d).sum(axis=0) / w.sum()
    return float((w * np.linalg.norm(d - mean, axis=1)).sum() / w.sum())


def _check_drift(ctx: CheckContext) -> None:
    for case, got in ctx.pairs():
        if not close(got, _drift(case["deltas"], case["n"]), rel=1e-7, abs_=1e-10):
            raise Failed(f"client_drift is not the sample-weighted mean distance from the weighted mean update "
                         f"(a case with {len(case['n'])} clients)")


def _q4_by_hand_cases(rng):
    cases = [{"deltas": [[0.0, 0.0], [2.0, 0.0]], "n": [1, 1]}, {"deltas": [[0.0, 0.0], [2.0, 0.0]], "n": [3, 1]}]
    k = int(rng.integers(2, 6))
    cases.append({"deltas": _vectors(rng, k, 3), "n": rng.integers(1, 9, size=k).tolist()})
    return cases


def _q4_properties_cases(rng):
    cases = [{"deltas": [[1.0] * 4] * 3, "n": [1, 2, 3]}]                # identical clients: no drift
    d = np.asarray(_vectors(rng, 4, 6))
    n = rng.integers(1, 6, size=4).tolist()
    shift = rng.normal(size=6)
    cases += [{"deltas": d.tolist(), "n": n}, {"deltas": (d + shift).tolist(), "n": n},  # a shift changes nothing
              {"deltas": (2 * d).tolist(), "n": n}]                                      # scaling scales it
    return cases


check(A, "q4-by-hand", cases=_q4_by_hand_cases)(_check_drift)
check(A, "q4-properties", cases=_q4_properties_cases)(_check_drift)

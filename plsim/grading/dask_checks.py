"""The assignments' Dask questions (Q5 of A1, A2, A3), judged by where the work ran.

Each question asks the student to write Dask code: A1 bagging with ``client.scatter`` once, one
``client.submit`` per member and a gather; A2 one FedAvg round with every selected client's update computed
as a task; A3 an asynchronous parameter server with ``as_completed`` that scales each gradient by its
staleness. Each is worth three points, one per graded cell, and each cell's check calls one pure judge:

* :func:`judge_bagging`, :func:`judge_fedavg`, :func:`judge_async_server` take what the scheduler saw while the
  student's function ran (a :class:`plsim.exercises.scheduler_record.SchedulerRecord` and the values the
  computed tasks returned, recorded outside the kernel), the case the grader drew and the function's return
  value, and return a :class:`Verdict`: each criterion met or not, with feedback that teaches and never states
  the expected values.
* The inputs come from :mod:`plsim.grading.dask_cases` (the kernel builds the same arrays from the case; that
  module holds no answers, so it stays readable in the sandbox, unlike this one).
* The references are computed here, in the grader's process, with plsim's sequential building blocks (the
  given task function, ``member_draws``, ``select_clients``, ``local_update``, the model's gradient): never with
  the Dask code the question asks for.

What each criterion needs (the first one is a prerequisite of the other two):

=====  =================================  ===================================================================
A1     ``members``                        every member's predictions were returned by a task computed on a
                                          worker, none by plsim's own ensemble, and the vote is theirs
       ``scatter-once``                   no member task carried the training set; it reached the cluster once
       ``members-at-once``                two or more member tasks were outstanding at once (submitted, result not
                                          yet asked for)
A2     ``updates``                        every selected client's (update, sample count) was returned by a task
                                          on a worker, and no client outside the selection trained
       ``weighted``                       the new global vector is w minus the sample-weighted mean update
       ``clients-at-once``                two or more client tasks were outstanding at once
A3     ``gradients``                      a valid asynchronous log; each worker's first gradient (at w0) and at
                                          least n_updates gradients were computed by tasks on workers
       ``staleness-rule``                 replaying the log with lr / (1 + staleness): every applied gradient is
                                          a task's result and the parameters are the replay's
       ``gradients-at-once``              two or more gradient tasks were outstanding at once
=====  =================================  ===================================================================

"Kernel work plus dummy tasks" fails every criterion: the dummy tasks return nothing the reference expects.
Calling plsim's own implementation fails too: its tasks (keys ``plsim-...``) are named in the feedback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from plsim.exercises.scheduler_record import TaskSeen, most_in_flight, most_outstanding, plsim_own, producers
from plsim.grading.dask_cases import bagging_data, fedavg_data, ps_data

__all__ = ["Verdict", "fit_member", "bagging_reference", "judge_bagging", "client_update", "fedavg_reference",
           "judge_fedavg", "staleness_replay", "judge_async_server", "A1_CRITERIA", "A2_CRITERIA", "A3_CRITERIA"]

# Each criterion is one graded cell, grade_id "q5-<criterion>" (unique across the course: the grader's
# in-kernel mode finds a check by its grade_id alone).
A1_CRITERIA = ("members", "scatter-once", "members-at-once")
A2_CRITERIA = ("updates", "weighted", "clients-at-once")
A3_CRITERIA = ("gradients", "staleness-rule", "gradients-at-once")
# Local training of A2's clients (the notebook's client_update uses the same settings).
A2_LOCAL = {"local_epochs": 2, "batch_size": 16, "lr": 0.1}


@dataclass(frozen=True)
class Verdict:
    """One Dask question judged: each criterion with None (met) or the feedback saying what to change."""

    criteria: tuple[tuple[str, str | None], ...]

    @property
    def points(self) -> int:
        return sum(reason is None for _, reason in self.criteria)

    @property
    def max_points(self) -> int:
        return len(self.criteria)

    def reason(self, criterion: str) -> str | None:
        """None if ``criterion`` is met, else the feedback for it."""
        for name, reason in self.criteria:
            if name == criterion:
                return reason
        raise KeyError(f"criterion={criterion!r} is not one of {[name for name, _ in self.criteria]}")

    @property
    def message(self) -> str:
        return " ".join(f"[{name}] {'ok' if r is None else r}" for name, r in self.criteria)


def _verdict(names: Sequence[str], first: str | None, rest: Sequence[str | None]) -> Verdict:
    """The first criterion is a prerequisite: when it fails, the others fail with its reason."""
    if first is not None:
        return Verdict(((names[0], first), *((n, f"needs [{names[0]}] first: {first}") for n in names[1:])))
    return Verdict(((names[0], None), *zip(names[1:], rest)))


def _assign(tasks: Sequence[TaskSeen], results: dict[str, Any], parts: Sequence[Any],
            same: Callable[[Any, Any], bool]) -> list[TaskSeen | None]:
    """For each expected part, a distinct computed task whose result is that part (None where there is none)."""
    used: set[str] = set()
    out: list[TaskSeen | None] = []
    for candidates in producers(tasks, results, parts, same):
        pick = next((t for t in candidates if t.key not in used), None)
        if pick is not None:
            used.add(pick.key)
        out.append(pick)
    return out


def _computed(record: Any) -> list[TaskSeen]:
    return [t for t in record.computed() if t.worker]


def _nowhere(what: str, n_tasks: int, own: int, how: str) -> str:
    """Feedback when the expected results did not come from the cluster."""
    if own:
        return (f"{own} of the {n_tasks} tasks on the cluster were plsim's own (its ready-made implementation): "
                f"the question is to write the Dask code yourself. {how}")
    if n_tasks == 0:
        return f"no task ran on the cluster while your function ran: {what} were computed in this kernel. {how}"
    return (f"{n_tasks} task(s) ran on the cluster while your function ran, but none of them returned {what}: "
            f"the work you returned was done elsewhere (in this kernel?). {how}")


def _kb(n: float) -> str:
    return f"{n / 1024:.0f} kB"


# -- A1: bagging with scatter, submit, gather ------------------------------------------------------------

def fit_member(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, rows: np.ndarray, seed: int) -> np.ndarray:
    """One bagging member, as the A1 notebook gives it: a tree on its bootstrap rows, its labels for X_test."""
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(random_state=seed).fit(X[rows], y[rows]).predict(X_test)


def _vote(predictions: Sequence[np.ndarray]) -> np.ndarray:
    votes = np.stack(predictions)
    return np.array([np.bincount(col).argmax() for col in votes.T])


def bagging_reference(case: dict[str, Any]) -> tuple[list[np.ndarray], np.ndarray]:
    """Each member's predictions and their majority vote (ties to the smaller label), computed here."""
    from plsim.exercises.ensembles import member_draws

    X, y, X_test = bagging_data(case)
    members = [fit_member(X, y, X_test, rows, seed)
               for rows, seed in member_draws(int(case["n_members"]), len(y), int(case["random_state"]))]
    return members, _vote(members)


def _same_labels(got: Any, want: np.ndarray) -> bool:
    got = np.asarray(got)
    return got.shape == want.shape and got.dtype.kind in "iub" and bool(np.array_equal(got, want))


def judge_bagging(record: Any, results: dict[str, Any], case: dict[str, Any], labels: Any) -> Verdict:
    """A1 Q5: ``bag_on_cluster(client, X, y, X_test, n_members, random_state)`` returned ``labels``.

    ``record`` and ``results`` are what the scheduler saw during that call (tasks, values of the computed ones).
    """
    members, vote = bagging_reference(case)
    X_bytes = bagging_data(case)[0].nbytes
    computed = _computed(record)
    found = _assign(computed, results, members, _same_labels)
    how = ("Train each member as a task, client.submit(fit_member, ...), and vote on what those tasks return.")
    missing = sum(t is None for t in found)
    first = None
    if missing == len(members):
        first = _nowhere("a member's predictions", len(computed), plsim_own(computed), how)
    elif missing:
        first = (f"{len(members) - missing} of the {len(members)} members' predictions came from tasks on the "
                 f"cluster; the others did not (a member with the wrong rows or seed, or trained elsewhere). Use "
                 "member_draws(n_members, len(y), random_state) for every member's (rows, seed).")
    else:
        try:
            got = np.asarray(labels)
        except (TypeError, ValueError):
            got = np.asarray([])
        if got.shape != vote.shape:
            first = (f"return one label per row of X_test (shape {vote.shape}), not an array of shape {got.shape}")
        elif not np.array_equal(got, vote):
            share = float(np.mean(got != vote))
            first = (f"your members ran on the cluster, but the labels you returned differ from their majority vote "
                     f"on {share:.0%} of the rows: per row of X_test take the most common of the members' labels "
                     "(a tie goes to the smaller label, as np.bincount(...).argmax() gives it).")
    if first is not None:
        return _verdict(A1_CRITERIA, first, ())
    tasks = [t for t in found if t is not None]
    return _verdict(A1_CRITERIA, None, (_scatter_once(record, computed, tasks, X_bytes),
                                        _concurrent(tasks, record, "member")))


def _scatter_once(record: Any, computed: Sequence[TaskSeen], tasks: Sequence[TaskSeen], X_bytes: int) -> str | None:
    """None if the training set went to the cluster once; else feedback that teaches scatter."""
    carried = [t for t in tasks if t.payload_bytes >= X_bytes // 2]
    if carried:
        sent = sum(t.payload_bytes for t in carried)
        return (f"{len(carried)} of your {len(tasks)} member tasks carried the training data themselves (each "
                f"task about {_kb(sent / len(carried))}; X alone is {_kb(X_bytes)}): X went to the cluster once per "
                "task. Scatter X and y once, before submitting (X_f, y_f = client.scatter([X, y], broadcast=True)), "
                "and pass those futures to client.submit: every task then reads the same copy on its worker.")
    by_key = {t.key: t for t in computed}
    copies = set()
    for t in tasks:
        for dep in t.dependencies:
            data = record.data.get(dep)
            size = data.nbytes if data is not None else (by_key[dep].result_bytes or 0) if dep in by_key else 0
            if size >= 0.9 * X_bytes:
                copies.add(dep)
    if not copies:
        return ("your member tasks neither carried the training data nor depended on a copy of it on the cluster: "
                "scatter X and y once (client.scatter) and pass the futures to every member's client.submit.")
    if len(copies) > 1:
        return (f"your member tasks read the training data from {len(copies)} different copies on the cluster: "
                "it was sent more than once (a scatter per member?). Scatter X and y once, before the loop, and "
                "give every task the same futures.")
    return None


def _concurrent(tasks: Sequence[TaskSeen], record: Any, what: str,
                how: str = "submit every {what} task first, then wait for the results (client.gather), instead of "
                           "waiting for each result before submitting the next") -> str | None:
    # Outstanding = submitted and its result not yet asked for (the scheduler's gathers): submit-all-then-gather
    # counts all even when each task ends before the next arrives, which "in flight" would call one at a time.
    # A record without gathers (a client gathering straight from the workers) falls back to "in flight".
    gathers = getattr(record, "gathers", ())
    most = (most_outstanding(tasks, gathers, until=record.stop) if gathers
            else most_in_flight(tasks, until=record.stop))
    if most >= 2:
        return None
    return (f"your {what} tasks were on the cluster one at a time (each result was asked for before the next task "
            f"was submitted), so nothing ran in parallel: {how.format(what=what)}.")


# -- A2: one FedAvg round, one task per selected client --------------------------------------------------

def client_update(model: Any, w: np.ndarray, X: np.ndarray, y: np.ndarray, seed: Any) -> tuple[np.ndarray, int]:
    """One client's local FedAvg training from ``w``, as the A2 notebook gives it: (update, sample count)."""
    from plsim import federated

    result = federated.local_update(model, w, X, y, seed=seed, **A2_LOCAL)
    return result.delta, result.n_samples


def fedavg_reference(case: dict[str, Any]) -> tuple[list[int], list[tuple[np.ndarray, int]], np.ndarray]:
    """``(selected, every client's (update, n) this round, the new global vector)``, computed here."""
    from plsim import federated

    model, w, parties = fedavg_data(case)
    r, seed = int(case["round_index"]), int(case["random_state"])
    selected, _ = federated.select_clients(len(parties), float(case["client_fraction"]), r, seed)
    updates = [client_update(model, w, X, y, federated.client_seed(seed, r, k)) for k, (X, y) in enumerate(parties)]
    new_w = w - federated.weighted_average([updates[k][0] for k in selected], [updates[k][1] for k in selected])
    return selected, updates, new_w


def _same_update(got: Any, want: tuple[np.ndarray, int]) -> bool:
    delta, n = got
    return int(n) == want[1] and np.allclose(np.asarray(delta, dtype=float), want[0], rtol=1e-9, atol=1e-12)


def judge_fedavg(record: Any, results: dict[str, Any], case: dict[str, Any], new_w: Any) -> Verdict:
    """A2 Q5: ``fedavg_round_on_cluster(client, model, w, parties, client_fraction, round_index, random_state)``."""
    selected, updates, want = fedavg_reference(case)
    computed = _computed(record)
    found = _assign(computed, results, [updates[k] for k in selected], _same_update)
    how = ("Compute each selected client's update as a task, client.submit(client_update, ...), seeded with "
           "federated.client_seed(random_state, round_index, k), and average what those tasks return.")
    missing = sum(t is None for t in found)
    others = [k for k in range(len(updates)) if k not in selected]
    extra = [t for t in _assign([t for t in computed if t not in found], results, [updates[k] for k in others],
                                _same_update) if t is not None]
    first = None
    if missing == len(selected):
        first = _nowhere("a selected client's update", len(computed), plsim_own(computed), how)
    elif missing:
        first = (f"{len(selected) - missing} of the round's {len(selected)} selected clients' updates came from "
                 "tasks on the cluster; the others did not (the wrong clients, the wrong seed, or computed "
                 "elsewhere). Select with federated.select_clients(len(parties), client_fraction, round_index, "
                 "random_state).")
    elif extra:
        first = (f"{len(extra)} task(s) trained clients that were not selected for this round: a round trains only "
                 "the clients federated.select_clients picks, and only their updates are averaged.")
    if first is not None:
        return _verdict(A2_CRITERIA, first, ())
    tasks = [t for t in found if t is not None]
    w = fedavg_data(case)[1]
    return _verdict(A2_CRITERIA, None, (_weighted(updates, selected, w, new_w, want),
                                        _concurrent(tasks, record, "client")))


def _weighted(updates: Sequence[tuple[np.ndarray, int]], selected: Sequence[int], w: np.ndarray, new_w: Any,
              want: np.ndarray) -> str | None:
    try:
        got = np.asarray(new_w, dtype=float)
    except (TypeError, ValueError):
        return f"return the new global vector as one array of {want.size} numbers"
    if got.shape != want.shape:
        return f"return the new global vector (shape {want.shape}), not an array of shape {got.shape}"
    if np.allclose(got, want, rtol=1e-7, atol=1e-10):
        return None
    plain = w - np.mean([updates[k][0] for k in selected], axis=0)  # for the feedback only
    if np.allclose(got, plain, rtol=1e-7, atol=1e-10):
        return ("your clients ran on the cluster, but you averaged their updates with equal weights: FedAvg weights "
                "each update by the client's sample count (the n each task returned).")
    return ("your clients ran on the cluster, but the vector you returned is not w minus the sample-weighted mean "
            "of their updates (each update is w_global - w_local, so the new vector is w - mean).")


# -- A3: an asynchronous parameter server, staleness-aware -----------------------------------------------

def staleness_replay(model: Any, shards: Sequence[tuple[np.ndarray, np.ndarray]], w0: np.ndarray, lr: float,
                     log: Sequence[tuple[int, int]], *, scaled: bool = True) -> tuple[np.ndarray, list[np.ndarray]]:
    """Replay a server's log: update k applies worker i's gradient at version v with lr / (1 + k - v).

    ``scaled=False`` replays plain asynchronous SGD (the full lr for every gradient). Returns the final
    parameters and the gradient applied at each update.
    """
    versions = [np.array(w0, dtype=np.float64)]
    grads = []
    for k, (i, v) in enumerate(log):
        X, y = shards[i]
        g = model.gradient(versions[v], X, y)
        grads.append(g)
        versions.append(versions[-1] - (lr / (1 + k - v) if scaled else lr) * g)
    return versions[-1], grads


def _same_vector(got: Any, want: np.ndarray) -> bool:
    got = np.asarray(got, dtype=float)
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-9, atol=1e-12))


def judge_async_server(record: Any, results: dict[str, Any], case: dict[str, Any], answer: Any) -> Verdict:
    """A3 Q5: ``async_server(client, model, shards, w0, lr, n_updates)`` returned ``(w, log)``."""
    from plsim.exercises.training import check_ps_log

    model, shards, w0 = ps_data(case)
    n_workers, n_updates, lr = len(shards), int(case["n_updates"]), float(case["lr"])
    computed = _computed(record)
    how = ("Submit each worker's gradient as a task, client.submit(gradient, model, w, X_i, y_i), and apply them "
           "in the order they finish (as_completed).")
    first_wave = [model.gradient(w0, X, y) for X, y in shards]
    found = _assign(computed, results, first_wave, _same_vector)
    shaped = [t for t in computed if t.key in results and _vector_like(results[t.key], w0)]
    try:
        w, log = answer
        log = [(int(i), int(v)) for i, v in log]
        w = np.asarray(w, dtype=float)
    except (TypeError, ValueError):
        return _verdict(A3_CRITERIA, "return (w, log): the parameters and the list of (worker, version read) "
                                     "pairs, one per applied gradient", ())
    first = check_ps_log(log, n_workers, n_updates) or None
    if first is None and all(t is None for t in found):
        first = _nowhere("a worker's gradient at the initial parameters", len(computed), plsim_own(computed), how)
    elif first is None and any(t is None for t in found):
        first = (f"only {sum(t is not None for t in found)} of the {n_workers} workers' first gradients (at w0) "
                 "came from tasks on the cluster: start every worker with a task on its own shard.")
    elif first is None and len(shaped) < n_updates:
        first = (f"your server applied {n_updates} gradients, but only {len(shaped)} gradient tasks were computed "
                 f"on the cluster while it ran. {how}")
    if first is not None:
        return _verdict(A3_CRITERIA, first, ())
    want, grads = staleness_replay(model, shards, w0, lr, log)
    applied = _assign(shaped, results, grads, _same_vector)
    rule = None
    if any(t is None for t in applied) or w.shape != want.shape or not np.allclose(w, want, rtol=1e-7, atol=1e-10):
        plain, _ = staleness_replay(model, shards, w0, lr, log, scaled=False)
        if w.shape == plain.shape and np.allclose(w, plain, rtol=1e-7, atol=1e-10):
            rule = ("you applied every gradient with the full learning rate: scale each one by 1 / (1 + staleness), "
                    "its staleness being the number of updates applied since its worker read the parameters.")
        else:
            rule = ("replaying your log with lr / (1 + staleness) does not give your parameters (or not every "
                    "applied gradient was one your tasks computed): apply each gradient to the server's CURRENT "
                    "parameters with the learning rate scaled by its staleness, and send each worker the "
                    "parameters it is recorded as reading.")
    return _verdict(A3_CRITERIA, None, (rule, _concurrent(
        shaped, record, "gradient", "start every worker's gradient task before you wait for any, take them back as "
                                    "they finish (as_completed) and resubmit that worker at once")))


def _vector_like(value: Any, w0: np.ndarray) -> bool:
    return isinstance(value, np.ndarray) and value.shape == w0.shape and value.dtype.kind == "f"


# -- the graded cells: one check per criterion ----------------------------------------------------------

def _a1_case(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"data_seed": int(rng.integers(2**31)), "n_train": int(rng.integers(400, 601)),
             "n_test": int(rng.integers(60, 101)), "n_features": int(rng.integers(8, 13)),
             "n_members": int(rng.integers(5, 9)), "random_state": int(rng.integers(10**6))}]


def _a2_case(rng: np.random.Generator) -> list[dict[str, Any]]:
    # At least 6 clients and a fraction of at least 0.35: two or more are selected, so two can run at once.
    return [{"data_seed": int(rng.integers(2**31)), "n_clients": int(rng.integers(6, 11)),
             "client_fraction": round(float(rng.uniform(0.35, 0.6)), 2), "round_index": int(rng.integers(1, 6)),
             "random_state": int(rng.integers(10**6))}]


def _a3_case(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"data_seed": int(rng.integers(2**31)), "n_workers": int(rng.integers(2, 4)),
             "n_updates": int(rng.integers(8, 13)), "lr": round(float(rng.uniform(0.05, 0.2)), 3)}]


def _observed(ctx: Any) -> tuple[Any, dict[str, Any]]:
    """The scheduler's record of this cell and the computed tasks' values, from the grader's context."""
    from plsim.grading import Failed

    rec = ctx.record
    if rec is None:
        raise Failed("the grader has no record of the Dask cluster for this question")
    seen = getattr(rec, "seen", rec)
    results = getattr(rec, "results", None)
    if results is None:
        results = getattr(seen, "results", {})
    return getattr(seen, "record", seen), dict(results)


def _register(assignment: str, criteria: Sequence[str], cases: Callable[[np.random.Generator], list],
              judge: Callable[..., Verdict]) -> None:
    from plsim.grading import Failed, Raised, check

    for criterion in criteria:
        def verify(ctx: Any, criterion: str = criterion) -> None:
            [(case, answer)] = ctx.pairs()
            if isinstance(answer, Raised):
                raise Failed(f"your function {answer} (run it on the example above and read the traceback)")
            record, results = _observed(ctx)
            reason = judge(record, results, case, answer).reason(criterion)
            if reason is not None:
                raise Failed(reason)

        verify.__qualname__ = f"{assignment}_q5_{criterion.replace('-', '_')}"
        check(assignment, f"q5-{criterion}", cases=cases, needs_record=True)(verify)


_register("a1", A1_CRITERIA, _a1_case, judge_bagging)
_register("a2", A2_CRITERIA, _a2_case, judge_fedavg)
_register("a3", A3_CRITERIA, _a3_case, judge_async_server)

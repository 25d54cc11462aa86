"""Exercises of ``notebooks/04_distributed_training.ipynb``: answers computed here, never in the notebook.

* ``dp_step_speedup`` (predict -> run -> explain): how much faster is one
  synchronous data-parallel step than the same large-batch step in one process?
* ``async_staleness`` (answer): the staleness of every gradient of an
  asynchronous parameter server with equally fast workers, from the simulation.
* ``async_ps`` (code): the student's asynchronous parameter server written with
  ``dask.distributed.as_completed``, checked by replaying the order it observed
  through plsim's update rule (:func:`replay_async_ps`), against
  :func:`plsim.training.async_sgd` itself where the order is fixed (one worker),
  and against the scheduler's own record: every applied gradient must be the
  result of a task the cluster computed, two of them in flight at once. A log
  simulated in the kernel (with or without dummy tasks), or one gradient task at
  a time, is not an asynchronous server.
* ``ssp_sync_lr`` (answer): the learning rate at which synchronous SGD follows
  an SSP parameter server with bound 0, checked by running both.

A teacher reads the answers here; a student sees only the hints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from plsim.i18n import N_, _
from plsim.exercises._core import Exercise, cluster_work, register, values_in

__all__ = ["replay_async_ps", "check_ps_log", "step_speedup", "steady_staleness", "sync_follows_ssp0",
           "PS_WORKERS", "PS_UPDATES", "PS_LR"]

NOTEBOOK = "04_distributed_training"

# -- the student's parameter server: settings of the check ----------------------------------------
PS_WORKERS = 3     # asynchronous workers in the check (>= 2, so some gradient is always stale)
PS_UPDATES = 15    # gradients the server applies
PS_LR = 0.05
PS_SEED = 0


def replay_async_ps(model: Any, shards: Sequence[tuple[np.ndarray, np.ndarray]], w0: np.ndarray, lr: float,
                    log: Sequence[tuple[int, int]]) -> tuple[np.ndarray, list[int]]:
    """Replay a parameter server's arrival order through plsim's update rule.

    The rule of :func:`plsim.training.async_sgd`: the ``k``-th applied gradient
    is worker ``i``'s full-shard gradient at the parameters of version ``v``
    (the one it read), applied to the server's *current* parameters:
    ``w_{k+1} = w_k - lr * grad(w_v; shard_i)``.

    Parameters
    ----------
    log : sequence of (worker, version read)
        One entry per applied gradient, in the order the server applied them.

    Returns
    -------
    (ndarray, list of int)
        The final parameters and each gradient's staleness ``k - v``.
    """
    w, _, staleness = _replay(model, shards, w0, lr, log)
    return w, staleness


def _replay(model: Any, shards: Sequence[tuple[np.ndarray, np.ndarray]], w0: np.ndarray, lr: float,
            log: Sequence[tuple[int, int]]) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
    """:func:`replay_async_ps` with the gradients it applied: (final parameters, gradients, staleness)."""
    from plsim.training._common import check_lr

    lr = check_lr(lr)
    versions = [np.array(w0, dtype=np.float64)]
    gradients, staleness = [], []
    for k, (i, v) in enumerate(log):
        if not (0 <= i < len(shards) and 0 <= v <= k):
            raise ValueError(f"log[{k}]=({i!r}, {v!r}) needs a worker in 0..{len(shards) - 1} and a version read "
                             f"in 0..{k} (no update can read a version not applied yet)")
        X, y = shards[i]
        gradients.append(model.gradient(versions[v], X, y))
        versions.append(versions[-1] - lr * gradients[-1])
        staleness.append(k - v)
    return versions[-1], gradients, staleness


def check_ps_log(log: Any, n_workers: int, n_updates: int) -> str:
    """What is wrong with a parameter server's log of ``(worker, version read)`` ("" if nothing).

    A correct server submits every worker once from the initial parameters
    (version 0) and, the moment worker ``i``'s gradient has been applied as
    update ``k``, resubmits worker ``i`` with the parameters after it (version ``k + 1``).
    """
    try:
        entries = [(int(i), int(v)) for i, v in log]
    except (TypeError, ValueError):
        return _("the log must be a list of (worker, version read) pairs of integers")
    if len(entries) < n_updates:
        return (_("the server applied {n_entries} gradients, not {n_updates}: after applying a "
                   "worker's gradient, submit that worker again with the new parameters (and "
                   "stop after n_updates)").format(n_entries=len(entries), n_updates=n_updates))
    if len(entries) > n_updates:
        return _("the server applied {n_entries} gradients, more than n_updates={n_updates}").format(n_entries=len(entries), n_updates=n_updates)
    last_push: dict[int, int] = {}
    for k, (i, v) in enumerate(entries):
        if not 0 <= i < n_workers:
            return _("update {k} names worker {i}; the workers are 0..{value} (one per shard)").format(k=k, i=i, value=n_workers - 1)
        want = last_push[i] + 1 if i in last_push else 0
        if v != want:
            if i not in last_push:
                return (_("worker {i}'s first gradient read version {v}: start every worker at "
                           "once from the initial parameters (version 0)").format(i=i, v=v))
            return (_("worker {i}'s gradient applied as update {k} read version {v}, but its "
                       "previous gradient was applied as update {last_push}: resubmit a worker "
                       "as soon as its gradient is applied, with the parameters after that "
                       "update (version {want}), without waiting for the others").format(i=i, k=k, v=v, last_push=last_push[i], want=want))
        last_push[i] = k
    return ""


def _ps_problem(model: Any, X: np.ndarray, y: np.ndarray, n_workers: int, n_updates: int
                ) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    from plsim.training._common import check_w0, shard_indices

    shards = [(X[s], y[s]) for s in shard_indices(len(y), n_workers, PS_SEED)]
    w0 = check_w0(model, None, PS_SEED)  # async_sgd's default start
    return shards, w0


def _call(fn: Callable, client: Any, model: Any, shards: list, w0: np.ndarray, n_updates: int
          ) -> tuple[np.ndarray | None, Any, str]:
    """Run the student's server on copies; (w, log, problem)."""
    copies = [(Xi.copy(), yi.copy()) for Xi, yi in shards]
    w_in = w0.copy()
    try:
        out = fn(client, model, copies, w_in, PS_LR, n_updates)
    except Exception as exc:
        if "lost dependencies" not in str(exc):
            raise
        return None, None, (_("the cluster lost a scattered shard while your server ran. client.scatter's default "
                               "hash=True gives the same data the same key, so a re-run can collide with the release "
                               "of an earlier run's copy: scatter with hash=False"))
    if not np.array_equal(w_in, w0):
        return None, None, _("your function changed the w0 it was given: copy it (w = w0.copy()) before updating")
    if any(not (np.array_equal(a, Xi) and np.array_equal(b, yi)) for (a, b), (Xi, yi) in zip(copies, shards)):
        return None, None, _("your function changed the shards it was given")
    if not (isinstance(out, tuple) and len(out) == 2):
        return None, None, (_("return (w, log), the parameters and the list of (worker, "
                               "version read); got {name}").format(name=type(out).__name__))
    w, log = out
    w = np.asarray(w, dtype=np.float64)
    if w.shape != w0.shape:
        return None, None, _("the parameters you returned have shape {shape}, not {shape2}").format(shape=w.shape, shape2=w0.shape)
    return w, log, ""


def _run_async_ps(fn: Callable, *, client: Any, model: Any, X: np.ndarray, y: np.ndarray) -> tuple[bool, str]:
    from dask.distributed import Client

    from plsim.exercises.scheduler_record import watch_scheduler
    from plsim.training.async_ps import async_sgd

    if not isinstance(client, Client):
        return False, (_("this check runs your server on a Dask cluster: pass client=client "
                          "(plsim.start_cluster()), not {name}").format(name=type(client).__name__))
    X = np.asarray(X, dtype=np.float64)
    # 1. One worker: no asynchrony, so plsim's own async_sgd fixes the result exactly.
    shards1, w0 = _ps_problem(model, X, y, 1, 5)
    w, log, problem = _call(fn, client, model, shards1, w0, 5)
    if problem:
        return False, problem
    problem = check_ps_log(log, 1, 5)
    if problem:
        return False, _("with one worker: {problem}").format(problem=problem)
    ref = async_sgd(model, X, y, executor=client, n_workers=1, lr=PS_LR, n_updates=5, batch_size=None,
                    random_state=PS_SEED)
    if not np.allclose(w, ref.params, rtol=1e-9, atol=1e-12):
        return False, (_("with one worker your parameters differ from plsim's async_sgd by "
                          "{max:.2g}: apply w = w - lr * gradient, once per gradient").format(max=np.abs(w - ref.params).max()))
    # 2. Several workers: the order is up to the cluster; replay the one the student's server observed.
    shards, w0 = _ps_problem(model, X, y, PS_WORKERS, PS_UPDATES)
    with watch_scheduler(client, only_this_client=True) as seen:
        w, log, problem = _call(fn, client, model, shards, w0, PS_UPDATES)
    if problem:
        return False, problem
    problem = check_ps_log(log, PS_WORKERS, PS_UPDATES)
    if problem:
        return False, _("with {PS_WORKERS} workers: {problem}").format(PS_WORKERS=PS_WORKERS, problem=problem)
    want, gradients, staleness = _replay(model, shards, w0, PS_LR, log)
    gap = float(np.abs(w - want).max())
    if not np.allclose(w, want, rtol=1e-9, atol=1e-12):
        return False, (_("with {PS_WORKERS} workers your parameters differ by {gap:.2g} from "
                          "replaying your own arrival order through the parameter-server rule: "
                          "apply each gradient to the server's CURRENT parameters (not to the "
                          "copy the worker read), and send each worker the parameters it is "
                          "recorded as reading").format(PS_WORKERS=PS_WORKERS, gap=gap))
    # A log and parameters can be simulated in this process; the scheduler's record says what really ran.
    work = cluster_work(seen, gradients, _is_gradient, what=_("gradients"), own="async_sgd",
                        how=_("compute every gradient as a task on the cluster (client.submit(model.gradient, w, X_i, "
                               "y_i, pure=False)) and apply the results as they finish (as_completed)"),
                        together=_("Submit every worker's gradient before you wait for any, and take them back in the "
                                    "order they finish (as_completed)."))
    if work.problem:
        return False, _("with {PS_WORKERS} workers: {problem}").format(PS_WORKERS=PS_WORKERS, problem=work.problem)
    hist = np.bincount(staleness)
    return True, (_("your server applied {PS_UPDATES} gradients from {PS_WORKERS} workers in "
                     "the order the cluster finished them, each computed by a task on the "
                     "cluster, with up to {in_flight} gradient tasks in flight at once "
                     "(scheduler's record); replayed through plsim's rule it gives the same "
                     "parameters. Staleness of your run (measured): mean {mean:.2f}, max {max}, "
                     "histogram {tolist}.").format(PS_UPDATES=PS_UPDATES, PS_WORKERS=PS_WORKERS, in_flight=work.in_flight, mean=np.mean(staleness), max=max(staleness), tolist=hist.tolist()))


def _is_gradient(result: Any, gradient: np.ndarray) -> bool:
    """``same(result, gradient)`` for :func:`cluster_work`: the gradient, anywhere in a task's result."""
    return any(isinstance(v, np.ndarray) and v.shape == gradient.shape
               and np.allclose(v, gradient, rtol=1e-9, atol=1e-12) for v in values_in(result))


register(Exercise(
    name="async_ps", kind="code", notebook=NOTEBOOK,
    hint=(N_("Scatter each shard once (hash=False); submit one gradient task per worker "
             "(client.submit(model.gradient, w, X_i, y_i, pure=False)) and remember which worker and which version "
             "each future read; loop over as_completed(...): w = w - lr * gradient, log (worker, version read), "
             "version += 1, then submit that worker again with the new w (as_completed's .add) until n_updates "
             "gradients are applied.")),
    run=_run_async_ps,
    misconception=("An asynchronous parameter server applies each gradient to the parameters the worker read (so "
                   "it is just SGD with some delay), or waits for every worker each round. It applies every "
                   "gradient, computed on old parameters, to the server's current ones, and resubmits each worker "
                   "alone: that mismatch is staleness."),
))


# -- predict -> run -> explain: the speedup of one data-parallel step ------------------------------
def step_speedup(sync: Any, single: Any) -> float:
    """Measured speedup of one synchronous data-parallel step over one single-process large-batch step.

    The notebook's own figure (:func:`plsim.training.lessons.step_speedup`), so the check reads what it printed.
    """
    from plsim.training.lessons import step_speedup as lesson_speedup

    return lesson_speedup(sync, single)


def _explain_step(guess: float | None, measured: float, sync: Any = None, single: Any = None,
                  cpus: int | None = None, **_ignored: Any) -> str:
    reasons = []
    replicas = sync.info.get("n_workers") if sync is not None else None
    if sync is not None and single is not None:
        from plsim.training.lessons import step_seconds

        dp_ms, one_ms = step_seconds(sync) * 1e3, step_seconds(single) * 1e3
        reasons.append(_("Here one step took {dp_ms:.2f} ms on the cluster and {one_ms:.2f} ms "
                          "in one process (measured).").format(dp_ms=dp_ms, one_ms=one_ms))
    if measured < 1:
        lead = (_("The step in one process is the whole gradient computation and the update, so splitting it "
                   "over replicas could save at most that time; ") if single is not None else "")
        reasons.append(lead + _("each data-parallel step adds scheduling tasks, moving parameters and gradients "
                          "between processes and waiting for the slowest replica, and here that added more than the "
                          "split compute saved. Data parallelism pays off when the compute per step (big models, big "
                          "batches) dwarfs that fixed cost: the next section measures from which model size."))
    elif replicas and measured < replicas:
        reasons.append(_("Faster, but less than {replicas}x: the exchange and the update are "
                          "not split (Amdahl), and every step waits for the slowest replica.").format(replicas=replicas))
    if cpus is not None and replicas is not None and cpus < replicas:
        reasons.append(_("This cluster has {cpus} CPU(s) for {replicas} replicas: they take "
                          "turns, so no step can be faster than one process doing all the work.").format(cpus=cpus, replicas=replicas))
    if guess is not None and guess >= 1 and measured < 1:
        reasons.append(_("A guess of 'about the number of workers' assumes the work splits for free."))
    return " ".join(reasons)


register(Exercise(
    name="dp_step_speedup", kind="predict", notebook=NOTEBOOK, rel_tol=0.3,
    hint=N_("Predict: (seconds per large-batch step in one process) / (seconds per synchronous step on the replicas)."),
    explain=_explain_step,
    misconception=("Splitting every step over R workers makes it R times faster. For a small model the step is "
                   "dominated by scheduling and communication, which data parallelism adds rather than splits."),
))


# -- staleness with equally fast workers ------------------------------------------------------------
STALENESS_WORKERS = 4


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from plsim.data import load_dataset

    ds = load_dataset("digits")
    return ds.X_train, ds.y_train


def steady_staleness(n_workers: int = STALENESS_WORKERS) -> int:
    """The staleness of every gradient after the first round with equally fast asynchronous workers (simulated)."""
    from plsim.models import SoftmaxRegression
    from plsim.validation import check_positive_int
    from plsim.training.async_ps import async_sgd_simulated

    n_workers = check_positive_int("n_workers", n_workers)
    X, y = _digits()
    h = async_sgd_simulated(SoftmaxRegression(X.shape[1], 10), X, y, n_workers=n_workers, lr=0.05,
                            n_updates=6 * n_workers, batch_size=16, random_state=0)
    later = set(h.staleness[n_workers:])
    if len(later) != 1:  # a programming error: equal speeds, no jitter must give one value
        raise RuntimeError(f"equal workers gave staleness {sorted(later)}")
    return later.pop()


register(Exercise(
    name="async_staleness", kind="answer", notebook=NOTEBOOK,
    expected=lambda: steady_staleness(STALENESS_WORKERS),
    compare=lambda answer, want: float(answer) == want,
    hint=(N_("Follow one worker: between its pull and its push, how many gradients do the other, equally fast, "
             "workers push?")),
    misconception=("Staleness comes only from stragglers, or is at most 1. With n equally fast asynchronous "
                   "workers every gradient is n - 1 updates old: staleness grows with the number of workers."),
))


# -- the learning rate at which sync SGD follows SSP with bound 0 ----------------------------------
SSP_WORKERS, SSP_LR, SSP_BATCH, SSP_ROUNDS = 4, 0.05, 32, 10


@lru_cache(maxsize=1)
def _ssp0_params() -> bytes:
    from plsim.models import SoftmaxRegression
    from plsim.training.async_ps import async_sgd_simulated

    X, y = _digits()
    h = async_sgd_simulated(SoftmaxRegression(X.shape[1], 10), X, y, n_workers=SSP_WORKERS, staleness_bound=0,
                            lr=SSP_LR, n_updates=SSP_ROUNDS * SSP_WORKERS, batch_size=SSP_BATCH, random_state=0)
    return h.params.tobytes()


def sync_follows_ssp0(lr: float) -> bool:
    """True when synchronous SGD at ``lr`` (global batch 4 x 32) ends where SSP with bound 0 does (simulated)."""
    from plsim.models import SoftmaxRegression
    from plsim.training.sync import large_batch_sgd

    lr = float(lr)
    if not (np.isfinite(lr) and lr > 0):
        return False
    X, y = _digits()
    h = large_batch_sgd(SoftmaxRegression(X.shape[1], 10), X, y, n_workers=SSP_WORKERS, lr=lr, n_steps=SSP_ROUNDS,
                        batch_size=SSP_WORKERS * SSP_BATCH, random_state=0)
    return bool(np.allclose(h.params, np.frombuffer(_ssp0_params()), rtol=1e-8, atol=1e-10))


register(Exercise(
    name="ssp_sync_lr", kind="answer", notebook=NOTEBOOK,
    expected=lambda: True,
    compare=lambda answer, _: sync_follows_ssp0(answer),
    hint=(N_("With bound 0 the server applies four gradients, all computed at the same parameters, one after "
             "another. Synchronous SGD applies their average once. Which learning rate makes the two steps equal?")),
    misconception=("Lock-step SSP (bound 0) equals synchronous SGD at the same learning rate. The server adds the "
                   "gradients up, synchronous SGD averages them: the learning rates differ by the number of workers."),
))

"""Exercises of ``notebooks/06_scaling_out.ipynb``: predicted scaling, and when not to scale out.

The expected values come from the same cost models the notebook uses
(:class:`plsim.speedup.CostModel`, :func:`plsim.comm.comm_time`), fed with what
the notebook measured (the calibration of the running cluster).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plsim.i18n import N_, _
from plsim.exercises._core import Exercise, register
from plsim.speedup import CostModel

__all__ = ["TINY_WORKERS", "tiny_tasks_model", "tiny_tasks_best", "explain_ensemble_peak",
           "explain_federated_crossover"]

TINY_WORKERS = (1, 2, 4, 8, 16, 32)
"""The worker counts the tiny-task exercise compares."""


def tiny_tasks_model(overhead_per_task: float) -> CostModel:
    """The exercise's job: 200 tasks of 2 ms, 10 MB shipped once to every worker at 1 Gbit/s (125 MB/s)."""
    return CostModel(task_seconds=0.002, n_tasks=200, overhead_per_task=overhead_per_task,
                     bytes_once=10e6, bandwidth=125e6)


def tiny_tasks_best(overhead_per_task: float, workers: Sequence[int] = TINY_WORKERS) -> tuple[int, float]:
    """``(worker count with the smallest predicted time, its predicted speedup)``."""
    model = tiny_tasks_model(overhead_per_task)
    best = min(workers, key=model.parallel_time)
    return best, model.speedup(best)


def explain_ensemble_peak(guess: float | None, measured: float, *, model: CostModel,
                          workers: Sequence[int]) -> str:
    """Why the predicted ensemble speedup peaks where it does, from the model's terms."""
    workers = list(workers)
    best = int(measured)
    i = workers.index(best) if best in workers else None
    parts = model.breakdown(best)
    text = (_("The cost model's speedup peaks at {best} workers (predicted). At {best} workers "
               "the work takes {compute:.3g} s and shipping the data to every worker "
               "{transfer:.3g} s.").format(best=best, compute=parts['compute'], transfer=parts['transfer']))
    if i is not None and i + 1 < len(workers):
        nxt = workers[i + 1]
        after = model.breakdown(nxt)
        text += (_(" Going to {nxt} saves {value:.3g} s of work but adds {value2:.3g} s of "
                    "data transfer: each new worker needs its own copy of the data.").format(nxt=nxt, value=parts['compute'] - after['compute'], value2=after['transfer'] - parts['transfer']))
    text += (_(" Beyond {n_tasks} workers there is not even a task for each (granularity). The "
                "per-task overhead ({overhead:.3g} s in all) does not move the peak: it is the "
                "same for any number of workers.").format(n_tasks=model.n_tasks, overhead=model.breakdown(1)['overhead']))
    if guess is not None and guess > 2 * best:
        text += _(" A peak at hundreds of workers ignores that the data has to reach every one of them.")
    elif guess is not None and guess < best / 2:
        text += _(" Half-second tasks are long next to the overhead, so the first doublings still pay off.")
    return text


def explain_federated_crossover(guess: float | None, measured: float, *, link: Any, model_bytes: float,
                                local_seconds: float) -> str:
    """Why server communication outlasts local training from that many clients per round on."""
    latency = 2 * link.alpha
    per_client = 2 * model_bytes * link.beta
    text = (_("Latency costs {latency:.3g} s per round whatever the number of clients K (the "
               "server hears from all of them at once). What grows with K is the bytes: every "
               "client's update in, and the model out, pass through the server's one link, "
               "{per_client:.3g} s per client (predicted). From {int} clients on, K times that "
               "exceeds the {local_seconds:g} s of local training.").format(latency=latency, per_client=per_client, int=int(measured), local_seconds=local_seconds))
    if guess is not None and guess > 2 * measured:
        text += (_(" A server cannot take thousands of full-model updates per round through one link; that is "
                    "why deployments sample clients, compress updates, shard the server and aggregate in tiers."))
    elif guess is not None and guess < measured / 2:
        text += _(" Latency is paid once per round, not once per client, so a few clients cost little.")
    return text


register(Exercise(
    name="ensemble_peak_workers", kind="predict", notebook="06_scaling_out", rel_tol=0.5,
    outcome=N_("predicted by the cost model (not measured)"),
    hint=N_("Which terms of the cost model grow with the number of workers, and which shrink?"),
    explain=lambda guess, measured, **ctx: explain_ensemble_peak(guess, measured, **ctx),
    misconception="More workers are always faster; in fact copying the data to each one (and running out of "
                  "tasks) makes extra workers slow the job down.",
))

register(Exercise(
    name="federated_crossover", kind="predict", notebook="06_scaling_out", rel_tol=0.5,
    outcome=N_("predicted by the cost model (not measured)"),
    hint=N_("Each client's update and model copy cross the server's single link; latency is paid once per round."),
    explain=lambda guess, measured, **ctx: explain_federated_crossover(guess, measured, **ctx),
    misconception="A server can talk to thousands of clients per round at no extra cost, or that latency is "
                  "what limits a round; it is the bytes through the server's one link (incast).",
))

register(Exercise(
    name="tiny_tasks_best_workers", kind="answer", notebook="06_scaling_out",
    hint=N_("Build the CostModel of these tasks (overhead from cal, the data as bytes_once, bandwidth 125e6) and "
            "compare parallel_time over the worker counts."),
    expected=lambda calibration: tiny_tasks_best(calibration.overhead_per_task)[0],
    misconception="The best worker count is the largest one available; with data to copy to every worker the "
                  "time grows again after a few workers.",
))

register(Exercise(
    name="tiny_tasks_best_speedup", kind="answer", notebook="06_scaling_out", rel_tol=0.02,
    hint=N_("speedup(p) of the same CostModel at the worker count you found; above or below 1?"),
    expected=lambda calibration: tiny_tasks_best(calibration.overhead_per_task)[1],
    misconception="If there is a best worker count there is a gain; here even the best cluster run is slower "
                  "than a plain loop, so the right choice is not to scale out.",
))

"""Exercises of ``notebooks/00_start_here.ipynb`` and ``notebooks/01_speedup.ipynb``.

The answers are computed here, by the library, from what the notebook ran (the
cluster, the measured :class:`~plsim.speedup.SpeedupResult`, the calibration),
so the notebook never shows them. Predictions are compared with the
measurement and the feedback picks its reasons from the measured numbers.
"""

from __future__ import annotations

import math
from typing import Any

from plsim.i18n import N_, _
from plsim.exercises._core import Exercise, cluster_work, plsims_own, register
from plsim.speedup import (
    CostModel,
    amdahl_speedup,
    fit_amdahl,
    ideal_speedup,
    python_work,
    run_sequential,
)

__all__ = ["speedup_ceiling", "explain_first_speedup", "explain_tiny_tasks", "explain_threads",
           "serial_fraction_of_run", "task_seconds_for_speedup", "check_batched"]


# -- 00_start_here -------------------------------------------------------------------------------

def speedup_ceiling(client: Any) -> int:
    """The largest speedup independent CPU-bound tasks can reach on ``client``: ``min(threads, usable CPUs)``."""
    from plsim.executor import resolve_executor

    return resolve_executor(client, name="client").parallelism


def explain_first_speedup(guess: float | None, measured: float, *, workers: int, cpus: int,
                          n_tasks: int = 8, overhead_per_task: float | None = None,
                          predicted: float | None = None) -> str:
    """Why the first measurement of 00 came out as it did, chosen from the measured numbers.

    ``overhead_per_task`` is the cluster's cost per task measured by
    :func:`plsim.speedup.calibrate` and ``predicted`` the cost model's speedup
    built from it (both as ``00_start_here`` prints them); without them the
    feedback speaks of "a few milliseconds".
    """
    ideal = ideal_speedup(workers, cpus)
    if overhead_per_task is None:
        cost, measured_by = "a few milliseconds", ""
    else:
        cost, measured_by = f"{overhead_per_task * 1e3:.1f} ms", _(" (measured by calibrate, with empty tasks)")
    expect = "" if predicted is None else _("; with it the cost model expects {predicted:.2f}x").format(predicted=predicted)
    reasons = []
    if cpus < 2:
        reasons.append(
            _("This machine gives the cluster one usable CPU, so its {workers} worker(s) take "
               "turns on it: no parallel speedup is possible here.").format(workers=workers))
        if measured > 1.05:
            reasons.append(
                _("The measured {measured:.2f}x is above 1x, which one CPU cannot do: the "
                   "plain loop was slowed, most likely by other programs on this machine (rerun "
                   "the cell). What the cluster really costs is {cost} per "
                   "task{measured_by}{expect}.").format(measured=measured, cost=cost, measured_by=measured_by, expect=expect))
        else:
            reasons.append(
                _("What the measured {measured:.2f}x shows is the cost of the cluster (sending "
                   "each task to a worker and its result back) against the plain loop, blurred "
                   "by the noise of a shared machine: {cost} per 0.25 s "
                   "task{measured_by}{expect}.").format(measured=measured, cost=cost, measured_by=measured_by, expect=expect))
    else:
        waves = math.ceil(n_tasks / ideal)
        close_to = n_tasks / waves if predicted is None else min(predicted, n_tasks / waves)
        reasons.append(_("The ceiling on this machine is {ideal}x: {workers} worker(s) on "
                          "{cpus} usable CPU(s).").format(ideal=ideal, workers=workers, cpus=cpus))
        if measured > ideal * 1.05:
            reasons.append(_("The measurement is above that ceiling, which real parallel work cannot do: the "
                              "sequential baseline was slowed (another program, a first-run warm-up). Rerun it."))
        elif measured >= 0.85 * close_to:
            reasons.append(_("The run came close to it: each task does about 0.25 s of work, "
                              "far more than the {cost} Dask spends scheduling it and moving "
                              "its result{measured_by}{expect}.").format(cost=cost, measured_by=measured_by, expect=expect))
        elif measured < 0.7 * ideal:
            reasons.append(_("The run stayed far below it: {cost} of overhead per 0.25 s "
                              "task{measured_by} cannot explain that much{expect}, so most "
                              "likely other programs were using the CPUs while it ran (check "
                              "the machine's load and rerun the cell).").format(cost=cost, measured_by=measured_by, expect=expect))
        else:
            why = [_("scheduling each task and moving its result costs time ({cost} per "
                      "task{measured_by}{expect})").format(cost=cost, measured_by=measured_by, expect=expect), _("other programs on this machine may have used the CPUs during the parallel run")]
            if predicted is not None and measured < 0.85 * predicted:
                why = [_("{cost} per task{measured_by} explains only the cost model's "
                          "{predicted:.2f}x, not the rest of the gap: most likely other "
                          "programs on this machine used the CPUs during the parallel run "
                          "(check the load and rerun the cell)").format(cost=cost, measured_by=measured_by, predicted=predicted)]
            if n_tasks % ideal:
                why.insert(1, _("{n_tasks} tasks do not split evenly over {ideal} workers "
                                 "({waves} waves, the last one partly idle)").format(n_tasks=n_tasks, ideal=ideal, waves=waves))
            reasons.append(_("The run stayed below it: ") + "; ".join(why) + ".")
    if guess is not None:
        if guess > ideal * 1.05:
            reasons.append(_("A prediction above {ideal}x could not come true here: work "
                              "cannot run faster than the CPUs it is allowed to use, however "
                              "many CPUs the host has.").format(ideal=ideal))
        elif guess < 1 and ideal >= 2 and measured > 1:
            reasons.append(_("Expecting a slowdown is right for tiny tasks (01_speedup shows it), but 0.25 s "
                              "tasks make Dask's overhead negligible."))
    return " ".join(reasons)


register(Exercise(
    name="speedup_ceiling", kind="answer", notebook="00_start_here",
    hint=N_("Count what can really run at the same time: the workers' threads, and the CPUs this machine lets "
            "you use (printed above)."),
    expected=lambda client: speedup_ceiling(client),
    misconception="The host's core count (os.cpu_count()) is the speedup you can get; in a container or on "
                  "Binder only the allowed CPUs count, and more workers than CPUs just take turns.",
))

register(Exercise(
    name="first_speedup", kind="predict", notebook="00_start_here", rel_tol=0.15,
    hint=N_("Use the ceiling you just worked out, then ask what the cluster costs per 0.25 s task."),
    explain=lambda guess, measured, **ctx: explain_first_speedup(guess, measured, **ctx),
    misconception="Parallel means p times faster on any machine; or, the opposite, that Dask's overhead "
                  "always eats the gain, even for tasks of a quarter of a second.",
))

register(Exercise(
    name="waves", kind="answer", notebook="00_start_here",
    hint=N_("A task cannot be split between CPUs: how many rounds of at most 3 tasks running together are "
            "needed, and how long is each round?"),
    expected=lambda: CostModel(task_seconds=1.0, n_tasks=10).parallel_time(3),
    misconception="Time divides exactly by the number of workers (10 / 3 s); tasks are indivisible, so the "
                  "last, partly empty wave costs a whole task time (granularity).",
))


# -- 01_speedup ----------------------------------------------------------------------------------

def explain_tiny_tasks(guess: float | None, measured: float, *, result: Any) -> str:
    """Why many 1 ms tasks do (not) speed up, from the run's cost model and measured overhead."""
    model, p = result.model, result.workers[-1]
    reasons = []
    if model is not None:
        o, t = model.overhead_per_task, model.task_seconds
        reasons.append(
            _("Each task does {value:.2g} ms of work, and the cluster spends about "
               "{value2:.2g} ms on each (measured by calibrate): {n_tasks} tasks cost "
               "{value3:.2g} s of scheduling that no number of workers removes, next to "
               "{value4:.2g} s of work in total.").format(value=t * 1e3, value2=o * 1e3, n_tasks=model.n_tasks, value3=model.n_tasks * o, value4=model.n_tasks * t))
    if result.cpus is not None and result.cpus < 2:
        reasons.append(_("On one usable CPU nothing can be gained anyway: the cluster only adds that overhead."))
    if measured < 1:
        reasons.append(_("Slower than the plain loop: the cure is batching, fewer and bigger tasks."))
    elif measured < 0.7 * p:
        reasons.append(_("Well below the ideal {p}x: the overhead ate most of the gain; batch "
                          "the tasks.").format(p=p))
    if guess is not None and guess >= 0.7 * p and measured < 0.7 * p:
        reasons.append(_("If you expected the same speedup as for 50 ms tasks, remember the overhead does not "
                          "shrink with the task."))
    return " ".join(reasons)


def explain_threads(guess: float | None, measured: float, *, cpus: int) -> str:
    """Why two threads of one process do not speed up pure-Python work."""
    text = (_("Pure-Python code holds CPython's Global Interpreter Lock: the two threads of one worker process "
               "take turns, so the speedup stays near 1x however many CPUs there are. Worker processes (plsim's "
               "default) each have their own interpreter and lock."))
    if cpus < 2:
        text += _(" On this one-CPU machine two processes would take turns too, so neither could beat 1x.")
    if measured < 0.8:
        text += (_(" Measured {measured:.2f}x, below 1x: on top of taking turns, the cluster "
                    "adds its per-task overhead, and other programs may have been using the "
                    "CPUs.").format(measured=measured))
    elif cpus >= 2 and measured > 1.3:
        text += (_(" Measured {measured:.2f}x is surprisingly high for pure Python; was the "
                    "sequential baseline disturbed? Rerun the cell.").format(measured=measured))
    if guess is not None and guess > 1.5:
        text += _(" Threads only run in parallel while they are inside code that releases the GIL (NumPy, I/O).")
    return text


def serial_fraction_of_run(result: Any) -> float:
    """The serial fraction section 2 of 01 fits: to the measured speedups, or on one worker to the cost model's."""
    if result.serial_fraction is not None:
        return result.serial_fraction
    ps = [1, 2, 4, 8]
    return fit_amdahl(ps, [result.model.speedup(p) for p in ps])


def task_seconds_for_speedup(overhead_per_task: float, speedup: float = 1.5, workers: int = 2) -> float:
    """Task length at which the cost model predicts ``speedup`` on ``workers`` (no data, no serial part).

    With ``n`` tasks (a multiple of ``workers``): ``S = n t / (n o + n t / p)``, so ``t = S o / (1 - S / p)``.
    """
    if not 0 < speedup < workers:
        raise ValueError(f"speedup={speedup!r} must be between 0 and workers={workers!r}")
    return speedup * overhead_per_task / (1.0 - speedup / workers)


register(Exercise(
    name="tiny_task_speedup", kind="predict", notebook="01_speedup", rel_tol=0.25, abs_tol=0.1,
    hint=N_("The calibration above printed how many milliseconds the cluster spends on every task."),
    explain=lambda guess, measured, **ctx: explain_tiny_tasks(guess, measured, **ctx),
    misconception="If 50 ms tasks speed up, so do 1 ms tasks; in fact the per-task overhead does not shrink "
                  "with the task and can make the cluster slower than a plain loop.",
))

register(Exercise(
    name="threads_speedup", kind="predict", notebook="01_speedup", rel_tol=0.25,
    hint=N_("What does CPython's Global Interpreter Lock let two threads of one process do at the same time?"),
    explain=lambda guess, measured, **ctx: explain_threads(guess, measured, **ctx),
    misconception="Two threads run Python code twice as fast; the GIL lets only one run Python at a time.",
))

register(Exercise(
    name="amdahl_from_run", kind="answer", notebook="01_speedup", rel_tol=0.02,
    hint=N_("Amdahl's law of section 2 with the serial fraction the cell of section 2 printed for this run, on "
            "8 workers."),
    expected=lambda result: amdahl_speedup(serial_fraction_of_run(result), 8),
    misconception="A speedup measured on 2 workers doubles on 4 and again on 8; the serial fraction (or "
                  "overhead that behaves like one) caps it well below 8x.",
))

register(Exercise(
    name="task_size_for_speedup", kind="answer", notebook="01_speedup", rel_tol=0.05,
    hint=N_("Write the cost model's speedup for n tasks of t seconds with overhead o on 2 workers and solve "
            "for t; or try task lengths with sp.CostModel. Answer in milliseconds."),
    expected=lambda calibration: task_seconds_for_speedup(calibration.overhead_per_task) * 1e3,
    misconception="Any task is worth sending to the cluster; a task has to be several times longer than the "
                  "per-task overhead before the workers pay off.",
))


def check_batched(function: Any, *, client: Any, n_tasks: int = 23, batch_size: int = 5) -> tuple[bool, str]:
    """Run the student's ``run_batched(client, func, tasks, batch_size)`` and judge it.

    Right when it returns what :func:`plsim.speedup.run_sequential` returns on the
    same tasks, in task order, and the scheduler's record of the call shows one
    Dask task per batch (``ceil(n_tasks / batch_size)``), not one per task, whose
    results are the answer's results (the work ran in those tasks, not in the
    notebook's process) and which were in flight together, not one at a time.
    """
    from plsim.exercises.scheduler_record import watch_scheduler

    tasks = [1000 + 37 * i for i in range(n_tasks)]  # distinct tasks, so each result says which task it was
    want = run_sequential(python_work, tasks)
    with watch_scheduler(client, only_this_client=True) as seen:
        got = function(client, python_work, tasks, batch_size)
    batches = math.ceil(n_tasks / batch_size)
    ran = len(seen.record.computed())
    try:
        got = list(got)
    except TypeError:
        return False, _("run_batched returned {name}, not a list of results").format(name=type(got).__name__)
    if len(got) != n_tasks:
        return False, (_("{n_tasks} tasks gave {n_got} results; return one result per task "
                          "(flatten the batches' lists), in task order").format(n_tasks=n_tasks, n_got=len(got)))
    if got != want:
        wrong = next(i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w)
        return False, (_("the results differ from plsim.speedup.run_sequential on the same "
                          "tasks, first at task {wrong}; are they in task order?").format(wrong=wrong))
    how = (_("client.map a function that runs func on every task of one batch and returns their results, then "
              "gather and flatten those lists"))
    problem = plsims_own(seen, own="run_parallel", how=how)
    if problem:
        return False, problem
    if ran != batches:
        return False, (_("the results are right, but the cluster ran {ran} Dask task(s) for "
                          "{n_tasks} tasks in batches of {batch_size}: submit one Dask task per "
                          "batch ({batches}), each running func on its tasks").format(ran=ran, n_tasks=n_tasks, batch_size=batch_size, batches=batches))
    work = cluster_work(seen, want, _holds_result, what=_("results"), own="run_parallel", how=how)
    if work.problem:
        return False, work.problem
    return True, (_("same results as plsim.speedup.run_sequential on {n_tasks} tasks, computed "
                     "in {ran} Dask tasks of up to {batch_size} (up to {in_flight} in flight at "
                     "once, scheduler's record): {value} fewer per-task overheads.").format(n_tasks=n_tasks, ran=ran, batch_size=batch_size, in_flight=work.in_flight, value=n_tasks - ran))


def _holds_result(result: Any, value: Any) -> bool:
    """``same(result, value)`` for :func:`cluster_work`: one task's result (a batch's list) holds ``value``."""
    return isinstance(result, (list, tuple)) and any(r == value for r in result)


register(Exercise(
    name="batched_tasks", kind="code", notebook="01_speedup",
    hint=N_("Split tasks into lists of batch_size, client.map a small function that runs func on every task of one "
            "batch, gather, then flatten the lists in order."),
    run=lambda fn, **ctx: check_batched(fn, **ctx),
    misconception="The per-task overhead is a fixed cost of parallel computing; it is per *Dask task*, so packing "
                  "many small pieces of work into one task divides it away.",
))

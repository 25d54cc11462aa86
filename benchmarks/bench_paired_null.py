"""Benchmark: how often is the same code, timed against itself, called "measurably different"?

Run from the repository root::

    python benchmarks/bench_paired_null.py                          # 200 comparisons, unloaded and loaded
    python benchmarks/bench_paired_null.py --comparisons 100 --json  # quicker; figures as JSON

Every comparison times one pure-Python task (:func:`plsim.speedup.python_work`,
about ``--task-ms`` each) against *itself* in ``--pairs`` pairs, so any
"measurably different" verdict is a false positive. Two timing schemes, each
comparison on a fresh copy of the task's code (its first call is cold, like a
cell run for the first time):

* **old**: no warm-up, A then B in every pair (how notebook 01 timed
  ``parallel`` against ``parallel_again``), judged by the old rule (one-sided
  sign test p <= 0.05 in whichever direction won) and by the two-sided test;
* **time_paired**: :func:`plsim.speedup.time_paired`, one warm-up call of
  each, a seeded coin for the order of each pair, the two-sided test.

Both run with no load added and with ``--load`` busy processes in the
background (0: no loaded case), the two schemes alternating so both see the
same machine. Each rate is measured, with a 95 % Clopper-Pearson interval;
the target of the two-sided verdicts is 5 % or less (7 pairs: 1.6 % if every
pair is a fair coin).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
import types
from collections.abc import Callable
from typing import Any

from scipy.stats import binomtest

from plsim.speedup import PairedComparison, compare_paired, python_work, python_work_iterations, time_paired

SCHEMES = ("old order, old one-sided test", "old order, two-sided test", "time_paired, two-sided test")


def _spin(started, deadline: float) -> None:
    """Background load: say so, then burn one CPU until ``deadline`` (time.time()), or until terminated."""
    started.set()
    while time.time() < deadline:
        pass


def _fresh_task(iterations: int) -> Callable[[], float]:
    """``python_work(iterations)`` from a new copy of its code: cold, as if never run before."""
    fresh = types.FunctionType(python_work.__code__.replace(), python_work.__globals__, "python_work_copy",
                               python_work.__defaults__)
    return lambda: fresh(iterations)


def _fixed_order(run: Callable[[], float], pairs: int) -> PairedComparison:
    """The old scheme: no warm-up, A then B in every pair, back to back."""
    seconds: tuple[list[float], list[float]] = ([], [])
    for _ in range(pairs):
        for out in seconds:
            start = time.perf_counter()
            run()
            out.append(time.perf_counter() - start)
    return compare_paired(*seconds, first=["a"] * pairs)


def _one_sided_called(c: PairedComparison) -> bool:
    """The old verdict: one-sided sign test in the leader's direction, p <= 0.05, with 5 pairs or more."""
    k, m = max(c.wins_a, c.wins_b), c.wins_a + c.wins_b
    if len(c.ratios) < 5 or c.wins_a == c.wins_b:
        return False
    return bool(binomtest(k, m, 0.5, alternative="greater").pvalue <= 0.05)


def _run(comparisons: int, pairs: int, iterations: int, seed: int) -> tuple[dict[str, int], float]:
    """False positives of each scheme, and the share of old-order pairs the second run won."""
    called = dict.fromkeys(SCHEMES, 0)
    second_won = untied = 0
    for i in range(comparisons):
        for scheme in ("old", "new") if i % 2 == 0 else ("new", "old"):
            run = _fresh_task(iterations)
            if scheme == "old":
                c = _fixed_order(run, pairs)
                called[SCHEMES[0]] += _one_sided_called(c)
                called[SCHEMES[1]] += c.verdict in ("a_faster", "b_faster")
                second_won, untied = second_won + c.wins_b, untied + c.wins_a + c.wins_b
            else:
                c = time_paired(run, run, pairs=pairs, random_state=seed + i)
                called[SCHEMES[2]] += c.verdict in ("a_faster", "b_faster")
    return called, second_won / max(untied, 1)


def _loaded(n_busy: int, job: Callable[[], Any]) -> Any:
    """``job()`` while ``n_busy`` processes each burn a CPU; they are stopped afterwards."""
    ctx = multiprocessing.get_context("spawn")
    started = [ctx.Event() for _ in range(n_busy)]
    busy = [ctx.Process(target=_spin, args=(e, time.time() + 3600), daemon=True) for e in started]
    try:
        for p in busy:
            p.start()
        for e in started:
            if not e.wait(60):
                raise RuntimeError("a background load process did not start within 60 s")
        return job()
    finally:
        for p in busy:
            p.terminate()
        for p in busy:
            p.join(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comparisons", type=int, default=200, help="A-versus-A comparisons per scheme and load "
                        "(default %(default)s)")
    parser.add_argument("--pairs", type=int, default=7, help="timed pairs per comparison (default %(default)s)")
    parser.add_argument("--task-ms", type=float, default=1.0, help="milliseconds per task run (default %(default)s)")
    parser.add_argument("--load", type=int, default=1, help="busy background processes in the loaded case "
                        "(0: idle machine only; default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="first random_state of time_paired (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    for name in ("comparisons", "pairs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} {getattr(args, name)}: must be at least 1")
    if args.load < 0 or args.task_ms <= 0 or args.seed < 0:
        parser.error("--load and --seed must be >= 0 and --task-ms > 0")

    iterations = python_work_iterations(args.task_ms)
    cases = {"none added": None} | ({f"{args.load} busy process(es)": args.load} if args.load else {})
    rows, second = [], {}
    for load, n_busy in cases.items():
        job = lambda: _run(args.comparisons, args.pairs, iterations, args.seed)  # noqa: E731
        t0 = time.perf_counter()
        called, second[load] = job() if n_busy is None else _loaded(n_busy, job)
        print(f"{load}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        for scheme in SCHEMES:
            ci = binomtest(called[scheme], args.comparisons).proportion_ci(0.95, method="exact")
            rows.append({"load": load, "scheme": scheme, "comparisons": args.comparisons,
                         "called_different": called[scheme], "false_positive_rate": called[scheme] / args.comparisons,
                         "ci95_low": float(ci.low), "ci95_high": float(ci.high)})

    if args.json:
        print(json.dumps({"pairs": args.pairs, "task_ms": args.task_ms, "iterations": iterations, "rows": rows,
                          "old_order_second_run_faster_share": second}, indent=2))
        return 0
    print(f"Same task against itself: {args.comparisons} comparisons of {args.pairs} pairs, task ~{args.task_ms:g} ms "
          f"({iterations} iterations); every 'measurably different' is a false positive (measured)")
    print(f"{'load':<22} {'scheme':<32} {'called':>7} {'rate (measured)':>16} {'95% CI (Clopper-Pearson)':>25}")
    for r in rows:
        ci = f"{r['ci95_low']:.1%} to {r['ci95_high']:.1%}"
        print(f"{r['load']:<22} {r['scheme']:<32} {r['called_different']:>7} {r['false_positive_rate']:>16.1%} "
              f"{ci:>25}")
    print("Target for the two-sided verdicts: 5 % or less.")
    for load, share in second.items():
        print(f"Old order, {load}: the second run of a pair was faster in {share:.1%} of untied pairs (measured).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

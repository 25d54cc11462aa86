"""Every figure the course quotes, computed once at the notebooks' own sizes: one JSON object.

Each topic's ``course_figures`` runs the same library calls at the same ``demo_settings()``
as its notebook, which computes its figures through those same functions:

* ``plsim.federated.lessons``      (03) FedSGD versus FedAvg at tuned rates, client drift;
* ``plsim.training.lessons``       (04) data-parallel speedup and its limit, staleness;
* ``plsim.training.lessons_comm``  (05) the α–β fit and held-out sizes, the pipeline bubble.

Run on the machine to describe, from the repository root::

    python benchmarks/course_figures.py --json            # 2 CPUs, the notebooks' full sizes
    CPU_LIMIT=1 MEM_LIMIT=2147483648 taskset -c 0 \\
        python benchmarks/course_figures.py --small --json  # as Binder runs the course

``--check`` also prints, for every goal the course relies on (issue #20's "done when"), whether
this run meets it; measured goals are judged only where the run had the CPUs they need.
``docs/make_typical_values.py`` turns saved JSON runs into the instructors' table of typical values.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable

#: (key, description, test, needs 2 CPUs) of each goal --check judges.
GOALS: list[tuple[str, str, Callable[[dict], bool | None], bool]] = [
    ("fedavg_iid_round_ratio_e5", ">= 5", lambda f: _ge(f.get("fedavg_iid_round_ratio_e5"), 5), False),
    ("fedavg_iid_round_ratio_e20", ">= 5", lambda f: _ge(f.get("fedavg_iid_round_ratio_e20"), 5), False),
    ("fedsgd_best_lr_interior", "true", lambda f: f.get("fedsgd_best_lr_interior") is True, False),
    ("fedavg_best_lr_interior", "true", lambda f: f.get("fedavg_best_lr_interior") is True, False),
    ("fedavg_noniid_round_ratio_e5", "< the IID ratio (drift shrinks or reverses the saving)",
     lambda f: _lt(f.get("fedavg_noniid_round_ratio_e5"), f.get("fedavg_iid_round_ratio_e5")), False),
    ("data_parallel_speedup_2w", ">= 1.5 (measured)", lambda f: _ge(f.get("data_parallel_speedup_2w"), 1.5), True),
    ("async_updates_over_sync", ">= 1.2", lambda f: _ge(f.get("async_updates_over_sync"), 1.2), False),
    ("async_time_over_sync", "< 1", lambda f: _lt(f.get("async_time_over_sync"), 1), False),
    ("ssp_max_staleness", "<= ssp_bound",
     lambda f: None if f.get("ssp_max_staleness") is None else f["ssp_max_staleness"] <= f["ssp_bound"], False),
    ("alpha_beta_heldout_median_ratio", "in 0.8-1.25 from >= 8 fitted points",
     lambda f: None if f.get("alpha_beta_heldout_median_ratio") is None
     else (0.8 <= f["alpha_beta_heldout_median_ratio"] <= 1.25 and f.get("alpha_beta_points", 0) >= 8), True),
    ("bubble_measured_m1", "within 0.1 of bubble_predicted_m1",
     lambda f: _near(f.get("bubble_measured_m1"), f.get("bubble_predicted_m1"), 0.1), True),
    ("bubble_measured_m4", "within 0.1 of bubble_predicted_m4",
     lambda f: _near(f.get("bubble_measured_m4"), f.get("bubble_predicted_m4"), 0.1), True),
]


def _ge(x: Any, bound: float) -> bool | None:
    return None if x is None else x >= bound


def _lt(x: Any, bound: Any) -> bool | None:
    return None if x is None or bound is None else x < bound


def _near(x: Any, y: Any, tol: float) -> bool | None:
    return None if x is None or y is None else abs(x - y) <= tol


def collect(executor: Any, small: bool, say: Callable[..., None]) -> dict[str, Any]:
    """Run the three topics' ``course_figures`` on ``executor``; one flat dict plus per-topic timings."""
    from plsim.federated import lessons as federated_lessons
    from plsim.training import lessons as training_lessons
    from plsim.training import lessons_comm

    figures: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for name, provider in (("federated (03)", federated_lessons.course_figures),
                           ("distributed training (04)", training_lessons.course_figures),
                           ("collectives and pipelines (05)", lessons_comm.course_figures)):
        say(f"... {name}", flush=True)
        t0 = time.perf_counter()
        figures.update(provider(executor, small=small))
        seconds[name] = round(time.perf_counter() - t0, 1)
    figures["seconds_per_topic"] = seconds
    return figures


def judge(figures: dict[str, Any], cpus: int) -> list[dict[str, Any]]:
    """Each goal with the run's value and a verdict (None: this run cannot judge it)."""
    rows = []
    for key, goal, test, needs_two in GOALS:
        verdict = None if (needs_two and cpus < 2) else test(figures)
        rows.append({"key": key, "value": figures.get(key), "goal": goal, "met": verdict,
                     **({"why_not_judged": f"a measured goal on {cpus} CPU"} if verdict is None and needs_two and cpus < 2
                        else {})})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="the small sizes (PLSIM_SMALL=1), as on Binder")
    ap.add_argument("--json", action="store_true", help="print only the JSON object")
    ap.add_argument("--check", action="store_true", help="also judge every goal; exit 1 if one judged is not met")
    args = ap.parse_args(argv)
    if args.small:
        os.environ["PLSIM_SMALL"] = "1"   # before plsim reads it, so the workers see it too

    import plsim
    from plsim.resources import detect_resources

    say = (lambda *a, **k: None) if args.json else print
    res = detect_resources()
    client = plsim.start_cluster(quiet=True)
    try:
        workers = len(client.scheduler_info()["workers"])
        t0 = time.perf_counter()
        figures = collect(client, args.small, say)
        context = {"small": args.small, "cpus": res.cpus, "workers": workers,
                   "load_average_1min": round(os.getloadavg()[0], 2),
                   "seconds": round(time.perf_counter() - t0, 1)}
    finally:
        plsim.close_cluster()
    out: dict[str, Any] = {"context": context, **figures}
    if args.check:
        out["goals"] = judge(figures, context["cpus"])
    print(json.dumps(out, indent=2, default=float))
    if args.check:
        failed = [g["key"] for g in out["goals"] if g["met"] is False]
        if failed:
            print(f"goals not met: {', '.join(failed)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

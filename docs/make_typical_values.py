"""Write the instructors' table of typical values from saved runs of ``benchmarks/course_figures.py``.

Each JSON file in ``docs/course_figures/`` is one run's output (``--json``); the table gives, for every
key figure the notebooks print, the range seen over those runs, once for 2 CPUs at the full sizes and
once under the Binder profile (one CPU, ``--small``). It is rendered into ``docs/instructors.md`` between
the ``typical-values`` markers; ``tests/test_docs_typical_values.py`` fails when the guide and the saved
runs differ. Add a run and re-render::

    python benchmarks/course_figures.py --json > docs/course_figures/2cpu-$(date +%Y%m%d-%H%M).json
    CPU_LIMIT=1 MEM_LIMIT=2147483648 taskset -c 0 python benchmarks/course_figures.py --small --json \\
        > docs/course_figures/binder-$(date +%Y%m%d-%H%M).json
    python docs/make_typical_values.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
GUIDE = DOCS / "instructors.md"
RUNS = DOCS / "course_figures"
START, END = "<!-- typical-values:start -->", "<!-- typical-values:end -->"

#: (key, notebook, what it is, measured?) in the order the course meets them.
FIGURES: list[tuple[str, str, str, bool]] = [
    ("fedavg_iid_round_ratio_e5", "03", "FedSGD rounds / FedAvg E=5 rounds to the target, IID clients, tuned rates",
     False),
    ("fedavg_iid_round_ratio_e20", "03", "the same with E=20", False),
    ("fedsgd_best_lr_interior", "03", "FedSGD's best rate inside its grid", False),
    ("fedavg_best_lr_interior", "03", "FedAvg's best rates inside their grid", False),
    ("fedavg_noniid_round_ratio_e5", "03",
     "FedSGD rounds / FedAvg E=5 rounds on 2-label shards (cap + 1 where the target is not reached)", False),
    ("noniid_fedsgd_reached", "03", "FedSGD reaches the target on shards", False),
    ("data_parallel_speedup_2w", "04", "one data-parallel step on 2 workers, large model: speedup", True),
    ("data_parallel_small_speedup_2w", "04", "the same, small model (communication dominates)", True),
    ("async_updates_over_sync", "04", "updates to the target, asynchronous / synchronous", False),
    ("async_time_over_sync", "04", "simulated time to the target, asynchronous / synchronous", False),
    ("ssp_max_staleness", "04", "largest staleness seen under SSP", False),
    ("ssp_bound", "04", "SSP's bound", False),
    ("alpha_seconds", "05", "α fitted on the cluster (s per message)", True),
    ("beta_seconds_per_byte", "05", "β fitted on the cluster (s per byte)", True),
    ("alpha_beta_points", "05", "message sizes the fit used", False),
    ("alpha_beta_heldout_median_ratio", "05", "measured / predicted time, median over held-out sizes", True),
    ("bubble_predicted_m1", "05", "pipeline bubble, formula, m=1 micro-batch", False),
    ("bubble_measured_m1", "05", "pipeline bubble from the task stream, m=1", True),
    ("bubble_predicted_m4", "05", "pipeline bubble, formula, m=4", False),
    ("bubble_measured_m4", "05", "pipeline bubble from the task stream, m=4", True),
]

#: Measured speedups and bubbles need two CPUs: on one the replicas or stages take turns (the notebooks say so).
NEEDS_TWO_CPUS = {"data_parallel_speedup_2w", "data_parallel_small_speedup_2w", "bubble_measured_m1",
                  "bubble_measured_m4"}

PROFILES = (("2 CPUs, full sizes", lambda c: not c.get("small") and c.get("cpus", 0) >= 2),
            ("Binder profile (1 CPU, small sizes)", lambda c: c.get("small") and c.get("cpus", 0) == 1))


def load_runs(folder: Path = RUNS) -> list[dict[str, Any]]:
    """Every saved run, oldest file name first."""
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def _fmt(x: Any) -> str:
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return f"{x:.3g}"
    return "—"


def value_range(values: list[Any]) -> str:
    """``a–b`` over the runs (one value if they agree); ``—`` when no run has the figure."""
    seen = [v for v in values if v is not None]
    if not seen:
        return "—"
    if all(isinstance(v, bool) for v in seen):
        return " / ".join(sorted({_fmt(v) for v in seen}))
    lo, hi = min(seen), max(seen)
    return _fmt(lo) if _fmt(lo) == _fmt(hi) else f"{_fmt(lo)}–{_fmt(hi)}"


def table(runs: list[dict[str, Any]]) -> str:
    groups = [[r for r in runs if keep(r.get("context", {}))] for _, keep in PROFILES]
    head = " | ".join(f"{name} ({len(g)} run{'s' if len(g) != 1 else ''})" for (name, _), g in zip(PROFILES, groups))
    rows = [f"| notebook | figure | kind | {head} |", "|---|---|---|---|---|"]
    for key, nb, what, measured in FIGURES:
        kind = "measured" if measured else "counted / simulated"
        cells = " | ".join("not measurable on 1 CPU" if key in NEEDS_TWO_CPUS and name.startswith("Binder")
                           else value_range([r.get(key) for r in g]) for (name, _), g in zip(PROFILES, groups))
        rows.append(f"| {nb} | {what} (`{key}`) | {kind} | {cells} |")
    loads = [r["context"]["load_average_1min"] for g in groups for r in g
             if r.get("context", {}).get("load_average_1min") is not None]
    if loads:
        rows.append("")
        rows.append(f"Load average (1 min) when the runs started: {min(loads):.2g}–{max(loads):.2g}. "
                    "Counted and simulated figures come from seeded runs and repeat exactly; measured ones "
                    "vary with the machine and what else runs on it. Under the Binder profile all ranks share one "
                    "worker, so a message copies nothing and β fits as 0 (05 says so).")
    return "\n".join(rows)


def render(text: str, runs: list[dict[str, Any]] | None = None) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table(load_runs() if runs is None else runs)}\n{END}{tail}"


if __name__ == "__main__":
    GUIDE.write_text(render(GUIDE.read_text()))
    print(f"wrote {GUIDE} ({len(load_runs())} runs)")

"""Cluster layer figures on this machine: start, close, per-task overhead, `import plsim`.

Run:  python benchmarks/bench_cluster.py [--repeats 5] [--workers N]

Every figure is a wall-clock measurement (median of several runs). Targets on
a 2-CPU machine: start <= 2 s, close <= 1 s, import plsim <= 0.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def _import_time(repeats: int) -> tuple[float, float]:
    """Median seconds for `import plsim` in a fresh interpreter, minus the bare interpreter start."""

    def run(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - t0

    bare = statistics.median(run("pass") for _ in range(repeats))
    with_plsim = statistics.median(run("import plsim") for _ in range(repeats))
    return with_plsim - bare, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--tasks", type=int, default=2000, help="trivial tasks for the overhead figure")
    args = parser.parse_args()

    import plsim
    from plsim.speedup import calibrate

    starts, closes, overheads = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        client = plsim.start_cluster(n_workers=args.workers, quiet=True)
        starts.append(time.perf_counter() - t0)
        n_workers = len(client.nthreads())
        # Per-task cost seen by a user who submits many tiny tasks at once: plsim.speedup.calibrate's
        # empty tasks through the executor (after one untimed warm-up run), as the notebooks measure it.
        overheads.append(calibrate(executor=client, n_tasks=args.tasks, megabytes=1, repeats=1).overhead_per_task)
        t0 = time.perf_counter()
        plsim.close_cluster()
        closes.append(time.perf_counter() - t0)

    import_seconds, bare = _import_time(args.repeats)
    res = plsim.detect_resources()
    print(f"machine: {res.cpus} usable CPUs ({res.cpu_source}); {n_workers} workers; medians of {args.repeats} runs")
    print(f"{'figure (measured)':<42}{'median':>10}{'min':>10}{'max':>10}   target")
    rows = [
        ("cluster start [s]", starts, "<= 2 s"),
        ("cluster close [s]", closes, "<= 1 s"),
        (f"per-task overhead, {args.tasks} trivial tasks [ms]", [o * 1000 for o in overheads], ""),
    ]
    for name, values, target in rows:
        print(f"{name:<42}{statistics.median(values):>10.3f}{min(values):>10.3f}{max(values):>10.3f}   {target}")
    print(f"{'import plsim [s] (beyond bare python ' + format(bare, '.3f') + ' s)':<42}{import_seconds:>10.3f}"
          f"{'':>10}{'':>10}   <= 0.5 s")


if __name__ == "__main__":
    main()

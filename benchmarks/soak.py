"""Soak: does one process stay the same size over many runs? (not in CI)

Runs the main job (``plsim bench``'s whole fit: sequential, on a fresh Dask
cluster, through joblib) ``--iterations`` times in one process, then one run of
each topic (a federated run, a data-parallel training run, a speedup
measurement), and after each prints this process's resident memory, open file
descriptors, threads and child processes, all measured with psutil after the
cluster of that iteration was closed. A leak shows as a column that keeps
growing; the last lines print the growth from iteration 2 on (iteration 1 pays
one-time imports and caches). The child processes that remain between
iterations are joblib's loky worker pool and its resource tracker, which joblib
keeps alive on purpose to reuse; their number must stay constant.

Run from the repository root::

    python benchmarks/soak.py                  # 20 iterations, ~3-6 min on 2 CPUs
    python benchmarks/soak.py --iterations 5   # a quick look
    python benchmarks/soak.py --json           # the figures as JSON
"""

from __future__ import annotations

import argparse
import gc
import json
import time

import psutil


def snapshot(label: str, started: float) -> dict:
    me = psutil.Process()
    gc.collect()
    return {"run": label, "seconds": round(time.perf_counter() - started, 1),
            "rss_mib": round(me.memory_info().rss / 2**20, 1), "open_fds": me.num_fds(),
            "threads": me.num_threads(), "children": len(me.children(recursive=True))}


def main_job(iteration: int) -> None:
    from plsim.benchmark import BenchConfig, run_bench

    out = run_bench(BenchConfig(members=8, samples=3000, repeats=1, seed=iteration))
    assert out.identical_predictions, "the parallel ensemble must equal the sequential one"


def federated_run() -> None:
    import plsim
    from plsim import data, federated as F, models

    ds = data.load_dataset("digits")
    parts = data.partition_iid(ds.y_train, 10)
    with plsim.start_cluster(n_workers=2, quiet=True) as client:
        F.run_federated(models.SoftmaxRegression(ds.n_features, ds.n_classes), ds, parts, rounds=5,
                        client_fraction=0.5, lr=0.1, executor=client, random_state=0)


def training_run() -> None:
    import plsim
    from plsim.data import load_dataset
    from plsim.models import MLP
    from plsim.training.sync import sync_sgd

    ds = load_dataset("digits")
    with plsim.start_cluster(n_workers=2, quiet=True) as client:
        sync_sgd(MLP(64, hidden=(32,), n_classes=10), ds.X_train, ds.y_train, executor=client, n_workers=2,
                 n_steps=20, batch_size=128, random_state=0)


def speedup_run() -> None:
    import plsim
    from plsim import speedup as sp

    with plsim.start_cluster(n_workers=2, quiet=True) as client:
        sp.measure_speedup(sp.python_work, [sp.python_work_iterations(20)] * 8, executor=client, repeats=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20, help="runs of the main job (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if args.iterations < 2:
        parser.error(f"--iterations {args.iterations}: at least 2 are needed to see a trend")

    started = time.perf_counter()
    rows = [snapshot("start", started)]
    for i in range(1, args.iterations + 1):
        main_job(i)
        rows.append(snapshot(f"main job {i}", started))
        if not args.json:
            r = rows[-1]
            print(f"{r['run']:>14}  {r['seconds']:7.1f} s  RSS {r['rss_mib']:7.1f} MiB  fds {r['open_fds']:4d}  "
                  f"threads {r['threads']:3d}  children {r['children']:2d}  (measured)", flush=True)
    for label, run in (("federated", federated_run), ("training", training_run), ("speedup", speedup_run)):
        run()
        rows.append(snapshot(label, started))
    second, last_main = rows[2], rows[args.iterations]
    growth = {key: round(last_main[key] - second[key], 1) for key in ("rss_mib", "open_fds", "threads", "children")}
    if args.json:
        print(json.dumps({"rows": rows, "growth_after_iteration_2": growth}, indent=1))
        return
    for r in rows[args.iterations + 1:]:
        print(f"{r['run']:>14}  {r['seconds']:7.1f} s  RSS {r['rss_mib']:7.1f} MiB  fds {r['open_fds']:4d}  "
              f"threads {r['threads']:3d}  children {r['children']:2d}  (measured)")
    print(f"growth from main job 2 to main job {args.iterations} (measured): RSS {growth['rss_mib']:+.1f} MiB, "
          f"fds {growth['open_fds']:+d}, threads {growth['threads']:+d}, children {growth['children']:+d}")


if __name__ == "__main__":
    main()

"""How much memory one Dask worker needs to run plsim's tasks (measured on this machine).

Run:  python benchmarks/bench_worker_memory.py [--repeats 3]

Starts a one-worker LocalCluster with a generous memory limit (so nothing is
paused or restarted), then reads the worker process's resident set size (RSS,
psutil) at each step of a classroom run:

1. a fresh worker (Python + dask + distributed);
2. after importing plsim, numpy and scikit-learn in the worker;
3. after one ensemble member is fitted there (a bagged decision tree on the
   02_ensembles demo data, through ``ParallelBaggingClassifier(executor=...)``);
4. after one federated round (FedAvg, an MLP on digits, through ``run_federated``);
5. the peak over the whole run (``ru_maxrss``): Dask's nanny samples RSS every
   100 ms, so a transient peak can pause or restart a worker too.

``plsim.cluster.WORKER_TASK_MEMORY`` is the RSS held after step 4 and
``WORKER_PEAK_MEMORY`` the peak, both rounded up; ``MIN_WORKER_MEMORY`` is
chosen so that Dask neither pauses (80 % of the limit) nor restarts (95 %) such
a worker. Every figure is measured, not simulated.
"""

from __future__ import annotations

import argparse
import os

MiB = 2**20


def _rss() -> int:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss


def _peak() -> int:
    """The largest RSS this worker process has had (``ru_maxrss``, KiB on Linux): transients count too."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _import_stack() -> int:
    import numpy  # noqa: F401
    import sklearn.tree  # noqa: F401

    import plsim.ensembles.bagging  # noqa: F401
    import plsim.federated.runner  # noqa: F401

    return _rss()


def measure_once() -> dict[str, int]:
    """RSS in bytes of a fresh worker at each step (one cluster, started and closed here)."""
    import plsim
    from plsim.data import load_dataset, partition
    from plsim.ensembles import ParallelBaggingClassifier, demo_data
    from plsim.federated.runner import run_federated
    from plsim.models import MLP

    figures: dict[str, int] = {}
    with plsim.start_cluster(n_workers=1, memory_limit="4GiB", quiet=True) as client:
        (address,) = client.nthreads()
        figures["fresh worker"] = client.run(_rss)[address]
        figures["after imports"] = client.run(_import_stack)[address]
        X_train, _, y_train, _ = demo_data()
        ParallelBaggingClassifier(n_estimators=1, random_state=0, executor=client).fit(X_train, y_train)
        figures["after one tree fit"] = client.run(_rss)[address]
        data = load_dataset("digits")
        parts = partition(data.y_train, 10, "iid")
        model = MLP(n_features=data.X_train.shape[1], n_classes=data.n_classes, hidden=(32,))
        run_federated(model, data, parts, rounds=1, client_fraction=0.5, executor=client, random_state=0)
        figures["after one federated round"] = client.run(_rss)[address]
        figures["peak over the run"] = client.run(_peak)[address]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh clusters to measure (the maximum is kept)")
    args = parser.parse_args()

    from plsim.cluster import MIN_WORKER_MEMORY, WORKER_PEAK_MEMORY, WORKER_TASK_MEMORY

    runs = [measure_once() for _ in range(args.repeats)]
    print(f"worker RSS, measured, max of {args.repeats} fresh one-worker clusters:")
    for step in runs[0]:
        values = [run[step] for run in runs]
        print(f"  {step:28s} {max(values) / MiB:7.1f} MiB   (min {min(values) / MiB:.1f})")
    held = max(run["after one federated round"] for run in runs)
    peak = max(run["peak over the run"] for run in runs)
    print(f"plsim.cluster: WORKER_TASK_MEMORY = {WORKER_TASK_MEMORY / MiB:.0f} MiB (held here: {held / MiB:.1f}), "
          f"WORKER_PEAK_MEMORY = {WORKER_PEAK_MEMORY / MiB:.0f} MiB (peak here: {peak / MiB:.1f}), "
          f"MIN_WORKER_MEMORY = {MIN_WORKER_MEMORY / MiB:.0f} MiB (pause at 80 % = {0.8 * MIN_WORKER_MEMORY / MiB:.0f}, "
          f"restart at 95 % = {0.95 * MIN_WORKER_MEMORY / MiB:.0f} MiB)")
    if held > WORKER_TASK_MEMORY or peak > WORKER_PEAK_MEMORY:
        print("WARNING: this machine needs more than plsim/cluster.py's figures; update them")

if __name__ == "__main__":
    main()

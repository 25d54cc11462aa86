"""``plsim bench``: measure sequential versus parallel ensemble training on this machine.

The main job. It trains a bagged ensemble (default: 16 decision trees, each
about half a second here) three ways on the same generated data:

1. **sequential**: ``ParallelBaggingClassifier(client=None)``, one member after
   the other in this process, limited to one thread (the one-CPU baseline);
2. **plsim on Dask**: the same estimator with ``client=`` a cluster from
   :func:`plsim.start_cluster` (one thread per worker, data scattered once per fit);
3. **joblib**: the very same fit with ``client=joblib.Parallel(n_jobs=workers)``:
   the same validation, seeds and members (so the same rows and columns), only
   the members run on joblib's default process backend (loky), not on Dask.

Each is warmed up first (worker imports, process pools), then timed end to end
``--repeats`` times, interleaved so a busy machine hurts all three alike; the
median is reported. plsim and joblib run back to back in each repeat, which of
the two goes first drawn by a coin seeded with ``--seed``, and are compared
pair by pair with a two-sided sign test (:func:`plsim.speedup.compare_paired`),
so a tie reads as a tie and neither profits from always running second. Beside
the measured speedup it prints the speedup the cost
model of :mod:`plsim.speedup` *predicts* from the measured member times and the
cluster's measured per-task overhead and bandwidth. ``--small-tasks`` runs the
case where members take ~10 ms and the overhead wins.

Progress goes to stderr, so ``plsim bench --json`` writes clean JSON to stdout.
Taught in ``notebooks/01_speedup.ipynb``.
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["add_arguments", "run", "BenchConfig", "run_bench", "ESTIMATORS", "format_table"]

# Defaults: 16 members of about 0.5 s each on this 2-CPU machine.
DEFAULT_MEMBERS = 16
DEFAULT_SAMPLES = 30_000
DEFAULT_FEATURES = 20
# --small-tasks: many members of about 10 ms each, where per-task overhead wins.
SMALL_MEMBERS = 200
SMALL_SAMPLES = 1000
# Timed runs of each kind: 6 is the fewest pairs in which a two-sided sign test can call plsim or
# joblib faster (plsim.speedup.compare.MIN_PAIRS); with fewer the comparison reads "too few pairs".
DEFAULT_REPEATS = 6


def _make_estimator(name: str) -> Any:
    from sklearn.linear_model import LogisticRegression, RidgeClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

    return {
        "decision_tree": DecisionTreeClassifier,
        "extra_tree": ExtraTreeClassifier,
        "logistic_regression": lambda: LogisticRegression(max_iter=500),
        "gaussian_nb": GaussianNB,
        "ridge": RidgeClassifier,
    }[name]()


ESTIMATORS = ("decision_tree", "extra_tree", "logistic_regression", "gaussian_nb", "ridge")


@dataclass(frozen=True)
class BenchConfig:
    """What to benchmark; ``None`` workers means the usable CPUs (or the remote cluster's workers)."""

    workers: int | None = None
    members: int = DEFAULT_MEMBERS
    samples: int = DEFAULT_SAMPLES
    features: int = DEFAULT_FEATURES
    estimator: str = "decision_tree"
    repeats: int = DEFAULT_REPEATS
    address: str | None = None
    small_tasks: bool = False
    seed: int = 0
    joblib: bool = True

    def __post_init__(self) -> None:
        for name, low in (("members", 1), ("samples", 20), ("features", 2), ("repeats", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an integer, got {value!r}")
            if value < low:
                raise ValueError(f"{name}={value!r} must be at least {low}")
        if self.workers is not None:
            if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
                raise ValueError(f"workers={self.workers!r} must be a positive integer")
            if self.address is not None:
                raise ValueError(
                    f"workers={self.workers} sizes a local cluster; with address={self.address!r} the "
                    "remote cluster's own workers are used (leave --workers out)"
                )
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator={self.estimator!r} is not one of: {', '.join(ESTIMATORS)}")


def _say(text: str) -> None:
    print(f"plsim bench: {text}", file=sys.stderr, flush=True)


def _member_counter(label: str) -> Callable[[int, int], None] | None:
    """A live 'label: done/total members' line on stderr, when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\r  {label}: {done}/{total} members", end=end, file=sys.stderr, flush=True)

    return show


def _data(cfg: BenchConfig) -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import make_classification

    n_test = max(200, cfg.samples // 4)
    informative = max(2, cfg.features // 2)
    X, y = make_classification(n_samples=cfg.samples + n_test, n_features=cfg.features,
                               n_informative=informative, n_redundant=min(cfg.features - informative, 2),
                               random_state=cfg.seed)
    return X[: cfg.samples], y[: cfg.samples], X[cfg.samples:], y[cfg.samples:]


def run_bench(cfg: BenchConfig, *, progress: Callable[[str], None] = _say) -> dict[str, Any]:
    """Run the benchmark described by ``cfg``; returns the figures (see ``--json`` keys).

    Starts a cluster with :func:`plsim.start_cluster` (or connects to
    ``cfg.address``) and closes it before returning.
    """
    import numpy as np
    from sklearn.base import clone
    from threadpoolctl import threadpool_limits

    import plsim
    from plsim.ensembles import ParallelBaggingClassifier
    from plsim.speedup import (CostModel, SpeedupResult, Timing, calibrate, cluster_cpus, compare_paired, karp_flatt,
                               record_timeline)

    X, y, X_test, y_test = _data(cfg)
    base = _make_estimator(cfg.estimator)
    progress(f"{cfg.members} x {cfg.estimator} on {X.shape[0]} x {X.shape[1]} samples; starting the cluster")
    already = plsim.current_client()
    client = plsim.start_cluster(n_workers=cfg.workers, address=cfg.address, quiet=True)
    try:
        from plsim.cluster import worker_threads

        threads_by_worker = worker_threads(client)
        n_workers, threads = len(threads_by_worker), sum(threads_by_worker.values())
        where = "remote" if client.cluster is None else "local"

        def model(c: Any) -> Any:
            return ParallelBaggingClassifier(clone(base), n_estimators=cfg.members, client=c, random_state=cfg.seed)

        def fit_sequential() -> Any:
            with threadpool_limits(1):  # the one-CPU baseline: no hidden BLAS threads
                return model(None).fit(X, y, progress=_member_counter("sequential"))

        def fit_dask() -> Any:
            return model(client).fit(X, y, progress=_member_counter("plsim on Dask"))

        # joblib runs the very same fit (validation, seeds, members, assembly); only the
        # executor differs: a joblib.Parallel with the default process backend (loky).
        from joblib import Parallel

        def fit_joblib() -> Any:
            return model(Parallel(n_jobs=n_workers, return_as="generator")).fit(
                X, y, progress=_member_counter("joblib"))

        progress(f"warming up ({n_workers} {where} worker(s), {threads} thread(s); joblib loky n_jobs={n_workers})")
        small = min(cfg.samples, 200)
        ParallelBaggingClassifier(clone(base), n_estimators=2 * n_workers, client=client,
                                  random_state=cfg.seed).fit(X[:small], y[:small])
        if cfg.joblib:
            ParallelBaggingClassifier(clone(base), n_estimators=2 * n_workers, client=Parallel(n_jobs=n_workers),
                                      random_state=cfg.seed).fit(X[:small], y[:small])
        cal = calibrate(client, n_tasks=100, megabytes=4, repeats=2)

        runs: dict[str, list[float]] = {"sequential": [], "dask": [], "joblib": []}
        # Which of plsim ("a") and joblib ("b") ran first in each repeat. The warm-up above took the
        # first-call costs; a coin seeded with cfg.seed orders each pair, so whatever favours the
        # second run of a back-to-back pair (warm caches) falls on both alike (as time_paired does;
        # this loop keeps its own timing to interleave the sequential run and record the timeline).
        order_rng = np.random.default_rng(cfg.seed)
        first: list[str] = []
        seq_member_times: list = []  # per sequential run: the measured seconds of each member
        seq_model = dask_model = joblib_model = None
        timeline: list = []
        def timed_dask(record: bool) -> Any:
            if not record:
                t = time.perf_counter()
                fitted = fit_dask()
                runs["dask"].append(time.perf_counter() - t)
                return fitted
            with record_timeline(client) as stream:  # recording happens outside the timed span
                t = time.perf_counter()
                fitted = fit_dask()
                runs["dask"].append(time.perf_counter() - t)
            timeline.extend(stream)
            return fitted

        def timed_joblib() -> Any:
            t = time.perf_counter()
            fitted = fit_joblib()
            runs["joblib"].append(time.perf_counter() - t)
            return fitted

        for r in range(1, cfg.repeats + 1):
            t = time.perf_counter()
            seq_model = fit_sequential()
            runs["sequential"].append(time.perf_counter() - t)
            seq_member_times.append(np.asarray(seq_model.member_fit_times_, dtype=float))
            joblib_first = cfg.joblib and order_rng.random() < 0.5
            first.append("b" if joblib_first else "a")
            if joblib_first:
                joblib_model = timed_joblib()
            dask_model = timed_dask(record=r == cfg.repeats)  # the timeline of the last run is drawn
            if cfg.joblib and not joblib_first:
                joblib_model = timed_joblib()
            done = ", ".join(f"{k} {v[-1]:.2f} s" for k, v in runs.items() if v)
            progress(f"run {r}/{cfg.repeats}: {done}")

        seq = statistics.median(runs["sequential"])
        par = statistics.median(runs["dask"])
        # The cost model starts from the sequential run whose time is the median, so its T1 is that median.
        middle = sorted(range(cfg.repeats), key=lambda i: runs["sequential"][i])[(cfg.repeats - 1) // 2]
        member_times = seq_member_times[middle]
        seq_for_model = runs["sequential"][middle]
        result_bytes = statistics.mean(len(pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL))
                                       for m in seq_model.estimators_)
        cost = CostModel(
            task_seconds=float(member_times.mean()),
            n_tasks=cfg.members,
            serial=max(0.0, seq_for_model - float(member_times.sum())),
            overhead_per_task=cal.overhead_per_task,
            bytes_per_task=result_bytes,
            bytes_once=X.nbytes + y.nbytes,
            bandwidth=cal.bandwidth,
        )
        title = f"{cfg.members} x {cfg.estimator} bagging, {cfg.samples} x {cfg.features} samples"
        result = SpeedupResult(Timing(tuple(runs["sequential"])), {n_workers: Timing(tuple(runs["dask"]))},
                               model=cost, title=title, cpus=cluster_cpus(client))
        # Read the measurement against the CPUs before presenting it (one CPU, above the ideal, noisy...).
        reading = result.reading()

        seq_pred = seq_model.predict(X_test)
        par_pred = dask_model.predict(X_test)
        out: dict[str, Any] = {
            "case": "small_tasks" if cfg.small_tasks else "default",
            "estimator": cfg.estimator,
            "members": cfg.members,
            "samples": cfg.samples,
            "features": cfg.features,
            "test_samples": int(X_test.shape[0]),
            "repeats": cfg.repeats,
            "seed": cfg.seed,
            "workers": n_workers,
            "threads": threads,
            "cluster": where if cfg.address is None else cfg.address,
            "usable_cpus": plsim.detect_resources().cpus,
            "sequential_seconds": seq,
            "parallel_seconds": par,
            "sequential_runs_seconds": runs["sequential"],
            "parallel_runs_seconds": runs["dask"],
            "measured_speedup": seq / par,
            "measured_efficiency": seq / par / n_workers,
            "predicted_speedup": cost.speedup(n_workers),
            "predicted_parallel_seconds": cost.parallel_time(n_workers),
            "karp_flatt": karp_flatt(seq / par, n_workers) if n_workers > 1 else None,
            "member_seconds_mean": float(member_times.mean()),
            "member_seconds_median": float(np.median(member_times)),
            "overhead_per_task_seconds": cal.overhead_per_task,
            "bandwidth_bytes_per_second": cal.bandwidth,
            "data_bytes_scattered": int(X.nbytes + y.nbytes),
            "sequential_accuracy": float(np.mean(seq_pred == y_test)),
            "parallel_accuracy": float(np.mean(par_pred == y_test)),
            "identical_predictions": bool(np.array_equal(seq_pred, par_pred)),
            "parallel_member_workers": sorted(set(dask_model.member_workers_)),
            "explanation": result.explanation(),
            "cluster_cpus": reading.cpus,
            "caveats": reading.notes(skip=("slower",) if result.explanation() else ()),
            "joblib_backend": None,
            "joblib_seconds": None,
            "joblib_runs_seconds": [],
            "joblib_speedup": None,
            "joblib_efficiency": None,
            "joblib_accuracy": None,
            "joblib_identical_predictions": None,
            "speedup_vs_joblib": None,
            "joblib_paired_ratios": [],
            "joblib_comparison": None,
            "joblib_comparison_summary": None,
        }
        if cfg.joblib:
            from joblib.parallel import get_active_backend

            jl = statistics.median(runs["joblib"])
            joblib_pred = joblib_model.predict(X_test)
            out.update({
                "joblib_backend": type(get_active_backend()[0]).__name__.replace("Backend", "").lower(),
                "joblib_seconds": jl,
                "joblib_runs_seconds": runs["joblib"],
                "joblib_speedup": seq / jl,
                "joblib_efficiency": seq / jl / n_workers,
                "joblib_accuracy": float(np.mean(joblib_pred == y_test)),
                "joblib_identical_predictions": bool(np.array_equal(seq_pred, joblib_pred)),
                "speedup_vs_joblib": jl / par,
            })
            # Run i of plsim and of joblib were back to back, in a random order: compare them pair by pair.
            paired = compare_paired(runs["dask"], runs["joblib"], name_a="plsim", name_b="joblib", first=first,
                                    randomized=True)
            out.update({
                "joblib_paired_ratios": list(paired.ratios),
                "joblib_comparison": {"a_faster": "plsim_faster", "b_faster": "joblib_faster"}.get(
                    paired.verdict, paired.verdict),
                "joblib_comparison_summary": paired.summary(),
            })
        out["_result"] = result
        out["_timeline"] = timeline
        return out
    finally:
        if client is not already:  # leave a cluster the caller had running (and we reused) alone
            plsim.close_cluster()


def format_table(out: dict[str, Any]) -> str:
    """The human-readable table printed by ``plsim bench``."""
    p = out["workers"]
    head = (f"plsim bench: {out['members']} x {out['estimator']} (bagging) on {out['samples']} x {out['features']} "
            f"samples, {p} {out['cluster']} worker(s), median of {out['repeats']} run(s)")
    rows = [("", "time (s)", "speedup", "efficiency", "accuracy"),
            ("sequential (1 process, 1 thread)", f"{out['sequential_seconds']:.2f}", "1.00x", "100%",
             f"{out['sequential_accuracy']:.4f}"),
            (f"plsim on Dask ({p} worker{'s' if p != 1 else ''})", f"{out['parallel_seconds']:.2f}", f"{out['measured_speedup']:.2f}x",
             f"{out['measured_efficiency']:.0%}", f"{out['parallel_accuracy']:.4f}")]
    if out["joblib_seconds"] is not None:
        rows.append((f"joblib {out['joblib_backend']} (n_jobs={p})", f"{out['joblib_seconds']:.2f}",
                     f"{out['joblib_speedup']:.2f}x", f"{out['joblib_efficiency']:.0%}",
                     f"{out['joblib_accuracy']:.4f}"))
    rows.append((f"cost model ({p} worker{'s' if p != 1 else ''}, predicted)", f"{out['predicted_parallel_seconds']:.2f}",
                 f"{out['predicted_speedup']:.2f}x", f"{out['predicted_speedup'] / p:.0%}", "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [head, ""]
    for i, r in enumerate(rows):
        lines.append("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("All times and speedups are measured wall clock except the cost-model row (predicted from the "
                 f"measured {out['member_seconds_mean'] * 1e3:.0f} ms per member, "
                 f"{out['overhead_per_task_seconds'] * 1e3:.2f} ms overhead per task and "
                 f"{out['bandwidth_bytes_per_second'] / 1e6:.0f} MB/s).")
    if out["joblib_comparison_summary"] is not None:
        lines.append(f"On the same fit, {out['joblib_comparison_summary']}")
        if out["joblib_comparison"] == "too_few_pairs":
            lines.append(f"(plsim bench --repeats {DEFAULT_REPEATS} or more can tell the two apart.)")
    if (out["joblib_speedup"] is not None and out["joblib_speedup"] > out["measured_speedup"]
            and out["member_seconds_mean"] < 0.05):
        lines.append("joblib groups tiny tasks into batches by itself (batch_size='auto'), so it pays the per-task "
                     "overhead once per batch; plsim submits one Dask task per member.")
    same = "identical" if out["identical_predictions"] else "DIFFERENT"
    lines.append(f"Sequential and plsim ensembles: {same} predictions on {out['test_samples']} test samples.")
    if out["joblib_identical_predictions"] is not None:
        same = "identical" if out["joblib_identical_predictions"] else "DIFFERENT"
        lines.append(f"Sequential and joblib ensembles: {same} predictions.")
    if out["explanation"]:
        lines.append(out["explanation"])
    lines += [f"Note: {caveat}" for caveat in out["caveats"]]
    return "\n".join(lines)


def _figure(out: dict[str, Any]) -> Any:
    from matplotlib.figure import Figure

    from plsim.plots.speedup import plot_speedup, plot_timeline

    fig = Figure(figsize=(12, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.3])
    joblib = {out["workers"]: out["joblib_speedup"]} if out["joblib_speedup"] is not None else None
    plot_speedup(out["_result"], left, joblib_speedup=joblib)
    if out["_timeline"]:
        plot_timeline(out["_timeline"], right)
        right.set_title(f"Last parallel fit: {right.get_title()}")
    fig.suptitle(out["_result"].title)
    return fig


# The file --plot writes inside a folder it is given.
PLOT_NAME = "plsim-bench.png"

BENCH_EXIT_STATUS = """exit status:
  0    the benchmark ran; the table (or --json) is printed, and --plot written
  1    the benchmark ran and its results are printed, but the --plot file could not be written
  2    usage error: a bad option or value, an unreachable --address, or a --plot path that
       cannot be written or has an extension matplotlib cannot write (checked before the
       benchmark starts, so nothing is measured)
  130  interrupted (Ctrl-C)

There is no speedup target: a slow or "slower than sequential" measurement is a result, exit 0."""


def plot_formats() -> frozenset[str]:
    """File extensions ``--plot`` accepts: those matplotlib can write here (``png``, ``pdf``, ``svg``...)."""
    from matplotlib.figure import Figure

    return frozenset(Figure().canvas.get_supported_filetypes())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``plsim bench``."""
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes of the local cluster (default: the usable CPUs)")
    parser.add_argument("--members", type=int, default=None,
                        help=f"ensemble members (default {DEFAULT_MEMBERS}; {SMALL_MEMBERS} with --small-tasks)")
    parser.add_argument("--samples", type=int, default=None,
                        help=f"training rows (default {DEFAULT_SAMPLES}; {SMALL_SAMPLES} with --small-tasks)")
    parser.add_argument("--features", type=int, default=DEFAULT_FEATURES, help="columns (default %(default)s)")
    parser.add_argument("--estimator", choices=ESTIMATORS, default="decision_tree",
                        help="base estimator of every member (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                        help="timed runs of each kind; the median is reported, and plsim and joblib are compared "
                        f"pair by pair, in a random order ({DEFAULT_REPEATS} or more; default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random_state of the data and the ensemble")
    parser.add_argument("--address", default=None,
                        help="connect to this Dask scheduler (tcp://host:8786) instead of a local cluster")
    parser.add_argument("--small-tasks", action="store_true",
                        help=f"many tiny members ({SMALL_MEMBERS} of ~10 ms): where per-task overhead wins")
    parser.add_argument("--no-joblib", dest="joblib", action="store_false",
                        help="skip the joblib comparison")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    parser.add_argument("--plot", metavar="FILE.png", default=None,
                        help="write the speedup figure and task timeline to this file (its extension picks the "
                        f"format: .png, .pdf, .svg...), or into FOLDER/{PLOT_NAME} when given an existing folder; "
                        "checked before the benchmark starts")
    parser.epilog = BENCH_EXIT_STATUS
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """A validated :class:`BenchConfig` from parsed arguments (applies the --small-tasks defaults)."""
    members = args.members if args.members is not None else (SMALL_MEMBERS if args.small_tasks else DEFAULT_MEMBERS)
    samples = args.samples if args.samples is not None else (SMALL_SAMPLES if args.small_tasks else DEFAULT_SAMPLES)
    return BenchConfig(workers=args.workers, members=members, samples=samples, features=args.features,
                       estimator=args.estimator, repeats=args.repeats, address=args.address,
                       small_tasks=args.small_tasks, seed=args.seed, joblib=args.joblib)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``plsim bench``; returns the exit status (see ``BENCH_EXIT_STATUS``)."""
    from plsim.cli import check_output_file

    cfg = config_from_args(args)
    plot = None
    if args.plot is not None:  # before any work: a bad path must not cost a whole benchmark
        plot = check_output_file("--plot", args.plot, default_name=PLOT_NAME, formats=plot_formats(),
                                 format_owner="matplotlib")
    out = run_bench(cfg)
    public = {k: v for k, v in out.items() if not k.startswith("_")}
    if args.json:
        print(json.dumps(public, indent=2))
    else:
        print(format_table(out))
    if plot is not None:  # after the results are printed, so a late failure (disk full) loses no numbers
        sys.stdout.flush()
        _figure(out).savefig(plot, dpi=110)
        _say(f"wrote {plot}")
    return 0

"""The main job: sequential versus parallel ensemble training on this machine, measured.

:func:`run_bench` trains a bagged ensemble (default: 16 decision trees, each
about half a second here) three ways on the same generated data:

1. **sequential**: ``ParallelBaggingClassifier(executor=None)``, one member after
   the other in this process, limited to one thread (the one-CPU baseline);
2. **plsim on Dask**: the same estimator with ``executor=`` a cluster from
   :func:`plsim.start_cluster` (one thread per worker, data placed once per fit,
   with lineage: see :mod:`plsim.executor`);
3. **joblib**: the very same fit with ``executor=joblib.Parallel(n_jobs=workers)``:
   the same validation, seeds and members (so the same rows and columns), only
   the members run on joblib's default process backend (loky), not on Dask.

Each is warmed up first (worker imports, process pools), then timed end to end
``repeats`` times, interleaved so a busy machine hurts all three alike; the
median is reported. plsim and joblib run back to back in each repeat, which of
the two goes first drawn by a coin seeded with ``seed``, and are compared
pair by pair with a two-sided sign test (:func:`plsim.speedup.compare_paired`),
so a tie reads as a tie and neither profits from always running second. Beside
the measured speedup, :class:`BenchResult` holds the speedup the cost model of
:mod:`plsim.speedup` *predicts* from the measured member times and the cluster's
measured per-task overhead and bandwidth. ``small_tasks`` names the case where
members take ~10 ms and the overhead wins (:data:`SMALL_MEMBERS`, :data:`SMALL_SAMPLES`).

The ``plsim bench`` command (:mod:`plsim.cli.bench`) runs it and prints the
result as a table, as JSON (:meth:`BenchResult.as_dict`) and as a figure.
Taught in ``notebooks/01_speedup.ipynb``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from plsim.i18n import _

if TYPE_CHECKING:
    from plsim.speedup import SpeedupResult, TaskRecord

__all__ = ["BenchConfig", "BenchResult", "run_bench", "ESTIMATORS", "DEFAULT_MEMBERS", "DEFAULT_SAMPLES",
           "DEFAULT_FEATURES", "DEFAULT_REPEATS", "SMALL_MEMBERS", "SMALL_SAMPLES"]

# Defaults: 16 members of about 0.5 s each on this 2-CPU machine.
DEFAULT_MEMBERS = 16
DEFAULT_SAMPLES = 30_000
DEFAULT_FEATURES = 20
# The small-tasks case: many members of about 10 ms each, where per-task overhead wins.
SMALL_MEMBERS = 200
SMALL_SAMPLES = 1000
# Timed runs of each kind: 6 is the fewest pairs in which a two-sided sign test can call plsim or
# joblib faster (plsim.speedup.compare.MIN_PAIRS); with fewer the comparison reads "too few pairs".
DEFAULT_REPEATS = 6

ESTIMATORS = ("decision_tree", "extra_tree", "logistic_regression", "gaussian_nb", "ridge")


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


# Fields of BenchResult that hold objects rather than figures: kept out of as_dict() (and so of the JSON).
_OBJECTS = {"speedup": None, "timeline": ()}


@dataclass(frozen=True)
class BenchResult:
    """The figures of one benchmark run (``plsim bench --json`` prints :meth:`as_dict`).

    Times are measured wall-clock seconds (``*_seconds``; the ``*_runs_seconds`` lists
    hold every timed run, the scalars their median); ``predicted_*`` come from the cost
    model. ``joblib_*`` fields are ``None`` (lists empty) when joblib was not compared.
    ``speedup`` (a :class:`plsim.speedup.SpeedupResult` with the cost model) and
    ``timeline`` (the task records of the last parallel fit) are for plotting with
    :mod:`plsim.plots.speedup`; they are not in :meth:`as_dict`.
    """

    case: str
    estimator: str
    members: int
    samples: int
    features: int
    test_samples: int
    repeats: int
    seed: int
    workers: int
    threads: int
    cluster: str
    usable_cpus: int
    sequential_seconds: float
    parallel_seconds: float
    sequential_runs_seconds: list[float]
    parallel_runs_seconds: list[float]
    measured_speedup: float
    measured_efficiency: float
    predicted_speedup: float
    predicted_parallel_seconds: float
    karp_flatt: float | None
    member_seconds_mean: float
    member_seconds_median: float
    overhead_per_task_seconds: float
    bandwidth_bytes_per_second: float
    data_bytes_scattered: int
    sequential_accuracy: float
    parallel_accuracy: float
    identical_predictions: bool
    parallel_member_workers: list[str]
    explanation: str | None
    cluster_cpus: int | None
    caveats: list[str]
    joblib_backend: str | None = None
    joblib_seconds: float | None = None
    joblib_runs_seconds: list[float] = field(default_factory=list)
    joblib_speedup: float | None = None
    joblib_efficiency: float | None = None
    joblib_accuracy: float | None = None
    joblib_identical_predictions: bool | None = None
    speedup_vs_joblib: float | None = None
    joblib_paired_ratios: list[float] = field(default_factory=list)
    joblib_comparison: str | None = None
    joblib_comparison_summary: str | None = None
    speedup: SpeedupResult | None = field(default=None, repr=False, compare=False)
    timeline: tuple[TaskRecord, ...] = field(default=(), repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict (every field but ``speedup`` and ``timeline``)."""
        out = asdict(replace(self, **_OBJECTS))
        for name in _OBJECTS:
            del out[name]
        return out


def _data(cfg: BenchConfig) -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import make_classification

    n_test = max(200, cfg.samples // 4)
    informative = max(2, cfg.features // 2)
    X, y = make_classification(n_samples=cfg.samples + n_test, n_features=cfg.features,
                               n_informative=informative, n_redundant=min(cfg.features - informative, 2),
                               random_state=cfg.seed)
    return X[: cfg.samples], y[: cfg.samples], X[cfg.samples:], y[cfg.samples:]


def run_bench(cfg: BenchConfig, *, callback: Callable[[Any], Any] | None = None) -> BenchResult:
    """Run the benchmark described by ``cfg`` on a real cluster and return its figures.

    Starts a cluster with :func:`plsim.start_cluster` (or connects to ``cfg.address``)
    and closes it before returning; a cluster the caller already had running is reused
    and left running.

    Parameters
    ----------
    cfg : BenchConfig
        What to measure.
    callback : callable, optional
        A :mod:`plsim.progress` callback. It gets a ``Progress(done, cfg.repeats,
        "run", message=...)`` at each stage (``message`` one line of text:
        ``"run 2/6: sequential 1.02 s, ..."``; ``done=0`` before the first run)
        and a ``Progress(done, members, "member", record=TaskResult,
        message="plsim on Dask: 3/16 members")`` as each member of a timed fit
        finishes. A benchmark cut short measures nothing, so it always runs to
        the end: the callback's return value is ignored.

    Returns
    -------
    BenchResult
        Measured times and speedups, the cost model's prediction, accuracies and whether
        every way of training gave the same ensemble.

    Taught in ``notebooks/01_speedup.ipynb``.
    """
    if not isinstance(cfg, BenchConfig):
        raise TypeError(f"cfg must be a BenchConfig, got {type(cfg).__name__}")
    import numpy as np
    from sklearn.base import clone
    from threadpoolctl import threadpool_limits

    import plsim
    from plsim.ensembles import ParallelBaggingClassifier
    from plsim._random import task_rng
    from plsim.comm.sizes import shipped_nbytes
    from plsim.speedup import (CostModel, SpeedupResult, Timing, calibrate, compare_paired, karp_flatt,
                               record_timeline)

    from plsim.progress import Progress, check_callback

    check_callback(callback)
    runs_done = 0

    def say(text: str) -> None:
        if callback is not None:
            callback(Progress(runs_done, cfg.repeats, "run", message=text))

    def counter(label: str) -> Callable[[Any], None] | None:
        if callback is None:
            return None

        def member(event: Any) -> None:  # never asks the fit to stop (see above)
            callback(Progress(event.done, event.total, "member", record=event.record,
                              message=_("{label}: {done}/{total} members").format(
                                  label=label, done=event.done, total=event.total)))

        return member

    X, y, X_test, y_test = _data(cfg)
    base = _make_estimator(cfg.estimator)
    say(f"{cfg.members} x {cfg.estimator} on {X.shape[0]} x {X.shape[1]} samples; starting the cluster")
    already = plsim.current_client()
    client = plsim.start_cluster(n_workers=cfg.workers, address=cfg.address, quiet=True)
    try:
        from plsim.cluster import is_local_cluster
        from plsim.executor import resolve_executor

        ex = resolve_executor(client)
        threads_by_worker = ex.threads()
        n_workers, threads = len(threads_by_worker), sum(threads_by_worker.values())
        where = "local" if is_local_cluster(client) else "remote"

        def model(c: Any) -> Any:
            return ParallelBaggingClassifier(clone(base), n_estimators=cfg.members, executor=c,
                                             random_state=cfg.seed)

        def fit_sequential() -> Any:
            with threadpool_limits(1):  # the one-CPU baseline: no hidden BLAS threads
                return model(None).fit(X, y, callback=counter("sequential"))

        def fit_dask() -> Any:
            return model(client).fit(X, y, callback=counter("plsim on Dask"))

        # joblib runs the very same fit (validation, seeds, members, assembly); only the
        # executor differs: a joblib.Parallel with the default process backend (loky).
        from joblib import Parallel

        def fit_joblib() -> Any:
            return model(Parallel(n_jobs=n_workers, return_as="generator")).fit(X, y, callback=counter("joblib"))

        say(f"warming up ({n_workers} {where} worker(s), {threads} thread(s); joblib loky n_jobs={n_workers})")
        small = min(cfg.samples, 200)
        ParallelBaggingClassifier(clone(base), n_estimators=2 * n_workers, executor=client,
                                  random_state=cfg.seed).fit(X[:small], y[:small])
        if cfg.joblib:
            ParallelBaggingClassifier(clone(base), n_estimators=2 * n_workers,
                                      executor=Parallel(n_jobs=n_workers),
                                      random_state=cfg.seed).fit(X[:small], y[:small])
        cal = calibrate(executor=client, n_tasks=100, megabytes=4, repeats=2)

        runs: dict[str, list[float]] = {"sequential": [], "dask": [], "joblib": []}
        # Which of plsim ("a") and joblib ("b") ran first in each repeat. The warm-up above took the
        # first-call costs; a coin seeded with cfg.seed orders each pair, so whatever favours the
        # second run of a back-to-back pair (warm caches) falls on both alike (as time_paired does;
        # this loop keeps its own timing to interleave the sequential run and record the timeline).
        order_rng = task_rng(cfg.seed, "order")
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
            with record_timeline(executor=client) as stream:  # recording happens outside the timed span
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
            runs_done = r
            done = ", ".join(f"{k} {v[-1]:.2f} s" for k, v in runs.items() if v)
            say(f"run {r}/{cfg.repeats}: {done}")

        seq = statistics.median(runs["sequential"])
        par = statistics.median(runs["dask"])
        # The cost model starts from the sequential run whose time is the median, so its T1 is that median.
        middle = sorted(range(cfg.repeats), key=lambda i: runs["sequential"][i])[(cfg.repeats - 1) // 2]
        member_times = seq_member_times[middle]
        seq_for_model = runs["sequential"][middle]
        result_bytes = statistics.mean(shipped_nbytes(m) for m in seq_model.estimators_)
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
                               model=cost, title=title, cpus=ex.cpus)
        # Read the measurement against the CPUs before presenting it (one CPU, above the ideal, noisy...).
        reading = result.reading()

        seq_pred = seq_model.predict(X_test)
        par_pred = dask_model.predict(X_test)
        figures: dict[str, Any] = {
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
        }
        if cfg.joblib:
            from joblib.parallel import get_active_backend

            jl = statistics.median(runs["joblib"])
            joblib_pred = joblib_model.predict(X_test)
            # Run i of plsim and of joblib were back to back, in a random order: compare them pair by pair.
            paired = compare_paired(runs["dask"], runs["joblib"], name_a="plsim", name_b="joblib", first=first,
                                    randomized=True)
            figures.update({
                "joblib_backend": type(get_active_backend()[0]).__name__.replace("Backend", "").lower(),
                "joblib_seconds": jl,
                "joblib_runs_seconds": runs["joblib"],
                "joblib_speedup": seq / jl,
                "joblib_efficiency": seq / jl / n_workers,
                "joblib_accuracy": float(np.mean(joblib_pred == y_test)),
                "joblib_identical_predictions": bool(np.array_equal(seq_pred, joblib_pred)),
                "speedup_vs_joblib": jl / par,
                "joblib_paired_ratios": list(paired.ratios),
                "joblib_comparison": {"a_faster": "plsim_faster", "b_faster": "joblib_faster"}.get(
                    paired.verdict, paired.verdict),
                "joblib_comparison_summary": paired.summary(),
            })
        return BenchResult(**figures, speedup=result, timeline=tuple(timeline))
    finally:
        if client is not already:  # leave a cluster the caller had running (and we reused) alone
            plsim.close_cluster()

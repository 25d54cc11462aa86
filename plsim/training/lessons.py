"""The figures notebook 04 quotes, computed once at its own sizes: one source for the notebook and the course.

``notebooks/04_distributed_training.ipynb`` calls :func:`small_step`, :func:`size_speedup`
and :func:`staleness_race` with :func:`plsim.training.demo.demo_settings`, and
``benchmarks/course_figures.py`` calls :func:`course_figures`, which runs the very same
functions at the very same settings, so the two always quote the same kind of number:

* **a data-parallel speedup and its limit** (measured): one synchronous step of the
  notebook's small MLP loses to the same step in one process (the fixed cost of a
  step dwarfs its compute); growing the model makes the step pay, towards the number
  of replicas, and an alpha-beta model of the step predicts where the two cross
  (:func:`plsim.training.scaling.measure_size_speedup`);
* **staleness that costs, and a bound that bounds** (simulated, deterministic): a
  parameter server whose straggler holds digits no fast worker has. Asynchronous
  SGD applies the straggler's gradients rarely and late, so it needs more updates to
  reach the loss target than lock-step (synchronous) SGD, yet still reaches it in
  less simulated time; SSP's clock gap stays within its bound.

Taught in ``notebooks/04_distributed_training.ipynb``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from plsim.training._common import TrainingHistory
from plsim.training.demo import TrainingDemo, demo_settings
from plsim.training.scaling import SizeSpeedup

__all__ = ["small_step", "step_seconds", "step_speedup", "size_data", "size_speedup", "StalenessRace", "staleness_race",
           "course_figures"]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from plsim.data import load_dataset

    ds = load_dataset("digits")
    return ds.X_train, ds.y_train


# -- 1. one step of the notebook's small model ----------------------------------------------------
def small_step(executor: Any, cfg: TrainingDemo | None = None) -> tuple[TrainingHistory, TrainingHistory]:
    """Section 1 of the notebook: ``(sync_sgd on the cluster, large_batch_sgd here)`` on the digits, same steps.

    Both use ``cfg.replicas`` replicas' shards and batches, the MLP ``cfg.hidden`` and
    ``cfg.batch_size``. The one-process run has one BLAS thread, as each local Dask worker.
    """
    from threadpoolctl import threadpool_limits

    from plsim.models import MLP
    from plsim.training.sync import large_batch_sgd, sync_sgd

    cfg = cfg or demo_settings()
    X, y = _digits()
    model = MLP(X.shape[1], hidden=cfg.hidden, n_classes=10, l2=1e-4)
    kwargs = dict(n_workers=cfg.replicas, lr=cfg.lr, n_steps=cfg.sync_steps, batch_size=cfg.batch_size,
                  random_state=cfg.random_state)  # one seed: the same shards and batches in both runs
    dp = sync_sgd(model, X, y, executor=executor, **kwargs)
    with threadpool_limits(1):
        ref = large_batch_sgd(model, X, y, **kwargs)
    return dp, ref


def step_seconds(hist: TrainingHistory) -> float:
    """The typical (median) wall-clock seconds between recorded steps of a run (measured)."""
    t = np.asarray(hist.time, dtype=np.float64)
    return float(np.median(np.diff(t))) if len(t) > 1 else float(t[-1])


def step_speedup(sync: TrainingHistory, single: TrainingHistory) -> float:
    """Measured speedup of one synchronous data-parallel step over one single-process large-batch step."""
    return step_seconds(single) / step_seconds(sync)


# -- 2. the speedup against model size ------------------------------------------------------------
def size_data(cfg: TrainingDemo | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The training rows of the size sweep: the benchmark's generated problem (``cfg.bench_samples`` rows of
    ``cfg.bench_features`` features, 10 classes), as ``benchmarks/bench_training.py`` builds it."""
    from plsim.data import load_dataset

    cfg = cfg or demo_settings()
    ds = load_dataset("classification", n_samples=cfg.bench_samples + cfg.bench_samples // 3,
                      n_features=cfg.bench_features, n_classes=10, test_size=0.25)
    return ds.X_train, ds.y_train


def size_speedup(executor: Any, cfg: TrainingDemo | None = None) -> SizeSpeedup:
    """One full-batch step (an epoch of :func:`size_data`) of each MLP in ``cfg.dp_hidden``, in one process and
    on ``cfg.replicas`` replicas on the cluster (measured), with the alpha-beta prediction."""
    from plsim.training.scaling import measure_size_speedup

    cfg = cfg or demo_settings()
    X, y = size_data(cfg)
    return measure_size_speedup(executor, X, y, cfg.dp_hidden, replicas=cfg.replicas, n_steps=cfg.dp_steps,
                                batch_size=None)


# -- 3. staleness on the virtual clock ------------------------------------------------------------
@dataclass(frozen=True)
class StalenessRace:
    """Lock-step, SSP and asynchronous parameter servers on the same non-IID shards (simulated clock).

    ``runs`` maps each method (``"ssp(s=0)"`` is lock-step, i.e. synchronous SGD;
    ``"ssp(s=B)"``; ``"async"``) to its history; ``iid`` holds lock-step and async on
    random (IID) shards, the control: there the straggler's stale gradients cost nothing.
    """

    runs: dict[str, TrainingHistory]
    iid: dict[str, TrainingHistory]
    target: float
    labels: tuple[tuple[int, ...], ...]
    speeds: tuple[float, ...]

    @property
    def sync(self) -> TrainingHistory:
        return self.runs["ssp(s=0)"]

    @property
    def asynchronous(self) -> TrainingHistory:
        return self.runs["async"]

    @property
    def ssp(self) -> TrainingHistory:
        """The bounded run with the largest bound above 0."""
        bounded = [h for h in self.runs.values() if h.info["staleness_bound"]]
        return max(bounded, key=lambda h: h.info["staleness_bound"])

    def updates(self, h: TrainingHistory) -> int | None:
        """Updates (applied gradients) until the loss first reached the target; None if never."""
        return h.steps_to_loss(self.target)

    def seconds(self, h: TrainingHistory) -> float | None:
        """Simulated seconds until the loss first reached the target; None if never."""
        return h.time_to_loss(self.target)

    def ratio(self, a: TrainingHistory, b: TrainingHistory, what: str = "updates") -> float | None:
        """``a``'s updates (or simulated seconds) to the target over ``b``'s; a run that never got there counts
        its whole length plus one, so the ratio is a lower bound (see :meth:`reached`)."""
        get = self.updates if what == "updates" else self.seconds
        last = {"updates": lambda h: h.steps[-1] + 1, "seconds": lambda h: h.time[-1] * (1 + 1e-9)}[what]
        va, vb = get(a), get(b)
        va = last(a) if va is None else va
        vb = last(b) if vb is None else vb
        return float(va) / float(vb) if vb else None

    def reached(self, h: TrainingHistory) -> bool:
        return self.updates(h) is not None

    @property
    def straggler(self) -> int:
        return int(np.argmin(self.speeds))

    @property
    def straggler_only_labels(self) -> tuple[int, ...]:
        """Digits only the straggler holds."""
        others = set().union(*(set(lab) for i, lab in enumerate(self.labels) if i != self.straggler))
        return tuple(sorted(set(self.labels[self.straggler]) - others))


def staleness_race(cfg: TrainingDemo | None = None) -> StalenessRace:
    """The parameter-server demo of the notebook: ``cfg.staleness_bounds`` on non-IID shards, a straggler.

    ``cfg.async_workers`` workers with speeds ``cfg.worker_speeds`` each hold
    ``cfg.async_labels`` label-sorted pieces of the digits (:func:`plsim.data.partition_shards`,
    seed 0), the straggler among them; every run applies ``cfg.async_updates`` gradients of
    ``cfg.async_batch`` rows at ``cfg.async_lr`` on the virtual clock, so the result is the same
    on any machine. Also lock-step and async on IID shards, the control.
    """
    from plsim.data import partition_shards
    from plsim.models import SoftmaxRegression
    from plsim.training.async_ps import async_sgd_simulated

    cfg = cfg or demo_settings()
    X, y = _digits()
    model = SoftmaxRegression(X.shape[1], 10)
    parts = partition_shards(y, cfg.async_workers, cfg.async_labels, random_state=0)
    kwargs = dict(worker_speeds=cfg.worker_speeds, lr=cfg.async_lr, n_updates=cfg.async_updates,
                  batch_size=cfg.async_batch, random_state=cfg.random_state)
    runs = {}
    for bound in cfg.staleness_bounds:
        h = async_sgd_simulated(model, X, y, shards=parts, staleness_bound=bound, **kwargs)
        runs[h.method] = h
    iid = {}
    for bound in (0, None):
        h = async_sgd_simulated(model, X, y, n_workers=cfg.async_workers, staleness_bound=bound, **kwargs)
        iid[h.method] = h
    if "ssp(s=0)" not in runs or "async" not in runs:
        raise ValueError(f"cfg.staleness_bounds={cfg.staleness_bounds!r} must include 0 (lock-step) and None (async)")
    return StalenessRace(runs=runs, iid=iid, target=cfg.async_target,
                         labels=tuple(tuple(int(v) for v in np.unique(y[p])) for p in parts),
                         speeds=tuple(float(s) for s in cfg.worker_speeds))


# -- every figure at once ------------------------------------------------------------------------
def course_figures(executor: Any = None, *, small: bool | None = None) -> dict[str, Any]:
    """Every figure notebook 04 quotes, from the same calls at the same :func:`demo_settings` (one flat dict).

    Parameters
    ----------
    executor : dask.distributed.Client, plsim.executor.Executor or None
        Where the data-parallel steps run (the staleness race runs on the virtual clock).
        ``None``: the current cluster (``plsim.current_client()``), else sequentially.
    small : bool, optional
        The small sizes (``PLSIM_SMALL``); default: :func:`plsim.config.small_mode`.

    Returns
    -------
    dict
        ``data_parallel_speedup_2w`` (measured at the largest model; ``cpus`` and
        ``workers`` say what it ran on, ``data_parallel_kind`` whether replicas took turns),
        ``data_parallel_predicted_2w`` (alpha-beta model, replicas in parallel),
        ``data_parallel_small_speedup_2w`` (measured, the notebook's small model),
        the sizes, the model's ``alpha``/``beta`` and crossover; ``async_updates_over_sync``,
        ``async_time_over_sync``, ``ssp_max_staleness`` (clock gap, the unit of the bound),
        ``ssp_bound`` and context (simulated, deterministic).
    """
    import plsim
    from plsim.executor import resolve_executor

    cfg = demo_settings(small)
    if executor is None:
        executor = plsim.current_client()
    ex = resolve_executor(executor)
    workers, cpus = len(ex.threads()), ex.cpus
    t0 = time.perf_counter()
    dp, ref = small_step(ex, cfg)
    sweep = size_speedup(ex, cfg)
    t_dp = time.perf_counter() - t0
    race = staleness_race(cfg)
    big = sweep.params[-1]
    crossover = sweep.crossover_params()
    ssp = race.ssp
    return {
        "data_parallel_speedup_2w": round(sweep.speedup[-1], 3),
        "data_parallel_predicted_2w": round(sweep.predicted_speedup(big, one_process_s=sweep.one_process_s[-1]), 3),
        "data_parallel_small_speedup_2w": round(step_speedup(dp, ref), 5),
        "data_parallel_kind": sweep.kind_en,
        "data_parallel_params": list(sweep.params),
        "data_parallel_speedups": [round(s, 3) for s in sweep.speedup],
        "data_parallel_predicted_speedups": [round(sweep.predicted_speedup(n, one_process_s=t), 3)
                                             for n, t in zip(sweep.params, sweep.one_process_s)],
        "data_parallel_one_process_s": [round(t, 5) for t in sweep.one_process_s],
        "data_parallel_step_s": [round(t, 5) for t in sweep.data_parallel_s],
        "data_parallel_alpha_s": sweep.link.alpha,
        "data_parallel_beta_s_per_byte": sweep.link.beta,
        "data_parallel_crossover_params": None if crossover is None else round(crossover),
        "data_parallel_replicas": sweep.replicas,
        "data_parallel_seconds": round(t_dp, 1),
        "cpus": cpus,
        "workers": workers,
        "async_updates_over_sync": round(race.ratio(race.asynchronous, race.sync), 3),
        "async_time_over_sync": round(race.ratio(race.asynchronous, race.sync, "seconds"), 3),
        "async_reached_target": race.reached(race.asynchronous),
        "sync_updates_to_target": race.updates(race.sync),
        "async_updates_to_target": race.updates(race.asynchronous),
        "ssp_max_staleness": int(max(ssp.clock_gap)),
        "ssp_bound": int(ssp.info["staleness_bound"]),
        "ssp_max_staleness_updates": int(max(ssp.staleness)),
        "async_max_clock_gap": int(max(race.asynchronous.clock_gap)),
        "async_max_staleness_updates": int(max(race.asynchronous.staleness)),
        "iid_async_updates_over_sync": round(race.ratio(race.iid["async"], race.iid["ssp(s=0)"]), 3),
        "staleness_target_loss": race.target,
        "staleness_kind": "simulated",
    }

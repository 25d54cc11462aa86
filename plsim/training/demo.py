"""Demo sizes and hyperparameters of ``notebooks/04_distributed_training.ipynb`` and
``notebooks/05_collectives_compression_pipelines.ipynb`` in one place.

``PLSIM_SMALL=1`` (see :func:`plsim.config.small_mode`) shrinks them for CI and Binder.
"""

from __future__ import annotations

from dataclasses import dataclass

from plsim.config import small_mode

__all__ = ["TrainingDemo", "demo_settings"]


@dataclass(frozen=True)
class TrainingDemo:
    """Every size the distributed-training notebook, widgets and benchmark use."""

    # Data-parallel replicas in the demos. Fixed, not the cluster's size, so that every
    # equivalence (sync = large batch) and every byte count holds on one CPU too: on a
    # 1-worker cluster the replicas take turns on that worker.
    replicas: int = 2
    # the root of every demo run's seed tree: the runs themselves default to random_state=None
    random_state: int = 0
    # synchronous data parallelism on digits
    hidden: tuple[int, ...] = (32,)
    lr: float = 0.2
    sync_steps: int = 40
    batch_size: int = 128
    # when data parallelism pays (plsim.training.scaling.measure_size_speedup): one full-batch step (an
    # epoch) over the benchmark's generated data (bench_samples x bench_features below) of MLPs of growing
    # size, from one whose step is mostly the fixed cost (the alpha of the prediction) to the benchmark's
    # model, whose compute dwarfs it. Many rows per step: more compute for the same gradient bytes.
    dp_hidden: tuple[tuple[int, ...], ...] = ((16,), (64,), (256,), (256, 256), (512, 512), (1024, 1024))
    dp_steps: int = 2              # timed steps per size and side (more for the cheap sizes)
    # parameter server (simulated clock): a straggler 10x slower than the others holds digits no fast
    # worker has (label-sorted shards), so asynchronous SGD, which applies its gradients rarely and
    # late, needs more updates to reach the target than lock-step SGD; on IID shards it would not.
    async_workers: int = 4
    worker_speeds: tuple[float, ...] = (1.0, 1.0, 1.0, 0.1)
    async_labels: int = 2          # label-sorted pieces per worker (plsim.data.partition_shards, seed 0)
    async_lr: float = 0.1
    async_updates: int = 200
    async_batch: int = 32
    async_target: float = 0.4      # training-loss target: updates and simulated time to reach it
    staleness_bounds: tuple[int | None, ...] = (0, 3, None)
    # local SGD: more replicas than the other demos, each holding few labels (non-IID), so
    # that the averaging period H visibly trades bytes for convergence. (On IID shards of
    # digits every H ends at about the same loss: nothing to see.) Replicas beyond the
    # cluster's workers take turns; the results are the same on any cluster.
    local_replicas: int = 8
    local_labels: int = 2          # label-sorted shards per replica (plsim.data.partition_shards)
    local_H: tuple[int, ...] = (1, 4, 16, 64)
    local_steps: int = 64          # local steps of every run (a multiple of every H)
    local_lr: float = 0.3
    local_batch: int = 32
    local_target: float = 0.45     # loss target: steps, bytes and simulated time to reach it
    local_link: str = "home"       # plsim.comm.LINK_PRESETS entry of the plotted simulated clock
    # compression
    topk_ratios: tuple[float, ...] = (1.0, 0.1, 0.01)
    # alpha-beta fit (05, section 1): point-to-point messages and collectives between the workers, timed at
    # sizes over four orders of magnitude; the model is fitted on most and predicts the held-out rest
    exchange_algorithms: tuple[str, ...] = ("send", "ring")
    exchange_sizes: tuple[float, ...] = (1e3, 2.5e3, 6e3, 1.6e4, 4e4, 1e5, 2.5e5, 6e5, 1.6e6, 4e6, 1e7)
    exchange_heldout: int = 3      # interior sizes kept out of the fit (plsim.comm.split_heldout)
    exchange_repeats: int = 3      # timed chains per size (median)
    exchange_chain: int = 3        # exchanges back to back per timed chain
    # pipeline (05, section 3): two stages of equal work whose tasks take tens of milliseconds per
    # micro-batch, so that Dask's few milliseconds per task are small next to them. Six weight matrices,
    # three per stage (64xH + 2 HxH, and 2 HxH + Hx10): with (1536,) * 3 each stage's tasks were shorter
    # and Dask's ~12 ms hop between stages pushed the measured m=4 bubble to 0.28-0.31 against 0.20
    # (quiet 2-CPU machine); with five hidden layers it measured 0.24-0.28.
    pipeline_hidden: tuple[int, ...] = (1536, 1536, 1536, 1536, 1536)
    pipeline_stages: int = 2
    pipeline_micro: tuple[int, ...] = (1, 4)
    pipeline_batch: int = 1024     # rows of the batch cut into micro-batches
    pipeline_repeats: int = 3      # timed passes per micro-batch count (median bubble)
    # strong versus weak scaling (05, section 4)
    scaling_hidden: tuple[int, ...] = (256, 256)
    scaling_repeats: int = 3       # best of, per point
    # scaling / benchmark (a compute-heavy wide MLP on generated data)
    bench_samples: int = 8192
    bench_features: int = 256
    bench_hidden: tuple[int, ...] = (1024, 1024)
    bench_steps: int = 4
    predicted_workers: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def demo_settings(small: bool | None = None) -> TrainingDemo:
    """The demo sizes; the small variant when ``small`` (default: :func:`plsim.config.small_mode`)."""
    if small is None:
        small = small_mode()
    if not small:
        return TrainingDemo()
    return TrainingDemo(sync_steps=20, local_replicas=4, dp_hidden=TrainingDemo.dp_hidden[:-1],
                              exchange_sizes=(1e3, 2.5e3, 6e3, 1.6e4, 4e4, 1e5, 2.5e5, 6e5, 1.6e6, 4e6),
                              exchange_heldout=2, pipeline_repeats=1, scaling_repeats=2,
                              # one CPU cannot measure a bubble (05 shows the simulated one): a lighter
                              # pipeline keeps 05's peak under the Binder profile near 1 GiB, not 1.35
                              pipeline_hidden=(1536, 1536, 1536),
                              bench_samples=2048, bench_hidden=(512, 512), bench_steps=2)

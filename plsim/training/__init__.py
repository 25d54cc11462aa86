"""Distributed training on a real Dask cluster: data parallelism, parameter servers, local SGD, pipelines.

* :mod:`plsim.training.sync` -- synchronous data-parallel SGD (== large-batch SGD);
* :mod:`plsim.training.async_ps` -- asynchronous / stale-synchronous parameter server;
* :mod:`plsim.training.local_sgd` -- ``H`` local steps between averages;
* :mod:`plsim.training.pipeline` -- layers split into stages on different workers, GPipe micro-batches;
* :mod:`plsim.training.scaling` -- strong versus weak scaling, measured and predicted;
* :mod:`plsim.training.demo` -- the demo sizes of notebook 04 (small mode aware).

Communication (bytes, cost models, all-reduce, compression) lives in :mod:`plsim.comm`;
Amdahl's and Gustafson's laws in :mod:`plsim.speedup` (``plsim.speedup.amdahl_speedup``).
Taught in ``notebooks/04_distributed_training.ipynb`` and
``notebooks/05_collectives_compression_pipelines.ipynb``.
"""

from __future__ import annotations

from plsim._lazy import lazy_exports

_LAZY = {
    "TrainingHistory": "plsim.training._common",
    "sync_sgd": "plsim.training.sync",
    "large_batch_sgd": "plsim.training.sync",
    "async_sgd": "plsim.training.async_ps",
    "async_sgd_simulated": "plsim.training.async_ps",
    "local_sgd": "plsim.training.local_sgd",
    "split_stages": "plsim.training.pipeline",
    "gpipe_schedule": "plsim.training.pipeline",
    "bubble_fraction": "plsim.training.pipeline",
    "pipeline_gradient": "plsim.training.pipeline",
    "predict_scaling": "plsim.training.scaling",
    "measure_scaling": "plsim.training.scaling",
    "TrainingDemo": "plsim.training.demo",
    "demo_settings": "plsim.training.demo",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

# The function local_sgd shares its name with its module: once anything imports the
# module plsim.training.local_sgd, the package attribute would be that module and
# ``plsim.training.local_sgd(...)`` would fail with "'module' object is not callable".
# Binding the function here (after the import system set the module) keeps it the function.
from plsim.training.local_sgd import local_sgd  # noqa: E402

"""Communication in distributed training: bytes moved, cost models, collectives, compression, measurement.

One module per concept; every public name is also importable from ``plsim.comm``:

* :mod:`plsim.comm.sizes` -- :func:`payload_nbytes` counts the bytes of a real payload
  (arrays, numpy scalars, compressed gradients, containers of them): what the training
  loops and the federated ledger report as "bytes moved".
* :mod:`plsim.comm.cost_models` -- :class:`LinkModel`, :func:`comm_time`, :func:`comm_bytes`,
  :func:`cost_table`: the alpha-beta cost of one exchange for a (sharded) parameter server,
  naive, tree and ring all-reduce (closed forms; *predicted*); :data:`LINK_PRESETS` names
  links "at scale".
* :mod:`plsim.comm.collectives` -- :func:`ring_allreduce` over the workers' REAL arrays on
  the Dask cluster (chunks travel between worker processes); :func:`ring_allreduce_local`
  is the same schedule in one process.
* :mod:`plsim.comm.compression` -- :func:`topk_compress` (+ :class:`ErrorFeedback`) and
  :func:`quantize_8bit`; their payloads know their own byte size.
* :mod:`plsim.comm.measure` -- :func:`measure_exchange` times real exchanges on the cluster
  (*measured*), :func:`fit_alpha_beta` fits a :class:`LinkModel` for "this machine" and
  :func:`fit_with_heldout` checks it on sizes it was not fitted on.

Taught in ``notebooks/05_collectives_compression_pipelines.ipynb``.
"""

from __future__ import annotations

from plsim.comm.collectives import RingResult, ring_allreduce, ring_allreduce_local
from plsim.comm.compression import (
    ErrorFeedback,
    QuantizedPayload,
    SparsePayload,
    decompress,
    make_compressor,
    quantize_8bit,
    topk_compress,
)
from plsim.comm.cost_models import ALGORITHMS, LINK_PRESETS, LinkModel, comm_bytes, comm_time, cost_table, link_preset
from plsim.comm.measure import (
    AlphaBetaFit,
    ExchangeTimes,
    exchange_coefficients,
    fit_alpha_beta,
    fit_with_heldout,
    measure_exchange,
    predict_exchange,
    split_heldout,
)
from plsim.comm.sizes import payload_nbytes

__all__ = [
    "ALGORITHMS",
    "LINK_PRESETS",
    "LinkModel",
    "link_preset",
    "comm_time",
    "comm_bytes",
    "cost_table",
    "payload_nbytes",
    "ring_allreduce",
    "ring_allreduce_local",
    "RingResult",
    "SparsePayload",
    "QuantizedPayload",
    "topk_compress",
    "quantize_8bit",
    "decompress",
    "ErrorFeedback",
    "make_compressor",
    "ExchangeTimes",
    "measure_exchange",
    "fit_alpha_beta",
    "exchange_coefficients",
    "AlphaBetaFit",
    "fit_with_heldout",
    "split_heldout",
    "predict_exchange",
]

"""Bytes of real payloads: what the training loops and the federated ledger report as "bytes moved".

One function, :func:`payload_nbytes`, used by :mod:`plsim.training` and by
:class:`plsim.federated.ledger.CommunicationLedger` alike.

Taught in ``notebooks/03_federated_learning.ipynb`` and
``notebooks/05_collectives_compression_pipelines.ipynb``.
"""

from __future__ import annotations

import numbers
import pickle
from typing import Any

import numpy as np

from plsim.comm.compression import QuantizedPayload, SparsePayload

__all__ = ["payload_nbytes", "shipped_nbytes", "PYTHON_NUMBER_NBYTES"]

#: Bytes a Python ``bool``, ``int`` or ``float`` takes on the wire: one 64-bit value
#: (``complex``: two). numpy scalars report their own size instead (``np.float32(1)``: 4).
PYTHON_NUMBER_NBYTES = 8


def payload_nbytes(obj: Any) -> int:
    """Bytes a payload occupies on the wire, counted from the payload itself.

    * numpy arrays and numpy scalars: their ``nbytes`` (``np.float32(1)`` is 4 bytes,
      ``np.zeros(10)`` 80);
    * :class:`~plsim.comm.SparsePayload` and :class:`~plsim.comm.QuantizedPayload`: their
      ``nbytes`` (indices, values or codes, and the few numbers that decode them);
    * Python ``bool``, ``int``, ``float`` (and other real numbers): 8 bytes; ``complex``: 16;
    * ``bytes``, ``bytearray``, ``memoryview``: their length in bytes;
    * ``None``: 0; tuples and lists: the sum of their items; dicts: the sum of their values.

    Parameters
    ----------
    obj : object
        The message, possibly nested.

    Returns
    -------
    int
        Bytes of the payload's data (not of Python's object headers or pickle framing).

    Raises
    ------
    TypeError
        For anything else (a string, an arbitrary object): send arrays or numbers.

    Taught in ``notebooks/03_federated_learning.ipynb`` (section "Communication").
    """
    if obj is None:
        return 0
    if isinstance(obj, (np.ndarray, np.generic)):
        return int(obj.nbytes)
    if isinstance(obj, (SparsePayload, QuantizedPayload)):
        return obj.nbytes
    if isinstance(obj, numbers.Number):
        return PYTHON_NUMBER_NBYTES * (1 if isinstance(obj, numbers.Real) else 2)
    if isinstance(obj, (bytes, bytearray)):
        return len(obj)
    if isinstance(obj, memoryview):
        return obj.nbytes
    if isinstance(obj, (list, tuple)):
        return sum(payload_nbytes(o) for o in obj)
    if isinstance(obj, dict):
        return sum(payload_nbytes(v) for v in obj.values())
    raise TypeError(f"payload_nbytes cannot size a {type(obj).__name__} ({obj!r:.40}); "
                    "send numpy arrays, numbers, compressed payloads, or lists/tuples/dicts of them")


def shipped_nbytes(obj: Any) -> int:
    """Bytes ``obj`` takes to ship to a worker, for any object.

    :func:`payload_nbytes` for what it can size (arrays, numbers, compressed payloads,
    containers of them); anything else -- a fitted estimator, a DataFrame -- by its
    ``nbytes`` if it has one, else by the length of its pickle (what Dask sends). The
    speedup cost model (:mod:`plsim.speedup`) and ``plsim bench`` size their data and
    results with it.
    """
    try:
        return payload_nbytes(obj)
    except TypeError:
        return int(getattr(obj, "nbytes", 0) or 0) or len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))

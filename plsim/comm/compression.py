"""Gradient compression: top-k sparsification with error feedback, and 8-bit quantization.

:func:`topk_compress` (+ :class:`ErrorFeedback`) and :func:`quantize_8bit` shrink
gradients; their payloads (:class:`SparsePayload`, :class:`QuantizedPayload`) know
their own byte size, which :func:`plsim.comm.payload_nbytes` reports.

Taught in ``notebooks/05_collectives_compression_pipelines.ipynb``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SparsePayload", "QuantizedPayload", "topk_compress", "quantize_8bit", "decompress", "ErrorFeedback",
           "make_compressor"]


@dataclass(frozen=True, eq=False)
class SparsePayload:
    """Top-k gradient: ``values`` at ``indices`` of a vector of length ``size``."""

    indices: np.ndarray
    values: np.ndarray
    size: int

    @property
    def nbytes(self) -> int:
        """Bytes on the wire: int32 indices + float64 values + the length."""
        return int(self.indices.nbytes + self.values.nbytes + 8)

    def decode(self) -> np.ndarray:
        out = np.zeros(self.size)
        out[self.indices] = self.values
        return out


@dataclass(frozen=True, eq=False)
class QuantizedPayload:
    """8-bit gradient: ``lo + codes / 255 * scale``."""

    codes: np.ndarray
    lo: float
    scale: float

    @property
    def nbytes(self) -> int:
        """Bytes on the wire: one uint8 per entry + two float64 (offset and scale)."""
        return int(self.codes.nbytes + 16)

    def decode(self) -> np.ndarray:
        return self.lo + self.codes.astype(np.float64) * (self.scale / 255.0)


def _check_vector(g: Any, name: str = "g") -> np.ndarray:
    g = np.asarray(g, dtype=np.float64)
    if g.ndim != 1:
        raise ValueError(f"{name} must be a flat 1-D gradient vector, got shape {g.shape}")
    return g


def topk_compress(g: np.ndarray, k: int) -> SparsePayload:
    """Keep the ``k`` entries of largest magnitude (ties broken by lower index)."""
    g = _check_vector(g)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= g.size:
        raise ValueError(f"k={k!r} must be an integer in 1..{g.size} (the vector length)")
    order = np.argsort(-np.abs(g), kind="stable")[: int(k)]
    idx = np.sort(order).astype(np.int32)
    return SparsePayload(idx, g[idx].copy(), int(g.size))


def quantize_8bit(g: np.ndarray) -> QuantizedPayload:
    """Uniform 8-bit quantization between min and max; the error per entry is at most ``scale / 510``."""
    g = _check_vector(g)
    if g.size == 0:
        return QuantizedPayload(np.zeros(0, np.uint8), 0.0, 0.0)
    if not np.all(np.isfinite(g)):
        raise ValueError(f"g holds {g[~np.isfinite(g)][0]!r}: only finite gradients can be quantized "
                         "(a diverged step? lower the learning rate)")
    lo, hi = float(g.min()), float(g.max())
    scale = hi - lo
    if scale == 0.0:
        return QuantizedPayload(np.zeros(g.size, np.uint8), lo, 0.0)
    codes = np.clip(np.rint((g - lo) / scale * 255.0), 0, 255).astype(np.uint8)
    return QuantizedPayload(codes, lo, scale)


def decompress(payload: Any) -> np.ndarray:
    """Dense vector from a payload (a plain array is returned as is)."""
    if isinstance(payload, (SparsePayload, QuantizedPayload)):
        return payload.decode()
    return np.asarray(payload, dtype=np.float64)


@dataclass
class ErrorFeedback:
    """Compression with error feedback: what was not sent is added to the next gradient.

    ``residual`` always satisfies ``sum(sent so far) + residual == sum(gradients so far)``.

    Parameters
    ----------
    method : {"topk", "8bit", "none"}
    k : int or None
        Entries kept by top-k (required for ``"topk"``).
    """

    method: str = "topk"
    k: int | None = None
    residual: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.method not in ("topk", "8bit", "none"):
            raise ValueError(f"method={self.method!r} is unknown; choose 'topk', '8bit' or 'none'")
        if self.method == "topk" and (isinstance(self.k, bool) or not isinstance(self.k, numbers.Integral)
                                      or self.k < 1):
            raise ValueError(f"k={self.k!r} must be a positive integer for method='topk'")

    def compress(self, g: np.ndarray) -> Any:
        """Payload for ``g + residual``; the residual keeps what the payload does not carry."""
        g = _check_vector(g)
        corrected = g if self.residual is None else g + self.residual
        payload = compress_once(self.method, corrected, self.k)
        self.residual = corrected - decompress(payload)
        return payload


def compress_once(method: str, g: np.ndarray, k: int | None = None) -> Any:
    """One-shot compression: ``"none"`` (the array), ``"topk"`` or ``"8bit"``."""
    if method == "none":
        return np.asarray(g, dtype=np.float64).copy()
    if method == "topk":
        return topk_compress(g, min(int(k), np.asarray(g).size))  # type: ignore[arg-type]
    if method == "8bit":
        return quantize_8bit(g)
    raise ValueError(f"method={method!r} is unknown; choose 'topk', '8bit' or 'none'")


def make_compressor(method: str = "none", *, k: int | None = None, ratio: float | None = None,
                    n_params: int | None = None) -> ErrorFeedback:
    """An :class:`ErrorFeedback` compressor; top-k size from ``k`` or ``ratio * n_params``."""
    if method == "topk" and k is None:
        if ratio is None or n_params is None:
            raise ValueError("method='topk' needs k, or ratio and n_params")
        if not 0 < ratio <= 1:
            raise ValueError(f"ratio={ratio!r} must be in (0, 1]")
        k = max(1, int(round(ratio * n_params)))
    return ErrorFeedback(method, k)


"""plsim: parallel learning, taught on a real Dask cluster.

Start here: ``notebooks/00_start_here.ipynb``. The heavy libraries (dask,
distributed, scikit-learn, matplotlib) are imported only when a function that
needs them is used, so ``import plsim`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module that defines it; resolved on first attribute access (PEP 562).
_LAZY = {
    "start_cluster": "plsim.cluster",
    "close_cluster": "plsim.cluster",
    "current_client": "plsim.cluster",
    "dashboard_link": "plsim.cluster",
    "detect_resources": "plsim.resources",
    "small_mode": "plsim.config",
}

_SUBMODULES = {
    "cluster", "resources", "config", "cli", "info", "bench", "exercises", "speedup", "ensembles",
    "models", "data", "federated", "training", "comm", "plots",
    "widgets",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"plsim.{name}")
    raise AttributeError(f"module 'plsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | _SUBMODULES)

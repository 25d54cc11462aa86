"""plsim: parallel learning, taught on a real Dask cluster.

Start here: ``notebooks/00_start_here.ipynb``. The heavy libraries (dask,
distributed, scikit-learn, matplotlib) are imported only when a function that
needs them is used, so ``import plsim`` stays fast.
"""

from __future__ import annotations

from plsim._lazy import lazy_exports

__version__ = "0.1.0"

# name -> module that defines it; resolved on first attribute access (PEP 562).
_LAZY = {
    "start_cluster": "plsim.cluster",
    "close_cluster": "plsim.cluster",
    "current_client": "plsim.cluster",
    "dashboard_link": "plsim.cluster",
    "detect_resources": "plsim.resources",
    "small_mode": "plsim.config",
    "resolve_executor": "plsim.executor",
    "Progress": "plsim.progress",
    "set_language": "plsim.i18n",
    "get_language": "plsim.i18n",
}

_SUBMODULES = {
    "cluster", "deployment", "i18n", "executor", "progress", "validation", "resources", "config", "cli", "benchmark", "exercises", "speedup", "ensembles",
    "models", "data", "federated", "training", "comm", "plots",
    "widgets",
}

__all__ = sorted(_LAZY) + ["__version__"]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, _SUBMODULES)

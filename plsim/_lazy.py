"""Names imported on first use (PEP 562), so importing a plsim package stays instant.

Every plsim package that re-exports from heavy modules (dask, scikit-learn,
matplotlib, ipywidgets behind them) builds its ``__getattr__`` / ``__dir__`` here.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, attributes: Mapping[str, str], submodules: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``.

    ``attributes`` maps a public name to the module that defines it;
    ``submodules`` are reachable as ``package.<name>`` without an explicit import.
    """
    subs = frozenset(submodules)

    def __getattr__(name: str) -> Any:
        if name in attributes:
            return getattr(importlib.import_module(attributes[name]), name)
        if name in subs:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        public = getattr(sys.modules[package], "__all__", attributes)
        return sorted(set(public) | subs)

    return __getattr__, __dir__

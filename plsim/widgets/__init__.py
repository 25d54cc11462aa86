"""Interactive controls for the notebooks. Each function *returns* a widget.

All of them are :class:`plsim.widgets._panel.RunPanel` s: the same layout,
Run / Stop / progress, live figures and validation messages. The returned
widget has a ``.panel`` attribute so tests can drive it without a browser.
"""

from __future__ import annotations

from plsim._lazy import lazy_exports

# widget function -> module that builds it
_LAZY = {
    "speedup_explorer": "plsim.widgets.speedup",
    "ensemble_builder": "plsim.widgets.ensembles",
    "federation_playground": "plsim.widgets.federated",
    "training_race": "plsim.widgets.training",
    "pipeline_explorer": "plsim.widgets.training",
    "RunPanel": "plsim.widgets._panel",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

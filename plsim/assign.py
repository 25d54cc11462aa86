"""Moved to :mod:`plsim.cli.assign` (the command-line layer); this name stays importable.

``import plsim.assign`` and ``from plsim import assign`` give the very module
:mod:`plsim.cli.assign`, so patching an attribute here patches what ``plsim assign`` runs.
"""

import sys

from plsim.cli import assign as _assign

sys.modules[__name__] = _assign

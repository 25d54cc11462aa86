"""Moved to :mod:`plsim.comm.measure`; this name stays importable (notebook 05 and older code use it).

``import plsim.comm_measure`` gives the very module :mod:`plsim.comm.measure`.
"""

import sys

from plsim.comm import measure as _measure

sys.modules[__name__] = _measure

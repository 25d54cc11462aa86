"""Grading that trusts nothing the student's kernel says, as an extension of nbgrader.

Kernel side (hidden part of a graded test cell): :func:`send` the student's answers to the grader's cases.
Grader side: :func:`check` registers how a cell's answers are judged (``plsim.grading.<assignment>_checks``,
``plsim.grading.dask_checks``); :class:`SandboxedExecute` runs a submission in a :class:`Sandbox` and
:class:`GraderChecks` / :class:`SaveGraderScores` score it into nbgrader's gradebook (wired up in the course's
``nbgrader_config.py``). The design and its threat model: ``docs/instructors.md``.

Only :mod:`plsim.grading.protocol` and :mod:`plsim.grading.checks` are imported in a student's kernel; the
rest (nbgrader, jupyter_client) loads on first use.
"""

from __future__ import annotations

from plsim._lazy import lazy_exports

_LAZY = {
    "send": "plsim.grading.protocol",
    "Raised": "plsim.grading.protocol",
    "MIMETYPE": "plsim.grading.protocol",
    "check": "plsim.grading.checks",
    "Failed": "plsim.grading.checks",
    "CheckContext": "plsim.grading.checks",
    "load_checks": "plsim.grading.checks",
    "RecordedRun": "plsim.grading.record",
    "Sandbox": "plsim.grading.sandbox",
    "Limits": "plsim.grading.sandbox",
    "SandboxedExecute": "plsim.grading.execute",
    "GraderChecks": "plsim.grading.scoring",
    "SaveGraderScores": "plsim.grading.scoring",
    "QuietOverwriteCells": "plsim.grading.scoring",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, {"protocol", "checks", "record", "sandbox", "execute",
                                                       "scoring", "cluster_host"})

"""pytest/nbval: run the solution copies, never the student copies.

The student copies in ``release/`` raise ``NotImplementedError`` where the
solutions were, by design; ``tests/test_assignments.py`` grades them instead.
"""

collect_ignore_glob = ["release/*"]

"""pytest/nbval: run the solution copies (``source/<assignment>/*.ipynb``), never anything else.

The student copies in ``release/`` raise ``NotImplementedError`` where the solutions were, by design,
and ``submitted/``, ``autograded/`` and ``feedback/`` hold student work made at grading time (nbgrader's
course layout, see ``nbgrader_config.py``). ``tests/test_nbgrader_grading.py`` grades submissions.
"""

collect_ignore = ["nbgrader_config.py"]
collect_ignore_glob = ["release/*", "submitted/*", "autograded/*", "feedback/*"]

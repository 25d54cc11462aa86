"""``python -m plsim`` is the same as the ``plsim`` command."""

from plsim.cli import main

raise SystemExit(main())

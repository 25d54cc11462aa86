"""The instructors' guide lists every exercise with the misconception it targets, as registered."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from plsim.exercises import registered

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _maker():
    spec = importlib.util.spec_from_file_location("make_exercise_guide", DOCS / "make_exercise_guide.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_exercise_names_its_misconception():
    for ex in registered().values():
        assert ex.misconception.strip(), f"{ex.name} names no misconception"
        assert ex.notebook, f"{ex.name} names no notebook"


def test_the_guide_is_up_to_date():
    guide = (DOCS / "instructors.md").read_text()
    assert guide == _maker().render(guide), "run: python docs/make_exercise_guide.py"

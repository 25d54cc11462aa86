"""Numbers in the course's prose must come from the run, not be typed.

Two checks, used by ``tests/test_notebook_numbers.py`` (static, every notebook)
and ``tests/test_binder_profile.py`` (on the executed copies):

* ``typed_results(nb)``: a markdown cell may not state a result -- a ratio or
  percentage (``1.9x``, ``90 %``) outside ``code spans`` and ``$math$`` -- and a
  "Key points" markdown cell may not hold any number with a unit at all: key
  points are printed by a code cell tagged ``key-points``, formatted from the
  variables the run computed. Exercise statements (cells that start with
  ``**Exercise``) give data and are exempt. Times and sizes elsewhere in prose
  are usually settings (``tasks of 0.25 s``), so they are not flagged.
* ``key_points_not_from_run(executed_nb)``: every number printed by a cell
  tagged ``key-points`` must appear in an output printed earlier in the same
  run, so a key point can only restate what the student saw happen.
"""

from __future__ import annotations

import re

# A number followed by a unit: 1.9x, 90 %, 12 s, 3.5 MiB, 40 rounds...
WITH_UNIT = re.compile(
    r"(?<![\w.$=^/-])(\d+(?:[.,]\d+)?)\s*(?:×(?!\s*\d)|x\b|%|percent\b|(?:ms|s|seconds?|minutes?|MiB|MB|kB|KiB|GB|GiB|bytes)\b|"
    r"(?:rounds?|steps?|epochs?)\b)")
# A ratio or a percentage: the shape of a result (a speedup, an accuracy, "5x fewer rounds").
RESULT = re.compile(r"(?<![\w.$=^/-])(\d+(?:[.,]\d+)?)\s*(?:×(?!\s*\d)|x\b|%|percent\b|times (?:faster|fewer|more|less)\b)")
_CODE_OR_MATH = re.compile(r"`[^`]*`|\$\$.*?\$\$|\$[^$]*\$", re.S)
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e[-+]?\d+)?")
# Numbers too common to prove anything when found in an earlier output.
_TRIVIAL = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "100"}


def _text(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _exempt(text: str) -> bool:
    return re.search(r"^\s*\*\*Exercise", text, re.M) is not None


def _is_key_points(text: str) -> bool:
    return re.match(r"\s*#+\s*key points", text, re.I) is not None


def typed_results(nb: dict) -> list[tuple[int, str]]:
    """(cell index, matched text) for each typed result in a markdown cell."""
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = _text(cell)
        if _exempt(text):
            continue
        prose = _CODE_OR_MATH.sub(" ", text)
        pattern = WITH_UNIT if _is_key_points(text) else RESULT
        for m in pattern.finditer(prose):
            start = max(0, m.start() - 30)
            found.append((i, prose[start:m.end() + 10].replace("\n", " ")))
    return found


def _output_text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(_text({"source": out["text"]}))
        for key in ("text/markdown", "text/plain", "text/html"):
            if key in out.get("data", {}):
                parts.append(_text({"source": out["data"][key]}))
                break
    return "\n".join(parts)


def key_point_cells(nb: dict) -> list[int]:
    return [i for i, c in enumerate(nb["cells"])
            if c["cell_type"] == "code" and "key-points" in c.get("metadata", {}).get("tags", [])]


def key_points_not_from_run(nb: dict) -> list[tuple[int, str]]:
    """(cell index, number) for each number a key-points cell prints that no earlier output printed."""
    missing = []
    seen = ""
    for i, cell in enumerate(nb["cells"]):
        out = _output_text(cell)
        if i in key_point_cells(nb):
            earlier = set(NUMBER.findall(seen))
            for num in NUMBER.findall(out):
                if num not in _TRIVIAL and num not in earlier:
                    missing.append((i, num))
        seen += "\n" + out
    return missing

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


# A number that reports a time or a ratio of times: measured, so it differs between two runs of one notebook.
_TIMING_UNIT = re.compile(r"\s*(?:×|x\b|s\b|ms\b|µs\b|seconds?\b|times (?:faster|slower)\b)")
# A sentence about a measurement (English, and French in case a key point is ever translated).
_MEASURED = re.compile(r"\bmeasur|\bmesur", re.I)
# Rounding noise printed in scientific notation (e.g. "the parameters differ by at most 4.4e-16").
_ROUNDING = re.compile(r"e-(?:[1-9]\d|[7-9])$")


def _bullets(text: str) -> list[str]:
    """The items of a markdown list (an item's continuation lines joined to it); other lines as they are."""
    items: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if re.match(r"\s{0,3}[*-]\s", line) or not items:
            items.append(line.strip())
        else:
            items[-1] += " " + line.strip()
    return items


def key_numbers(nb: dict) -> list[tuple[str, list[str]]]:
    """What a run's key points say that does not depend on timing: ``(item with its numbers masked, numbers)``.

    The key-points cell's code is the same in both editions and formats the run's own variables (its words
    translated through plsim's catalogue in French), so two runs of the same notebook (the English one and its
    French twin, same data, same seeds) print the same items with the same numbers, except where a number is
    a measured time or speedup: items that speak of a measurement are left out, and so is every number
    followed by a time or ratio unit, or printed as rounding noise (``4.4e-16``).
    """
    found = []
    for i in key_point_cells(nb):
        for item in _bullets(_output_text(nb["cells"][i])):
            if _MEASURED.search(item):
                continue
            numbers = [m.group(0) for m in NUMBER.finditer(item)
                       if not _TIMING_UNIT.match(item, m.end()) and not _ROUNDING.search(m.group(0))]
            found.append((NUMBER.sub("#", item), numbers))
    return found


def key_number_differences(english: dict, french: dict) -> list[str]:
    """Where the French run's key numbers differ from its English twin's (empty: they match).

    The numbers are compared in order across the items, not item by item: an item that a measurement decides
    (e.g. "could not separate the cost from the noise" against "cost +0.27 s more (measured)") carries no
    number in one run and is left out in the other, and must not shift the comparison.
    """
    en, fr = key_numbers(english), key_numbers(french)
    en_numbers = [n for _, numbers in en for n in numbers]
    fr_numbers = [n for _, numbers in fr for n in numbers]
    if en_numbers == fr_numbers:  # the words may be translated; the numbers may not differ
        return []
    return [f"English {en_numbers}\n   French {fr_numbers}",
            *(f"English item: {text[:200]!r}" for text, numbers in en if numbers),
            *(f"French item: {text[:200]!r}" for text, numbers in fr if numbers)]

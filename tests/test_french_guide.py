"""The French instructors' guide (docs/fr/instructors.md) stays in step with the English one (docs/instructors.md).

* The blocks scripts generate into the English guide, between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``
  (the exercise guide, the hub sizing measurements, the typical values), are data tables: the French guide
  carries each of them unchanged, between the same markers. When a script regenerates an English block, copy it
  over with ``python tests/test_french_guide.py --sync`` (it rewrites only the French file's blocks).
* The same section structure: as many headings of each level (fenced code blocks left out, where ``#`` starts
  a comment).
* Commands stay as in English: the same fenced code blocks in the same order, the bash commands identical once
  their comments (which may be translated) are removed, Python blocks identical, the lines of a ``text`` block
  starting with the same path or address.
* Every prose paragraph is translated (none is the English one verbatim), and relative links resolve.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGLISH = ROOT / "docs" / "instructors.md"
FRENCH = ROOT / "docs" / "fr" / "instructors.md"

_BLOCK = re.compile(r"<!--\s*(?P<name>[\w-]+):start\s*-->.*?<!--\s*(?P=name):end\s*-->", re.S)
_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)


def generated_blocks(text: str) -> dict[str, str]:
    blocks = {}
    for match in _BLOCK.finditer(text):
        assert match["name"] not in blocks, f"block {match['name']} appears twice"
        blocks[match["name"]] = match.group(0)
    return blocks


def _without_fences(text: str) -> str:
    return _FENCE.sub("", text)


def heading_counts(text: str) -> dict[int, int]:
    counts: dict[int, int] = {}
    for line in _without_fences(text).splitlines():
        heading = re.match(r"(#{1,6})\s", line)
        if heading:
            counts[len(heading.group(1))] = counts.get(len(heading.group(1)), 0) + 1
    return counts


def _bash_commands(body: str) -> list[str]:
    lines = []
    for line in body.splitlines():
        command = re.sub(r"(^|\s+)#.*$", "", line).rstrip()
        if command:
            lines.append(command)
    return lines


def _paragraphs(text: str) -> list[str]:
    """Prose paragraphs: not generated blocks, code, tables, headings or one-line fragments."""
    text = _without_fences(_BLOCK.sub("", text))
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph or paragraph.startswith(("#", "|", "<!--")) or len(paragraph.split()) < 8:
            continue
        paragraphs.append(" ".join(paragraph.split()))
    return paragraphs


EN_TEXT = ENGLISH.read_text()
FR_TEXT = FRENCH.read_text()


def test_french_title():
    assert FR_TEXT.splitlines()[0].startswith("# Guide de l'enseignant")


def test_generated_blocks_are_the_english_ones():
    english, french = generated_blocks(EN_TEXT), generated_blocks(FR_TEXT)
    assert {"exercises", "bench-hub", "typical-values"} <= set(english)
    assert set(french) == set(english), f"blocks: French {sorted(french)}, English {sorted(english)}"
    stale = [name for name in english if french[name] != english[name]]
    assert not stale, (f"the French guide's generated blocks {stale} differ from the English guide's: "
                       "run python tests/test_french_guide.py --sync")
    # in the same order
    assert [m["name"] for m in _BLOCK.finditer(FR_TEXT)] == [m["name"] for m in _BLOCK.finditer(EN_TEXT)]


def test_same_section_structure():
    assert heading_counts(FR_TEXT) == heading_counts(EN_TEXT)
    assert heading_counts(EN_TEXT).get(2, 0) >= 10


def test_commands_stay_as_in_english():
    english = list(_FENCE.finditer(_BLOCK.sub("", EN_TEXT)))
    french = list(_FENCE.finditer(_BLOCK.sub("", FR_TEXT)))
    assert [b["info"] for b in french] == [b["info"] for b in english]
    for n, (en, fr) in enumerate(zip(english, french)):
        where = f"code block {n + 1} ({en['info']})"
        if en["info"] == "bash":
            assert _bash_commands(fr["body"]) == _bash_commands(en["body"]), where
        elif en["info"] == "text":
            assert [line.split()[0] for line in fr["body"].splitlines() if line.strip()] == \
                   [line.split()[0] for line in en["body"].splitlines() if line.strip()], where
        else:
            assert fr["body"] == en["body"], where


def test_prose_is_translated():
    english = set(_paragraphs(EN_TEXT))
    untranslated = [p[:100] for p in _paragraphs(FR_TEXT) if p in english]
    assert not untranslated, untranslated
    assert len(_paragraphs(FR_TEXT)) >= len(_paragraphs(EN_TEXT)) - 2


def test_relative_links_resolve():
    for target in re.findall(r"\]\(([^)\s]+)\)", _without_fences(FR_TEXT)):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (FRENCH.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"link {target} from docs/fr/instructors.md points to nothing"


def test_sync_replaces_only_the_blocks():
    """The --sync helper puts the English blocks in and leaves the French prose alone."""
    stale = _BLOCK.sub(lambda m: m.group(0).replace("|", "¦", 3), FR_TEXT)
    assert stale != FR_TEXT
    assert sync(stale, EN_TEXT) == sync(FR_TEXT, EN_TEXT)
    synced = sync(stale, EN_TEXT)
    assert generated_blocks(synced) == generated_blocks(EN_TEXT)
    assert _BLOCK.sub("", synced) == _BLOCK.sub("", stale)


def sync(french: str, english: str) -> str:
    blocks = generated_blocks(english)
    return _BLOCK.sub(lambda m: blocks[m["name"]], french)


if __name__ == "__main__" and sys.argv[1:] == ["--sync"]:
    FRENCH.write_text(sync(FR_TEXT, EN_TEXT))
    print(f"{FRENCH.relative_to(ROOT)}: generated blocks copied from {ENGLISH.relative_to(ROOT)}")

"""The bilingual glossary (docs/glossary.md) covers every term the notebooks introduce.

The terms are extracted from the English notebooks (notebooks/0*.ipynb), from the two places a
notebook names what it teaches:

* its headings: numbering ("1.", "3a.", "2 ·", "00 ·") removed, only the heading's topic is kept (the part
  before the first colon; "Task size: scheduling overhead" -> "Task size", since what follows a colon
  describes the topic), and a topic that lists several things ("Non-IID data, client drift and FedProx",
  "Processes versus threads") is split into its items at commas, parentheses, "and", "or" and "versus"
  ("Strong versus weak scaling" gives "strong scaling" and "weak scaling");
* its **bold** spans, except run-in paragraph labels (a bold span ending with "." or ":", such as
  "**Explain.**", "**Model answer.**", "**Next:**", "**Tasks are tiny.**") and bare numbers.

A term is covered when it contains a glossary term (its English name or one of the wordings listed after
*also*) as whole words, case-insensitively, a trailing plural "s"/"es" allowed ("Workers" is covered by
"worker"). Every extracted term must be covered, or be one of the genuine non-terms of NON_TERMS below.

Each glossary entry must have an English and a French term, a definition in each language, and links to
the notebook section that teaches it, in the English notebook and in its French edition, written as the
course book (docs/build_book.py: Sphinx and MyST-NB with ``myst_heading_anchors``) resolves them: the
notebook's path relative to docs/ and the anchor MyST derives from the heading's text (myst-parser's
GitHub-style slug; no anchor: the notebook's introduction, above its first section). The English section
must mention the term; the French link must point to the same section of the French notebook, as
docs/make_french_edition.py builds it from its catalogue.
"""
from __future__ import annotations

import importlib.util
import json
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
GLOSSARY = ROOT / "docs" / "glossary.md"

# Extracted spans that are not terms. Keep this list to genuine non-terms: a new notebook term goes
# into the glossary, not here.
NON_TERMS = {
    # The notebooks' fixed structure (STYLE.md: objectives, setup, sections, exercises, key points).
    "Setup", "Start here", "Learning objectives", "Key points", "Exercises", "Exercise 4",
    "Explore", "Playground", "Clean up",
    # Labels of plsim's run panel buttons, named in the text so that students find them.
    "Run", "Stop",
    # Words set in bold for stress inside a sentence ("does **not** start", "the **smallest** noise").
    "not", "is", "once", "both", "one", "itself", "identical", "independent", "sum", "time",
    "milliseconds", "smallest", "highest", "whatever p", "4 equally fast", "once per direction",
    # Section headings that describe an activity or a question rather than name a concept.
    "The course at a glance", "What this machine lets you use", "An uneven team", "Race them yourself",
    "their cost",
}

_NUMBERING = re.compile(r"^\d+[a-z]?\s*[.·]\s*")
_ITEM_SPLIT = re.compile(r"\s*[,;()]\s*|\s+(?:and|or|versus)\s+")
_DISTRIBUTIVE = re.compile(r"^(\w+) (?:versus|and|or) (\w+ )(\w+)$")


def _markdown_lines(path: Path):
    """The lines of a notebook's markdown cells, outside fenced code blocks, cell by cell."""
    yield from _markdown_cells_lines(json.loads(path.read_text())["cells"])


def _plain(text: str) -> str:
    """Markdown inline text as a reader sees it: link text without targets, no emphasis or code marks."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[*`]", "", text).strip()


def html_id(text: str) -> str:
    """The anchor MyST gives a heading: myst_parser.slugs.github_slugify (copied: pure standard library)."""
    return re.sub(r"[^\w\u4e00-\u9fff\- ]", "", text.lower().replace(" ", "-"))


def _markdown_cells_lines(cells):
    for cell in cells:
        if cell["cell_type"] != "markdown":
            continue
        fenced = False
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for line in source.splitlines():
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
                continue
            if not fenced:
                yield line


def heading_anchors(cells) -> list[str]:
    """The anchors of a notebook's headings, in order, unique as myst-parser makes them (x, x-1, x-2, ...)."""
    anchors: list[str] = []
    for line in _markdown_cells_lines(cells):
        heading = re.match(r"(#{1,6})\s+(.*)", line)
        if heading:
            slug = html_id(_plain(heading.group(2)))
            unique, n = slug, 1
            while unique in anchors:
                unique, n = f"{slug}-{n}", n + 1
            anchors.append(unique)
    return anchors


def _heading_items(text: str) -> list[str]:
    topic = _NUMBERING.sub("", text).split(":")[0].strip()
    match = _DISTRIBUTIVE.match(topic)
    if match:  # "Strong versus weak scaling": the first item shares the noun of the second
        first, middle, last = match.groups()
        return [f"{first} {last}", f"{middle}{last}"]
    return [item for item in _ITEM_SPLIT.split(topic) if item]


def extracted_terms() -> list[tuple[str, str]]:
    """(notebook name, term) for every heading item and bold span of the English notebooks."""
    terms = []
    for path in NOTEBOOKS:
        for line in _markdown_lines(path):
            heading = re.match(r"#{1,6}\s+(.*)", line)
            if heading:
                terms += [(path.name, item) for item in _heading_items(_plain(heading.group(1)))]
            for bold in re.findall(r"\*\*(.+?)\*\*", line):
                span = _plain(bold)
                if span.endswith((".", ":")) or re.fullmatch(r"[\d\s.,]+", span):
                    continue  # a run-in paragraph label, or a number set in bold
                terms.append((path.name, span))
    return terms


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("’", "'").replace("‑", "-")).strip().lower()


def covers(term: str, text: str) -> bool:
    """Whether `text` contains the glossary term `term` as whole words (a plural s/es allowed)."""
    pattern = r"(?<![\w-])" + re.escape(_normalize(term)) + r"(?:s|es)?(?![\w-])"
    return re.search(pattern, _normalize(text)) is not None


# ---- the glossary ------------------------------------------------------------------------------------

_ROW = re.compile(r"^\| \*\*(?P<en>[^*|]+)\*\*(?: \(\*also\* (?P<also>[^|]+)\))? \| \*\*(?P<fr>[^*|]+)\*\* "
                  r"\| (?P<den>[^|]*) \| (?P<dfr>[^|]*) \| (?P<link>[^|]*) \|$")


def glossary_entries() -> list[dict]:
    entries = []
    for line in GLOSSARY.read_text().splitlines():
        if not line.startswith("| **"):
            continue
        row = _ROW.match(line)
        assert row, f"glossary row not in the form | **English** (*also* ...) | **French** | def | déf | [link](...) |: {line}"
        entry = row.groupdict()
        entry["also"] = [a.strip() for a in (entry["also"] or "").split(",") if a.strip()]
        entries.append(entry)
    return entries


def _names(entry: dict) -> list[str]:
    return [entry["en"], *entry["also"]]


def _sections(path: Path) -> dict[str | None, str]:
    """A notebook's sections' text, keyed by MyST anchor (None: the introduction before the first ## heading).

    A section runs to the next heading of the same or a higher level, so it includes its subsections.
    """
    lines = list(_markdown_lines(path))
    anchors = iter(heading_anchors(json.loads(path.read_text())["cells"]))
    starts = []
    for i, line in enumerate(lines):
        heading = re.match(r"(#{1,6})\s+(.*)", line)
        if heading:
            starts.append((i, len(heading.group(1)), next(anchors)))
    first_section = next((i for i, level, _ in starts if level >= 2), len(lines))
    sections = {None: "\n".join(lines[:first_section])}
    for n, (i, level, anchor) in enumerate(starts):
        if level == 1:
            continue
        end = next((j for j, lev, _ in starts[n + 1:] if lev <= level), len(lines))
        sections[anchor] = "\n".join(lines[i:end])
    return sections


@cache
def _french_edition():
    spec = importlib.util.spec_from_file_location("make_french_edition", ROOT / "docs" / "make_french_edition.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def french_anchors(name: str) -> list[str]:
    """The heading anchors of a French notebook as docs/make_french_edition.py builds it from its catalogue."""
    edition = _french_edition()
    notebook = edition.french_notebook(ROOT / "notebooks" / f"{name}.ipynb", edition._read(name), allow_missing=True)
    return heading_anchors(notebook["cells"])


ENTRIES = glossary_entries()


def test_glossary_has_entries_with_unique_terms():
    assert len(ENTRIES) >= 50
    english = [_normalize(e["en"]) for e in ENTRIES]
    assert len(english) == len(set(english)), sorted({t for t in english if english.count(t) > 1})
    french = [_normalize(e["fr"]) for e in ENTRIES]
    assert len(french) == len(set(french)), sorted({t for t in french if french.count(t) > 1})


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["en"])
def test_entry_has_both_definitions(entry):
    for key in ("den", "dfr"):
        definition = entry[key].strip()
        assert len(definition.split()) >= 3 and definition.endswith("."), f"{entry['en']}: {key} {definition!r}"
    assert entry["den"] != entry["dfr"], f"{entry['en']}: the French definition is the English one"


_LINKS = re.compile(r"\[[^\]]+\]\(\.\./notebooks/(?P<file>0[^/#)]+)\.ipynb(?:#(?P<anchor>[^)\s]+))?\) · "
                    r"\[en français\]\(\.\./notebooks/fr/(?P<fr_file>0[^/#)]+)\.ipynb(?:#(?P<fr_anchor>[^)\s]+))?\)")


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["en"])
def test_entry_links_to_the_section_that_teaches_it(entry):
    link = _LINKS.fullmatch(entry["link"].strip())
    assert link, (f"{entry['en']}: links {entry['link']!r} are not "
                  "[text](../notebooks/NN_name.ipynb#anchor) · [en français](../notebooks/fr/NN_name.ipynb#anchor)")
    path = ROOT / "notebooks" / f"{link['file']}.ipynb"
    assert path.exists(), f"{entry['en']}: {link['file']} is not a notebook"
    sections = _sections(path)
    anchor = link["anchor"]
    assert anchor in sections, (f"{entry['en']}: {link['file']} has no section with anchor #{anchor}; "
                                f"its anchors: {sorted(a for a in sections if a)}")
    assert any(covers(name, _plain(sections[anchor])) for name in _names(entry)), (
        f"{entry['en']}: the section #{anchor} of {link['file']} never mentions {_names(entry)}")
    # The French link: the same notebook, the same section (headings correspond one to one, in order).
    assert link["fr_file"] == link["file"] and (ROOT / "notebooks" / "fr" / f"{link['file']}.ipynb").exists()
    if anchor is None:
        assert link["fr_anchor"] is None, entry["en"]
    else:
        english, french = heading_anchors(json.loads(path.read_text())["cells"]), french_anchors(link["file"])
        assert len(english) == len(french), f"{link['file']}: the French notebook's headings differ in number"
        expected = french[english.index(anchor)]
        assert link["fr_anchor"] == expected, f"{entry['en']}: the French link should be #{expected}"


def test_extraction_finds_the_terms_it_should():
    """The extraction itself: known terms come out, labels and numbering do not."""
    terms = {term for _, term in extracted_terms()}
    for expected in ("speedup", "Amdahl's law", "client drift", "FedProx", "Non-IID data", "staleness",
                     "Strong scaling", "weak scaling", "Processes", "threads", "Task size", "Bagging"):
        assert expected in terms, expected
    for label in ("Explain.", "Model answer.", "Exercise 1.", "Next:", "1. Amdahl and Gustafson", "64"):
        assert label not in terms, label
    assert _heading_items("3c. Processes versus threads: the GIL") == ["Processes", "threads"]
    assert _heading_items("4. Strong versus weak scaling") == ["Strong scaling", "weak scaling"]
    assert _heading_items("2 · Accuracy versus number of members") == ["Accuracy", "number of members"]
    assert html_id("1. The same tasks, one after another and on the cluster") == \
        "1-the-same-tasks-one-after-another-and-on-the-cluster"
    assert html_id("2 · Accuracy versus number of members") == "2--accuracy-versus-number-of-members"
    assert html_id("Is it really faster? Compare in pairs") == "is-it-really-faster-compare-in-pairs"
    assert heading_anchors([{"cell_type": "markdown", "source": "## Exercises\n## Exercises"}]) == \
        ["exercises", "exercises-1"]
    assert covers("worker", "1, 2, … workers") and covers("process", "Processes")
    assert not covers("task", "multitasking") and not covers("IID", "Non-IID data")


def test_every_extracted_term_is_in_the_glossary():
    names = [name for entry in ENTRIES for name in _names(entry)]
    missing = sorted({(notebook, term) for notebook, term in extracted_terms()
                      if term not in NON_TERMS and not any(covers(name, term) for name in names)})
    assert not missing, "terms the glossary does not cover (add an entry or a wording after *also*):\n" + \
        "\n".join(f"  {notebook}: {term}" for notebook, term in missing)


def test_non_terms_still_occur():
    """A stop-list entry the notebooks no longer produce is dead weight: remove it."""
    terms = {term for _, term in extracted_terms()}
    assert not NON_TERMS - terms, sorted(NON_TERMS - terms)

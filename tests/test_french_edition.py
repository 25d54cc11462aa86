"""The French edition: single-sourced from the English notebooks, complete, and in step with them."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def _edition():
    spec = importlib.util.spec_from_file_location("make_french_edition", ROOT / "docs" / "make_french_edition.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PAIRS = sorted(_edition().sources().items())


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _src(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_every_english_notebook_has_its_french_twin():
    lessons = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert lessons and sorted(p.name for p in (NOTEBOOKS / "fr").glob("[0-9][0-9]_*.ipynb")) == lessons
    assignments = sorted(p.relative_to(NOTEBOOKS).as_posix() for p in NOTEBOOKS.glob("assignments/source/*/*.ipynb"))
    assert sorted(p.relative_to(NOTEBOOKS / "fr").as_posix()
                  for p in (NOTEBOOKS / "fr").glob("assignments/source/*/*.ipynb")) == assignments


@pytest.mark.parametrize("name,pair", PAIRS, ids=[n for n, _ in PAIRS])
def test_code_cells_are_the_english_ones_byte_for_byte(name, pair):
    english, french = pair
    en, fr = _cells(english), _cells(french)
    assert [c["cell_type"] for c in fr] == [c["cell_type"] for c in en]
    for i, (e, f) in enumerate(zip(en, fr)):
        if e["cell_type"] == "code":
            assert _src(f) == _src(e), f"{french.name} cell {i}: code differs from {english.name}"
            assert f.get("metadata") == e.get("metadata"), f"{french.name} cell {i}: metadata differs (nbgrader ids)"


@pytest.mark.parametrize("name,pair", PAIRS, ids=[n for n, _ in PAIRS])
def test_every_explanation_is_in_french(name, pair):
    english, french = pair
    for i, (e, f) in enumerate(zip(_cells(english), _cells(french))):
        if e["cell_type"] != "markdown" or not _src(e).strip():
            continue
        text = _src(f)
        assert text != _src(e), f"{french.name} cell {i} is still English: {text[:60]!r}"
        # every identifier in code, formula and link target of the English cell is kept as it was (a code span
        # with spaces may quote what the library prints, which the French edition prints in French)
        for pattern in (r"`[^`\s]+`", r"\$[^$\n]+\$", r"\]\(([^)\s]+)\)"):
            kept = set(re.findall(pattern, text))
            lost = [x for x in re.findall(pattern, _src(e)) if x not in kept]
            assert not lost, f"{french.name} cell {i}: {lost} of the English cell missing"
        # a French cell reads as French: a handful of the commonest French words appear in any paragraph
        words = re.findall(r"[a-zàâçéèêëîïôûùüÿœ']+", text.lower())
        if len(words) >= 12:
            french_words = {"le", "la", "les", "des", "du", "un", "une", "et", "est", "que", "qui", "pour", "sur",
                            "dans", "avec", "pas", "ce", "cette", "en", "au", "aux", "vous", "on", "plus", "par"}
            assert sum(w in french_words for w in words) / len(words) > 0.12, f"{french.name} cell {i}: {text[:80]!r}"


def test_the_committed_edition_is_what_the_catalogues_build():
    """A change to an English notebook or a catalogue without `build` fails here (the command is in the message)."""
    assert _edition().build(check=True) == 0


def test_a_changed_english_cell_makes_its_translation_fuzzy_not_silently_stale(tmp_path, monkeypatch):
    edition = _edition()
    english = NOTEBOOKS / "00_start_here.ipynb"
    catalog = edition._read("00_start_here")
    nb = json.loads(english.read_text(encoding="utf-8"))
    first = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    catalog.get(_src(first)).string = "# 00 · Par où commencer"   # as if translated
    first["source"] = _src(first) + "\n\nOne more sentence."
    changed = tmp_path / "00_start_here.ipynb"
    changed.write_text(json.dumps(nb), encoding="utf-8")
    catalog.update(edition._template(changed), update_header_comment=False)
    message = catalog.get(_src(first))
    assert message is not None and message.fuzzy
    with pytest.raises(ValueError, match="untranslated or fuzzy"):
        edition.french_notebook(changed, catalog)


def test_what_the_notebooks_code_prints_is_translated_through_tr(monkeypatch):
    """Every ``tr("...")`` of the English code cells has its French in notebooks.po, and plsim.i18n reads it."""
    from babel.messages.pofile import read_po

    import plsim.i18n as i18n

    edition = _edition()
    with edition.CODE_MESSAGES.open("rb") as f:
        catalog = read_po(f, locale="fr")
    extracted = {m.id for m in edition._code_template() if m.id}
    assert extracted <= {m.id for m in catalog if m.id}, "run: python docs/make_french_edition.py extract"
    translated = [m for m in catalog if m.id and m.string and not m.fuzzy]
    assert len(translated) == len(extracted)
    i18n._catalogues.clear()
    monkeypatch.setattr(i18n, "_chosen", None)
    for message in translated[:20]:
        i18n.set_language("fr")
        assert i18n.tr(message.id) == message.string
        i18n.set_language("en")
        assert i18n.tr(message.id) == message.id
    i18n.set_language(None)


def test_french_solutions_are_translations_or_links_to_the_english_code():
    """`%load solutions/x.py` works in notebooks/fr: a French model answer, or the English file itself (a link)."""
    english = sorted((NOTEBOOKS / "solutions").glob("*.py"))
    french_dir = NOTEBOOKS / "fr" / "solutions"
    assert sorted(p.name for p in french_dir.glob("*.py")) == [p.name for p in english]
    for p in english:
        french = french_dir / p.name
        if french.is_symlink():
            assert french.resolve() == p.resolve()
        else:
            assert p.name.startswith("explain_"), f"{french}: a copy of code; link it (make_french_edition build)"
            assert french.read_text(encoding="utf-8") != p.read_text(encoding="utf-8")

"""The library's messages in French: the gettext catalogue and how plsim picks its language.

The catalogue checks read the files with Babel (the tool docs/translating.md
uses to maintain them); the language checks run real library code and compare
its text with the catalogue and with the English the code holds.
"""

from __future__ import annotations

import functools
import gettext
import os
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest

babel_messages = pytest.importorskip("babel.messages")
from babel.messages.extract import extract_from_dir  # noqa: E402
from babel.messages.frontend import parse_mapping_cfg  # noqa: E402
from babel.messages.pofile import read_po  # noqa: E402

import plsim.i18n as i18n  # noqa: E402
from plsim.speedup.judge import read_speedup  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "plsim" / "locale" / "fr" / "LC_MESSAGES" / "plsim.po"
MO = PO.with_suffix(".mo")


@pytest.fixture(scope="module")
def catalog():
    with PO.open("rb") as f:
        return read_po(f, locale="fr")


def _messages(catalog):
    return [m for m in catalog if m.id]


def _fields(text: str) -> list[str]:
    """The ``{name:spec}`` fields of a format string, sorted (literal ``{{`` braces are not fields)."""
    return sorted(f"{name}:{spec}!{conv}" for _, name, spec, conv in string.Formatter().parse(text)
                  if name is not None)


@pytest.fixture(autouse=True)
def _automatic_language(monkeypatch):
    """Every test starts from the automatic choice with no language variable set."""
    for name in ("PLSIM_LANG", "JPY_SESSION_NAME", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    i18n.set_language(None)
    yield
    i18n.set_language(None)


# -- the catalogue ---------------------------------------------------------------------------------------------

def test_catalogue_is_complete_and_nothing_is_fuzzy(catalog):
    messages = _messages(catalog)
    assert len(messages) >= 30
    untranslated = [m.id for m in messages if not (all(m.string) if m.pluralizable else m.string)]
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert untranslated == []
    assert fuzzy == []
    assert catalog.obsolete == {}, f"obsolete entries left in the .po: {list(catalog.obsolete)}"


def test_placeholders_are_the_same_in_french(catalog):
    for m in _messages(catalog):
        ids = m.id if m.pluralizable else (m.id,)
        strings = m.string if m.pluralizable else (m.string,)
        for translated in strings:
            # The English singular may leave the count out ("one round"); every French form
            # keeps the fields of the plural.
            assert _fields(translated) in [_fields(i) for i in ids], (m.id, translated)


def test_compiled_catalogue_is_in_step_with_the_po(catalog):
    with MO.open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    for m in _messages(catalog):
        if m.pluralizable:
            for n, form in ((1, 0), (2, 1)):
                assert compiled.ngettext(m.id[0], m.id[1], n) == m.string[form], m.id
        else:
            assert compiled.gettext(m.id) == m.string, m.id
    # ...and holds no message the .po no longer has (a .mo compiled from an older .po).
    assert set(compiled._catalog) - {""} <= ({m.id for m in _messages(catalog) if not m.pluralizable}
                                               | {(m.id[0], i) for m in _messages(catalog) if m.pluralizable
                                                  for i in (0, 1)})


def test_every_message_in_the_code_is_in_the_catalogue(catalog):
    method_map, options_map = parse_mapping_cfg((ROOT / "babel.cfg").open())
    extracted = {msgid for _, _, msgid, _, _ in extract_from_dir(str(ROOT), method_map, options_map)}
    in_code = {m if isinstance(m, str) else m[0] for m in extracted}
    in_po = {m.id if isinstance(m.id, str) else m.id[0] for m in _messages(catalog)}
    assert sorted(in_code - in_po) == [], "run the pybabel commands of docs/translating.md"
    assert sorted(in_po - in_code) == [], "messages no longer in the code: run pybabel update"


# -- choosing the language -------------------------------------------------------------------------------------

def _reading() -> str:
    # One CPU, two workers, slower than predicted: a reading with several caveats.
    return str(read_speedup(0.5, 2, cpus=1, predicted=0.9, runs=[1.0, 1.5]))


ENGLISH_READING = (
    "measured speedup 0.50x on 2 worker(s) sharing 1 usable CPU(s) (ideal 1x, efficiency 25%); "
    "cost model predicted 0.90x.\n"
    "  * One usable CPU (2 workers take turns on it): no parallel speedup can be measured here.")


def test_english_by_default_is_the_text_in_the_code():
    assert i18n.get_language() == "en"
    assert _reading().startswith(ENGLISH_READING)


def test_plsim_lang_fr_prints_the_french_reading(monkeypatch, catalog):
    monkeypatch.setenv("PLSIM_LANG", "fr")
    french = _reading()
    expected_head = catalog.get(
        "measured speedup {speedup:.2f}x on {workers} worker(s) sharing {cpus} usable "
        "CPU(s) (ideal {ideal}x, efficiency {efficiency:.0%})").string.format(
        speedup=0.5, workers=2, cpus=1, ideal=1, efficiency=0.25)
    assert french.startswith(expected_head)
    assert "mesurée" in french and "measured" not in french
    # The same numbers, formatted the same way, in both languages.
    monkeypatch.setenv("PLSIM_LANG", "en")
    english = _reading()
    for number in ("0.50x", "0.90x", "25%"):
        assert number in english and number in french


def test_set_language_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("PLSIM_LANG", "en")
    i18n.set_language("fr")
    assert i18n.get_language() == "fr"
    i18n.set_language(None)
    assert i18n.get_language() == "en"
    with pytest.raises(ValueError, match="language='de'.*'en', 'fr'"):
        i18n.set_language("de")


def test_locale_decides_without_an_explicit_choice(monkeypatch):
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    assert i18n.get_language() == "fr"
    monkeypatch.setenv("LC_ALL", "C.UTF-8")     # LC_ALL overrides LANG, as in gettext
    assert i18n.get_language() == "en"
    monkeypatch.setenv("PLSIM_LANG", "fr")
    assert i18n.get_language() == "fr"


def test_unknown_plsim_lang_warns_and_falls_back(monkeypatch):
    monkeypatch.setenv("PLSIM_LANG", "klingon")
    with pytest.warns(UserWarning, match="PLSIM_LANG='klingon'"):
        assert i18n.get_language() == "en"


_KERNEL_PROBE = ("import sys, types; sys.modules.setdefault('ipykernel', types.ModuleType('ipykernel'));"
                 "import plsim.i18n as i; print(i.get_language())")


def _language_in(env_extra: dict[str, str], cwd: Path, *, kernel: bool = True) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PLSIM_LANG", "JPY_SESSION_NAME", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    env.update(env_extra, PYTHONPATH=str(ROOT))
    code = _KERNEL_PROBE if kernel else "import plsim.i18n as i; print(i.get_language())"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_a_kernel_follows_its_notebooks_folder(tmp_path):
    (tmp_path / "fr").mkdir()
    # jupyter_server names the notebook in JPY_SESSION_NAME.
    assert _language_in({"JPY_SESSION_NAME": "/home/jovyan/notebooks/fr/01_speedup.ipynb"}, tmp_path) == "fr"
    assert _language_in({"JPY_SESSION_NAME": "/home/jovyan/notebooks/01_speedup.ipynb"}, tmp_path) == "en"
    assert _language_in({"JPY_SESSION_NAME": "notebooks/fr/assignments/source/a1/a1.ipynb"}, tmp_path) == "fr"
    # A checkout that happens to lie under some fr/ folder: the English notebooks stay English.
    assert _language_in({"JPY_SESSION_NAME": "/srv/fr/plsim/notebooks/01_speedup.ipynb"}, tmp_path) == "en"
    # A file called fr is no folder; the locale decides then.
    assert _language_in({"JPY_SESSION_NAME": "notebooks/fr", "LANG": "fr_FR.UTF-8"}, tmp_path) == "fr"
    assert _language_in({"JPY_SESSION_NAME": "notebooks/fr"}, tmp_path) == "en"
    # nbclient / nbval start the kernel in the notebook's folder, without JPY_SESSION_NAME.
    assert _language_in({}, tmp_path / "fr") == "fr"
    assert _language_in({}, tmp_path) == "en"
    # PLSIM_LANG wins over the folder.
    assert _language_in({"PLSIM_LANG": "en", "JPY_SESSION_NAME": "notebooks/fr/00_start_here.ipynb"},
                        tmp_path) == "en"
    # Outside a kernel (a script in a folder called fr) the folder says nothing.
    assert _language_in({}, tmp_path / "fr", kernel=False) == "en"


def _binds_underscore(func) -> bool:
    """Whether ``func`` itself (not a nested function or comprehension) assigns the name ``_``."""
    import ast

    args = func.args
    if any(a.arg == "_" for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a):
        return True
    stack = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp,
                             ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store):
            return True
        stack.extend(ast.iter_child_nodes(node))
    return False


_PARSE = ("import ast, pathlib, pickle, sys\n"
          "root = pathlib.Path(sys.argv[1])\n"
          "trees = [(str(p), ast.parse(p.read_text(encoding='utf-8'))) for p in sorted(root.rglob('*.py'))]\n"
          "sys.stdout.buffer.write(pickle.dumps(trees))\n")


@functools.lru_cache(maxsize=1)
def _plsim_trees() -> list:
    """``(path, syntax tree)`` of every module of plsim, parsed in a fresh interpreter: in a long test session
    CPython 3.11's ast.parse can fail with "SystemError: AST constructor recursion depth mismatch" (seen in CI
    after other tests had run), which says nothing about the code."""
    import pickle

    out = subprocess.run([sys.executable, "-c", _PARSE, str(ROOT / "plsim")], capture_output=True, check=True).stdout
    return [(Path(path), tree) for path, tree in pickle.loads(out)]


def test_no_function_that_translates_uses_underscore_as_a_throwaway_name():
    """``seq, _ = ...`` in a function that also calls ``_()`` makes ``_`` local there: TypeError or
    UnboundLocalError at the first message."""
    import ast

    bad = []
    for path, tree in _plsim_trees():
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)) and _binds_underscore(func):
                calls = [n for n in ast.walk(func) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                         and n.func.id == "_"]
                if calls:
                    bad.append(f"{path.relative_to(ROOT)}:{func.lineno} {func.name}")
    assert bad == []


def test_no_message_hides_in_an_f_string():
    """Babel cannot see ``_("...")`` inside an f-string on every Python: such a message would never reach the .po."""
    import ast

    hidden = []
    for path, tree in _plsim_trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                hidden += [f"{path.relative_to(ROOT)}:{node.lineno}" for n in ast.walk(node)
                           if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                           and n.func.id in ("_", "N_", "ngettext") and n.args and isinstance(n.args[0], ast.Constant)]
    assert hidden == []


def test_no_message_is_translated_at_import_time():
    """A ``_()`` at module or class level, or in a default argument, runs once at import: the language chosen
    later (set_language, a kernel in notebooks/fr/) would never reach it. Mark such constants with ``N_()`` and
    translate them where they are shown."""
    import ast

    early = []
    for path, tree in _plsim_trees():
        late: set[int] = set()
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                body = func.body if isinstance(func.body, list) else [func.body]
                late |= {id(n) for stmt in body for n in ast.walk(stmt)}
        early += [f"{path.relative_to(ROOT)}:{n.lineno}" for n in ast.walk(tree)
                  if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("_", "ngettext")
                  and id(n) not in late]
    assert early == []


_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e[-+]?\d+)?")


@pytest.mark.slow
def test_a_real_runs_reading_prints_the_same_numbers_in_french(client):
    """One measurement on the shared 2-worker cluster, read in English (the default) and in French: every
    sentence is translated, and the numbers are the same strings (the notebooks' key numbers are compared
    between the editions)."""
    import plsim.speedup as sp

    cal = sp.calibrate(executor=client, n_tasks=20, megabytes=1, repeats=1)
    res = sp.measure_speedup(sp.python_work, [sp.python_work_iterations(10)] * 4, executor=client, repeats=1,
                             warmup=0, calibration=cal)
    english = str(res) + "\n" + str(cal)
    assert "measured" in english and "Cost model (predicted)" in english
    i18n.set_language("fr")
    french = str(res) + "\n" + str(cal)
    i18n.set_language(None)
    assert str(res) + "\n" + str(cal) == english        # back to English, byte for byte
    assert "Modèle de coût (prédit)" in french and "mesuré" in french
    assert "Cost model" not in french and "measured" not in french
    assert sorted(_NUMBER.findall(french)) == sorted(_NUMBER.findall(english))

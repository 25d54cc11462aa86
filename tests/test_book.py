"""The course book (docs/build_book.py): both editions build with no warning, their links resolve,
every notebook page carries its executed outputs and launch buttons, and one page of each edition
opens in headless Chromium with its figures and formulas loaded and no console error.

The book is built once for the module from the notebooks the test suite executed under the Binder
profile (build/executed/<lang>/, written by tests/test_binder_profile.py, which runs earlier); a
notebook is executed here only when its executed copy is missing or stale (a run of this file alone).
The browser part needs Debian's chromium and playwright, as tests/test_browser.py does: without them it
skips with a loud reason, and fails where ``CI`` or ``PLSIM_REQUIRE_BROWSER`` is set.
"""

from __future__ import annotations

import base64
import functools
import html
import http.server
import json
import os
import re
import shutil
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import build_book  # noqa: E402

pytestmark = pytest.mark.slow

REPOSITORY = "https://github.com/plsim-test/plsim-course"
HUB = "https://hub.test.invalid"  # a hub of our own choosing: the launch buttons must use it


SHOT = ("02_ensembles", 0)  # the one widget given a screenshot here (a stand-in picture from docs/figures)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    work = tmp_path_factory.mktemp("book")
    shots = work / "screenshots"  # as tests/test_browser.py names them; not the real ones, whose presence varies
    shots.mkdir()
    shutil.copy(ROOT / "docs" / "figures" / "ensembles_plot_member_times.png", shots / f"{SHOT[0]}-panel{SHOT[1]}.png")
    log: list[str] = []
    report = build_book.build(list(build_book.LANGS), out=work / "site", work=work, repository=REPOSITORY,
                              hub=HUB, screenshots=shots, log=log.append)
    return {"site": work / "site", "report": report, "log": log}


def _executed(lang: str, notebook: Path) -> dict:
    return json.loads((build_book.EXECUTED / lang / notebook.name).read_text(encoding="utf-8"))


def _page(book, lang: str, notebook: Path) -> str:
    rel = build_book.NOTEBOOK_DIRS[lang] / (notebook.stem + ".html")
    return (book["site"] / lang / rel).read_text(encoding="utf-8")


def _outputs(nb: dict, predicate) -> int:
    return sum(1 for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []) if predicate(o))


def test_both_editions_build_without_warnings(book):
    # build() runs sphinx-build -W and raises on any output; here: what each edition holds.
    for lang in build_book.LANGS:
        notebooks = build_book.course_notebooks(lang)
        edition = book["report"]["editions"][lang]
        assert edition["notebooks"] == len(notebooks) >= 7
        # the notebooks + the landing page (README), the glossary, the figure gallery and the instructors' guide
        assert edition["pages"] == len(notebooks) + 4, edition
        for page in ("index.html", "glossary.html", "figures/index.html", "instructors.html"):
            assert (book["site"] / lang / page).is_file()
    assert "en/index.html" in (book["site"] / "index.html").read_text(encoding="utf-8")
    print(book["report"])


def test_internal_links_resolve(book):
    assert build_book.check_site(book["site"]) == []


def test_the_glossary_links_each_term_to_both_editions(book):
    # docs/glossary.md links a term's English and French sections; in the book each goes to its edition's
    # page (check_site, above, proves the anchors exist there).
    english = (book["site"] / "en" / "glossary.html").read_text(encoding="utf-8")
    french = (book["site"] / "fr" / "glossary.html").read_text(encoding="utf-8")
    for page, own, other in ((english, "notebooks/0", "../fr/notebooks/fr/0"), (french, "notebooks/fr/0", "../en/notebooks/0")):
        assert len(re.findall(f'href="{re.escape(own)}\\d_\\w+\\.html#', page)) >= 50
        assert len(re.findall(f'href="{re.escape(other)}\\d_\\w+\\.html#', page)) >= 50


def test_link_check_finds_broken_links_and_anchors(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "p.html").write_text('<h2 id="here">x</h2><a href="#here">ok</a><a href="../b.html#gone">b</a>'
                                           '<img src="missing.png"><a href="https://example.org/x">out</a>')
    (tmp_path / "b.html").write_text('<p id="there"></p><a href="a/p.html#here">ok</a><a href="/abs.html">abs</a>')
    problems = build_book.check_site(tmp_path)
    assert len(problems) == 3, problems
    assert any("#gone" in p for p in problems) and any("missing.png" in p for p in problems)
    assert any("absolute link '/abs.html'" in p for p in problems)


def test_notebook_pages_carry_the_executed_outputs(book):
    for lang in build_book.LANGS:
        for notebook in build_book.course_notebooks(lang):
            executed, page = _executed(lang, notebook), _page(book, lang, notebook)
            pngs = _outputs(executed, lambda o: "image/png" in o.get("data", {}))
            widgets = _outputs(executed, lambda o: build_book.WIDGET_MIME in o.get("data", {}))
            screenshot = int(notebook.stem == SHOT[0] and widgets > SHOT[1])
            shown = len(re.findall(r'<img[^>]+src="\.\./(?:\.\./)?_images/', page))
            assert shown == pngs + screenshot, f"{lang}/{notebook.name}: {pngs} figures run (+{screenshot}), {shown} shown"
            assert page.count("plsim-widget-note") == widgets, f"{lang}/{notebook.name}"
            assert page.count(build_book.SCREENSHOT_NOTE[lang][:30]) == screenshot, f"{lang}/{notebook.name}"
            assert "widget-view+json" not in page and "unpkg.com" not in page
    # the course draws figures and has widgets at all (the counts above are not all zero)
    english = build_book.course_notebooks("en")
    assert sum(_outputs(_executed("en", nb), lambda o: "image/png" in o.get("data", {})) for nb in english) >= 10
    assert sum(_page(book, "en", nb).count("plsim-widget-note") for nb in english) >= 5
    assert [book["report"]["editions"][lang]["widget_screenshots"] for lang in build_book.LANGS] == [1, 1]


def test_every_notebook_page_has_binder_and_hub_launch_buttons(book):
    for lang in build_book.LANGS:
        for notebook in build_book.course_notebooks(lang):
            path = notebook.relative_to(ROOT).as_posix()  # the file the buttons open, in the student branch
            links = {html.unescape(h) for h in re.findall(r'href="([^"]+)"', _page(book, lang, notebook))}
            lab = "plsim/fr/lab" if lang == "fr" else "lab"  # plsim.lab_language: JupyterLab in French
            binder = f"https://mybinder.org/v2/gh/plsim-test/plsim-course/student?urlpath={lab}/tree/{path}"
            hub = (f"{HUB}/hub/user-redirect/git-pull?repo=https%3A//github.com/plsim-test/plsim-course"
                   f"&urlpath={lab}/tree/plsim-course/{path}&branch=student")
            assert binder in links, f"{lang}/{notebook.name}: no Binder link {binder}"
            assert hub in links, f"{lang}/{notebook.name}: no JupyterHub link {hub}"


def test_the_french_edition_speaks_french(book):
    for lang in build_book.LANGS:
        page = _page(book, lang, build_book.course_notebooks(lang)[0])
        assert f'<html lang="{lang}"' in page
    french = _page(book, "fr", build_book.course_notebooks("fr")[0])
    assert "Recherche" in french and "Le cours" in french  # the theme's words and the book's own
    assert "English edition" in french and "Version française" in _page(book, "en", build_book.course_notebooks("en")[0])


def test_a_stale_executed_copy_is_not_used(tmp_path):
    notebook = build_book.course_notebooks("en")[0]
    stale = json.loads(notebook.read_text(encoding="utf-8"))
    stale["cells"][0]["source"] = "# an older version of this notebook"
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / notebook.name).write_text(json.dumps(stale), encoding="utf-8")
    with pytest.raises(build_book.BookError, match="no executed copy"):
        build_book.executed_copy(notebook, "en", tmp_path, execute=False, log=lambda *_: None)


def test_widget_outputs_become_a_note_and_dashboard_links_text():
    nb = {"metadata": {"widgets": {"state": {}}}, "cells": [{"cell_type": "code", "source": "", "outputs": [
        {"output_type": "display_data", "data": {build_book.WIDGET_MIME: {"model_id": "x"}, "text/plain": "W"}},
        {"output_type": "display_data", "data": {"text/html": 'see <a href="/user/s/proxy/8787/status">board</a>'
                                                              ' and <a href="https://dask.org">Dask</a>'}}]}]}
    static, replaced = build_book.for_the_book(nb, "fr")
    assert replaced == 1 and "widgets" not in static["metadata"] and "widgets" in nb["metadata"]
    first, second = static["cells"][0]["outputs"]
    assert build_book.SCREENSHOT_NOTE["fr"] not in first["data"]["text/html"]
    assert "Widget interactif" in first["data"]["text/html"] and build_book.WIDGET_MIME not in first["data"]
    assert second["data"]["text/html"] == 'see board and <a href="https://dask.org">Dask</a>'
    picture = ROOT / "docs" / "figures" / "speedup_plot_timeline.png"
    with_shot, _ = build_book.for_the_book(nb, "en", {0: picture})
    note, shot, _ = with_shot["cells"][0]["outputs"]
    assert html.escape(build_book.SCREENSHOT_NOTE["en"]) in note["data"]["text/html"]
    assert base64.b64decode(shot["data"]["image/png"]) == picture.read_bytes()


# -- one page of each edition in headless Chromium ------------------------------------------------------------


def _chromium():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        return None, f"the playwright package is not importable ({exc})"
    executable = os.environ.get("PLSIM_CHROMIUM") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium"))
    if not executable or not os.path.exists(executable):
        return None, "no chromium executable (looked at $PLSIM_CHROMIUM, /usr/bin/chromium, PATH)"
    return (sync_playwright, executable), ""


@pytest.fixture(scope="module")
def served(book):
    """The site over HTTP on 127.0.0.1, as GitHub Pages serves it (a sub-folder of a host)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=book["site"]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.browser
@pytest.mark.parametrize("lang", build_book.LANGS)
def test_a_page_opens_in_chromium_with_figures_and_no_console_error(book, served, lang, tmp_path):
    found, reason = _chromium()
    if found is None:
        message = f"BOOK BROWSER TEST NOT RUN: {reason}. Install with `apt-get install -y chromium` and `pip install playwright`."
        if os.environ.get("CI") or os.environ.get("PLSIM_REQUIRE_BROWSER"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    sync_playwright, executable = found
    notebook = next(nb for nb in build_book.course_notebooks(lang) if nb.stem.startswith("01_"))  # figures and math
    url = f"{served}/{lang}/{(build_book.NOTEBOOK_DIRS[lang] / notebook.stem).as_posix()}.html"
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
            page.goto(url, wait_until="networkidle")
            page.wait_for_function("document.querySelectorAll('mjx-container').length > 0", timeout=30_000)
            images = page.evaluate("[...document.images].map(i => ({src: i.getAttribute('src'),"
                                   " ok: i.complete && i.naturalWidth > 0}))")
            title = page.title()
            page.screenshot(path=str(tmp_path / f"book-{lang}.png"))
        finally:
            browser.close()
    figures = [i for i in images if "_images/" in i["src"]]
    assert len(figures) >= 3, f"{url}: {images}"
    assert all(i["ok"] for i in images), f"{url}: images not loaded: {[i for i in images if not i['ok']]}"
    assert problems == [], f"{url}: {problems}"
    assert notebook.stem[:2] in title

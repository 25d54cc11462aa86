"""Build the course book, in English and in French, as static HTML.

    python docs/build_book.py                      # both editions -> build/book/site/{en,fr}/, site/index.html
    python docs/build_book.py --lang fr            # one edition
    python docs/build_book.py --hub https://hub.my-university.edu --repository https://github.com/OWNER/REPO

Each edition is one Sphinx project (MyST-NB and the Jupyter Book theme, configured in docs/book/conf.py)
laid out in build/book/src/<lang>/ from the repository:

* the notebooks with their outputs, as the test suite executed them under the Binder profile
  (``build/executed/<lang>/<name>.ipynb``, see /work/coord/executed.md and tests/_binder_profile.py);
  where such a copy is missing or no longer matches the notebook's cells, this script executes the
  notebook itself the same way (one CPU, 2 GiB, through binder/start) and keeps the copy there;
  an interactive widget cannot run in a static page: its output is replaced by a note that says so and
  how to launch the page, with the widget's screenshot after a run where tests/test_browser.py took one
  (test-artifacts/screenshots/);
* the README's orientation (the landing page), the figure gallery (docs/figures/) and the instructors'
  guide (docs/instructors.md); the French edition takes docs/fr/<same file> where a translation exists;
* every notebook page gets the theme's launch buttons: Binder and a JupyterHub through nbgitpuller, both
  opening the student branch (``--hub`` / PLSIM_BOOK_HUB sets the hub's address).

Sphinx runs with ``-W``: any warning fails the build. Afterwards every link and image of the site that
points inside it is checked (``check_site``; tests/test_book.py uses it too).
"""

from __future__ import annotations

import argparse
import base64
import copy
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "docs" / "book"
BUILD = ROOT / "build" / "book"
EXECUTED = ROOT / "build" / "executed"
LANGS = ("en", "fr")

# Where each edition's notebooks live in the repository; the book keeps the same paths, so that a
# page's launch button opens the same file in the student branch.
NOTEBOOK_DIRS = {"en": Path("notebooks"), "fr": Path("notebooks") / "fr"}

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = {
    "en": ("Interactive widget", "It runs in JupyterLab, not in this static page: launch this notebook on Binder "
           "or on your JupyterHub (the rocket button at the top of the page) to use it."),
    "fr": ("Widget interactif", "Il fonctionne dans JupyterLab, pas dans cette page statique : lancez ce notebook "
           "sur Binder ou sur votre JupyterHub (le bouton en forme de fusée en haut de la page) pour l'utiliser."),
}
SCREENSHOT_NOTE = {
    "en": "Below: the widget in JupyterLab after a run with its default settings (a screenshot taken by the "
          "test suite's browser test).",
    "fr": "Ci-dessous : le widget dans JupyterLab après une exécution avec ses réglages par défaut (capture de "
          "l'édition anglaise, prise par le test de navigateur de la suite de tests).",
}
# tests/test_browser.py runs every widget of notebooks/ in JupyterLab and saves each panel after its first run
# as <notebook>-panel<k>.png (k: the widget's rank in the notebook); the book shows it under the note.
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
MATHJAX_PARTS = ("output/chtml", "input/tex/extensions", "ui", "a11y")
CAPTIONS = {"en": ("The course", "For instructors and reference"),
            "fr": ("Le cours", "Pour les enseignants, et références")}
FALLBACK_NOTE = {"fr": "*Cette page n'est pas encore traduite ; voici la version anglaise.*\n\n"}


class BookError(RuntimeError):
    """The book could not be built (a warning, a missing notebook, a broken link)."""


# ---------------------------------------------------------------------------------------------------
# The notebooks


def course_notebooks(lang: str) -> list[Path]:
    """The lessons of an edition, in reading order (repository paths); assignments are not in the book."""
    return sorted((ROOT / NOTEBOOK_DIRS[lang]).glob("[0-9][0-9]_*.ipynb"))


def _cell_sources(nb: dict) -> list[tuple[str, str]]:
    return [(c["cell_type"], c["source"] if isinstance(c["source"], str) else "".join(c["source"]))
            for c in nb["cells"]]


def executed_copy(source: Path, lang: str, executed_dir: Path, *, execute: bool = True,
                  log=print) -> dict:
    """The executed notebook for ``source``: the test suite's copy if it matches, else a fresh Binder-profile run."""
    source_nb = json.loads(source.read_text(encoding="utf-8"))
    target = executed_dir / lang / source.name
    if target.exists():
        done = json.loads(target.read_text(encoding="utf-8"))
        if _cell_sources(done) == _cell_sources(source_nb):
            return done
        log(f"  {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}: stale (cells differ "
            f"from {source.relative_to(ROOT)}), executing again")
    if not execute:
        raise BookError(f"no executed copy of {source.relative_to(ROOT)} in {executed_dir / lang} "
                        "(run the test suite, or build without --no-execute)")
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from _binder_profile import run_notebook  # the test suite's own Binder-profile runner
    finally:
        sys.path.remove(str(ROOT / "tests"))
    target.parent.mkdir(parents=True, exist_ok=True)
    log(f"  executing {source.relative_to(ROOT)} under the Binder profile ...")
    run = run_notebook(source, output_dir=target.parent)
    if run.returncode != 0 or run.executed is None:
        raise BookError(f"{source.relative_to(ROOT)} failed under the Binder profile:\n{run.error}")
    log(f"  {source.relative_to(ROOT)}: {run.seconds:.0f} s, peak {run.peak_mib:.0f} MiB")
    return run.executed


def _widget_note(lang: str, screenshot: Path | None) -> list[dict]:
    title, text = WIDGET_NOTE[lang]
    if screenshot is not None:
        text = f"{text} {SCREENSHOT_NOTE[lang]}"
    body = (f'<div class="admonition note plsim-widget-note"><p class="admonition-title">{html.escape(title)}</p>'
            f"<p>{html.escape(text)}</p></div>")
    outputs = [{"output_type": "display_data", "metadata": {}, "data": {"text/html": body, "text/plain": title}}]
    if screenshot is not None:
        png = base64.b64encode(screenshot.read_bytes()).decode("ascii")
        outputs.append({"output_type": "display_data", "metadata": {}, "data": {"image/png": png}})
    return outputs


def widget_screenshots(notebook: Path, screenshots: Path | None) -> dict[int, Path]:
    """The browser test's screenshots of a notebook's widgets, by rank (the English notebook's, for both editions)."""
    if screenshots is None:
        return {}
    found = {}
    for path in screenshots.glob(f"{notebook.stem}-panel*.png"):
        rank = path.stem.rsplit("-panel", 1)[1]
        if rank.isdigit():
            found[int(rank)] = path
    return found


# A link in an output to the run's own Dask dashboard (a path behind the Binder proxy, or localhost): that
# dashboard ended with the run, so the book keeps the link's text and drops the link.
DEAD_LINK = re.compile(r"""<a\b[^>]*\bhref=["'](?:/|https?://(?:127\.0\.0\.1|localhost)[:/])[^"']*["'][^>]*>(.*?)</a>""",
                       re.S | re.I)


def _html(out: dict) -> None:
    data = out.get("data", {})
    if "text/html" in data:
        text = data["text/html"] if isinstance(data["text/html"], str) else "".join(data["text/html"])
        data["text/html"] = DEAD_LINK.sub(r"\1", text)


def for_the_book(nb: dict, lang: str, screenshots: dict[int, Path] | None = None) -> tuple[dict, int]:
    """A static copy of an executed notebook: widget views become a note, saved widget state is dropped,
    links to the run's Dask dashboard become plain text. ``screenshots`` (widget rank -> PNG) adds a picture
    of the widget under its note.

    Returns the copy and how many widgets it replaced.
    """
    nb = copy.deepcopy(nb)
    nb.get("metadata", {}).pop("widgets", None)  # no widget manager (and no CDN script) in the page
    replaced = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            if WIDGET_MIME in out.get("data", {}):
                outputs.extend(_widget_note(lang, (screenshots or {}).get(replaced)))
                replaced += 1
            else:
                _html(out)
                outputs.append(out)
        cell["outputs"] = outputs
    return nb, replaced


# ---------------------------------------------------------------------------------------------------
# The prose pages


LINK = re.compile(r"(!?\[[^\]]*\])\(([^)\s]+)\)")


def rewrite_links(text: str, origin: Path, pages: dict[Path, str], repository: str, here: str,
                  other_pages: dict[Path, str] | None = None) -> str:
    """Point a page's relative links at the book's pages, and the rest of the repository at GitHub.

    ``origin`` is the page's repository path, ``pages`` maps repository paths to book paths,
    ``here`` is the page's own book path. ``other_pages`` maps repository paths to pages of the other
    edition, relative to the site's root (the glossary links each term to its section in both editions);
    such a link is written as HTML, since it leaves this edition's Sphinx project.
    """
    here_dir = Path(here).parent

    def repl(m: re.Match) -> str:
        label, target = m.group(1), m.group(2)
        parts = urlsplit(target)
        if parts.scheme or target.startswith("#") or target.startswith("mailto:"):
            return m.group(0)
        repo_path = Path(os.path.normpath(origin.parent / unquote(parts.path)))
        anchor = f"#{parts.fragment}" if parts.fragment else ""
        if repo_path in pages:
            rel = os.path.relpath(pages[repo_path], here_dir)
            return f"{label}({rel}{anchor})"
        if other_pages and repo_path in other_pages and not label.startswith("!"):
            href = os.path.relpath(Path("..") / other_pages[repo_path], here_dir)
            text = re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(label[1:-1], quote=False))
            return f'<a href="{html.escape(href)}{html.escape(anchor)}">{text}</a>'

        kind = "tree" if (ROOT / repo_path).is_dir() else "blob"
        return f"{label}({repository}/{kind}/main/{repo_path.as_posix()}{anchor})"

    return LINK.sub(repl, text)


def readme_orientation(lang: str) -> tuple[str, Path]:
    """The landing page's text and its origin.

    English: the README. French: docs/fr/README.md where it exists, else the README's French section
    (« ## ... en français », made the page's title), else the English README under a note.
    """
    french = ROOT / "docs" / "fr" / "README.md"
    if lang == "fr" and french.exists():
        return french.read_text(encoding="utf-8"), french.relative_to(ROOT)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    if lang == "fr":
        section = re.search(r"^## ([^\n]*français[^\n]*)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S | re.I)
        if section:
            return f"# {section.group(1)}\n{section.group(2)}", Path("README.md")
        text = FALLBACK_NOTE["fr"] + text
    return text, Path("README.md")


def _page(lang: str, english: str) -> tuple[str, Path]:
    """A prose page of an edition: its translation under docs/fr/ where one exists, else the English."""
    path = ROOT / english
    if lang == "fr":
        french = ROOT / "docs" / "fr" / Path(english).relative_to("docs")
        if french.exists():
            return french.read_text(encoding="utf-8"), french.relative_to(ROOT)
        return FALLBACK_NOTE["fr"] + path.read_text(encoding="utf-8"), Path(english)
    return path.read_text(encoding="utf-8"), Path(english)


def gallery_page(text: str) -> str:
    """The gallery's table, followed by every figure it lists, shown."""
    names = re.findall(r"^\| \[([\w.]+\.png)\]", text, flags=re.M)
    shown = "\n\n".join(f"### {name[:-4]}\n\n![{name}]({name})" for name in names)
    return f"{text.rstrip()}\n\n## {'Figures'}\n\n{shown}\n"


def link_notebook_names(text: str, lang: str) -> str:
    """The README's table of notebooks: each name links to its page."""
    folder = NOTEBOOK_DIRS[lang].as_posix()
    return re.sub(r"^\| `(\d\d_\w+)` \|", lambda m: f"| [`{m.group(1)}`]({folder}/{m.group(1)}.ipynb) |",
                  text, flags=re.M)


# ---------------------------------------------------------------------------------------------------
# One edition


def other_edition_pages(lang: str) -> dict[Path, str]:
    """The other edition's pages: repository path -> path of its HTML page from the site's root.

    Its lessons, and its own translation of the instructors' guide (docs/fr/instructors.md is the French
    edition's guide; the English guide is the English edition's).
    """
    other = next(o for o in LANGS if o != lang)
    pages = {nb.relative_to(ROOT): f"{other}/{(NOTEBOOK_DIRS[other] / nb.stem).as_posix()}.html"
             for nb in course_notebooks(other)}
    guide = Path("docs/fr/instructors.md") if other == "fr" else Path("docs/instructors.md")
    if (ROOT / guide).exists():
        pages[guide] = f"{other}/instructors.html"
    pages[NOTEBOOK_DIRS[other]] = f"{other}/index.html"  # "the notebooks in notebooks/fr/": that edition
    if other == "en":
        pages[Path("README.md")] = "en/index.html"
    return pages


def lay_out(lang: str, src: Path, *, executed_dir: Path, execute: bool, repository: str,
            langs: tuple[str, ...] = LANGS, screenshots: Path | None = SCREENSHOTS, log=print) -> dict:
    """Write the Sphinx source folder of one edition; return what it holds."""
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    nb_dir = NOTEBOOK_DIRS[lang]
    notebooks = course_notebooks(lang)
    if not notebooks:
        raise BookError(f"no notebooks in {nb_dir} for the {lang} edition")

    widgets = shown = 0
    for source in notebooks:
        shots = widget_screenshots(ROOT / NOTEBOOK_DIRS["en"] / source.name, screenshots)
        nb, n = for_the_book(executed_copy(source, lang, executed_dir, execute=execute, log=log), lang, shots)
        widgets += n
        shown += len([k for k in shots if k < n])
        out = src / nb_dir / source.name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")

    # Repository path -> book path of every page, for the links between them.
    gallery_text, gallery_origin = _page(lang, "docs/figures/README.md")
    guide_text, guide_origin = _page(lang, "docs/instructors.md")
    front_text, front_origin = readme_orientation(lang)
    glossary_text, glossary_origin = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8"), Path("docs/glossary.md")
    # (A translated guide replaces the English one in its edition; a link to the English guide from it goes
    # to the English edition, not to the page itself.)
    # The French landing page may be only the README's French section: a link to the README then goes to
    # the English edition's landing page, which is the whole README.
    whole_readme = lang == "en" or front_text.startswith(FALLBACK_NOTE["fr"])
    pages = {front_origin: "index.md"} if front_origin != Path("README.md") or whole_readme else {}
    pages.update({Path("docs/figures/README.md"): "figures/index.md", gallery_origin: "figures/index.md",
                  guide_origin: "instructors.md", glossary_origin: "glossary.md"})
    other = other_edition_pages(lang) if len(langs) > 1 else None
    for source in notebooks:
        pages[source.relative_to(ROOT)] = (nb_dir / source.name).as_posix()

    (src / "figures").mkdir()
    for png in sorted((ROOT / "docs" / "figures").glob("*.png")):
        shutil.copy2(png, src / "figures" / png.name)
    (src / "figures" / "index.md").write_text(
        rewrite_links(gallery_page(gallery_text), gallery_origin, pages, repository, "figures/index.md"),
        encoding="utf-8")
    (src / "instructors.md").write_text(
        rewrite_links(guide_text, guide_origin, pages, repository, "instructors.md", other), encoding="utf-8")
    (src / "glossary.md").write_text(
        rewrite_links(glossary_text, glossary_origin, pages, repository, "glossary.md", other), encoding="utf-8")

    # Images the landing page shows (docs/screenshot.png) are copied next to it.
    front = rewrite_links(link_notebook_names(front_text, lang), front_origin, pages, repository, "index.md", other)
    for m in LINK.finditer(front_text):
        if m.group(1).startswith("!") and not urlsplit(m.group(2)).scheme:
            image = Path(os.path.normpath(front_origin.parent / m.group(2)))
            (src / image).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / image, src / image)
            front = front.replace(f"]({repository}/blob/main/{image.as_posix()})", f"]({image.as_posix()})")
    course, reference = CAPTIONS[lang]
    toc = (f"\n\n```{{toctree}}\n:hidden:\n:caption: {course}\n\n"
           + "\n".join((nb_dir / s.stem).as_posix() for s in notebooks)
           + f"\n```\n\n```{{toctree}}\n:hidden:\n:caption: {reference}\n\nglossary\nfigures/index\ninstructors\n```\n")
    (src / "index.md").write_text(front.rstrip() + toc, encoding="utf-8")

    # MathJax, served from the book (see conf.py): the es5 files of the django-static-mathjax package.
    import mathjax

    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    (src / "_static" / "mathjax").mkdir(parents=True)
    shutil.copy2(es5 / "tex-chtml.js", src / "_static" / "mathjax")
    for part in MATHJAX_PARTS:  # what tex-chtml.js loads on demand (its fonts, TeX extensions, menu)
        shutil.copytree(es5 / part, src / "_static" / "mathjax" / part)
    return {"notebooks": len(notebooks), "widgets_replaced": widgets, "widget_screenshots": shown}


def sphinx_build(lang: str, src: Path, out: Path, doctrees: Path, env: dict[str, str]) -> None:
    if out.exists():
        shutil.rmtree(out)
    if doctrees.exists():
        shutil.rmtree(doctrees)
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", "-n",
               "-c", str(CONF_DIR), "-d", str(doctrees), str(src), str(out)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    noise = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or noise:
        raise BookError(f"sphinx-build failed for the {lang} edition (warnings are errors):\n{noise}")


# ---------------------------------------------------------------------------------------------------
# Checking the site


HREF = re.compile(r"""<(?:a|link|img|script|source)\b[^>]*?\b(?:href|src)=["']([^"']+)["']""", re.I)
IDS = re.compile(r"""\bid=["']([^"']+)["']""")


def check_site(site: Path) -> list[str]:
    """Every link and image of the site that points inside it resolves (files and #anchors).

    Links to other sites are not followed (the check runs offline). Returns the problems found.
    """
    problems: list[str] = []
    ids: dict[Path, set[str]] = {}

    def anchors(page: Path) -> set[str]:
        if page not in ids:
            ids[page] = set(IDS.findall(page.read_text(encoding="utf-8", errors="replace")))
        return ids[page]

    for page in sorted(site.rglob("*.html")):
        if "_static" in page.relative_to(site).parts:  # the theme's template macros, not pages
            continue
        text = page.read_text(encoding="utf-8", errors="replace")
        for target in HREF.findall(text):
            target = html.unescape(target)
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or target.startswith(("mailto:", "javascript:", "data:")):
                continue
            if parts.path.startswith("/"):
                problems.append(f"{page.relative_to(site)}: absolute link {target!r} (breaks under a project site)")
                continue
            dest = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if parts.path and dest.is_dir():
                dest = dest / "index.html"
            if not dest.exists():
                problems.append(f"{page.relative_to(site)}: broken link {target!r}")
            elif parts.fragment and dest.suffix == ".html" and parts.fragment not in anchors(dest):
                problems.append(f"{page.relative_to(site)}: no anchor #{parts.fragment} in "
                                f"{dest.relative_to(site.resolve()) if dest.is_relative_to(site.resolve()) else dest}")
    return problems


def _git_repository() -> str | None:
    """The GitHub repository this checkout comes from, as https://github.com/OWNER/REPO, if any."""
    if os.environ.get("GITHUB_REPOSITORY"):
        return f"https://github.com/{os.environ['GITHUB_REPOSITORY']}"
    try:
        url = subprocess.run(["git", "-C", str(ROOT), "remote", "get-url", "origin"], capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    m = re.match(r"(?:https://github\.com/|git@github\.com:)([^/]+)/(.+?)(?:\.git)?$", url)
    return f"https://github.com/{m.group(1)}/{m.group(2)}" if m else None


def _landing(site: Path, langs: list[str]) -> None:
    links = "".join(f'<li><a href="{lang}/index.html">{name}</a></li>'
                    for lang, name in (("en", "English"), ("fr", "Français")) if lang in langs)
    first = langs[0]
    (site / "index.html").write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>plsim</title>'
        f'<meta http-equiv="refresh" content="0; url={first}/index.html"></head>'
        f"<body><h1>plsim</h1><ul>{links}</ul></body></html>\n", encoding="utf-8")
    (site / ".nojekyll").write_text("", encoding="utf-8")


def build(langs: list[str], *, out: Path = BUILD / "site", executed_dir: Path = EXECUTED, execute: bool = True,
          repository: str | None = None, hub: str | None = None, binder: str | None = None,
          branch: str = "student", work: Path = BUILD, screenshots: Path | None = SCREENSHOTS, log=print) -> dict:
    """Build the given editions into ``out/<lang>/``; return per-edition counts and the time taken.

    The Sphinx sources and doctrees go to ``work/src/<lang>`` and ``work/doctrees/<lang>``.
    """
    repository = repository or os.environ.get("PLSIM_BOOK_REPOSITORY") or _git_repository() \
        or "https://github.com/OWNER/REPO"
    hub = hub or os.environ.get("PLSIM_BOOK_HUB") or "https://hub.example.org"
    binder = binder or os.environ.get("PLSIM_BOOK_BINDER") or "https://mybinder.org"
    if not re.match(r"https://github\.com/[^/]+/[^/]+$", repository):
        raise BookError(f"repository must be https://github.com/OWNER/REPO (the launch buttons need it), "
                        f"got {repository!r}")
    for name, url in (("hub", hub), ("binder", binder)):
        if not re.match(r"https?://[^/\s]+", url):
            raise BookError(f"{name} must be an http(s) address, got {url!r}")
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"repository": repository, "hub": hub, "binder": binder, "editions": {}}
    for lang in langs:
        start = time.perf_counter()
        src = work / "src" / lang
        log(f"[{lang}] laying out {src}")
        info = lay_out(lang, src, executed_dir=executed_dir, execute=execute, repository=repository,
                       langs=tuple(langs), screenshots=screenshots, log=log)
        env = dict(os.environ, PLSIM_BOOK_LANG=lang, PLSIM_BOOK_REPOSITORY=repository, PLSIM_BOOK_HUB=hub,
                   PLSIM_BOOK_BINDER=binder, PLSIM_BOOK_BRANCH=branch,
                   PLSIM_BOOK_STATIC=str(src / "_static"))
        if any(other != lang for other in langs):
            env["PLSIM_BOOK_OTHER"] = "1"
        log(f"[{lang}] sphinx-build")
        sphinx_build(lang, src, out / lang, work / "doctrees" / lang, env)
        pages = [p for p in (out / lang).rglob("*.html")
                 if not p.relative_to(out / lang).parts[0].startswith("_") and p.name not in ("search.html", "genindex.html")]
        info.update(pages=len(pages), seconds=round(time.perf_counter() - start, 1))
        report["editions"][lang] = info
        log(f"[{lang}] {info['pages']} pages ({info['notebooks']} notebooks, {info['widgets_replaced']} widgets "
            f"shown as a note, {info['widget_screenshots']} with a screenshot) in {info['seconds']} s")
    _landing(out, langs)
    problems = check_site(out)
    if problems:
        raise BookError("broken links in the book:\n" + "\n".join(problems[:50]))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", choices=LANGS, action="append", help="an edition to build (default: both)")
    parser.add_argument("--out", type=Path, default=BUILD / "site", help="where the site goes (default: build/book/site)")
    parser.add_argument("--executed", type=Path, default=EXECUTED,
                        help="the executed notebooks, <dir>/<lang>/<name>.ipynb (default: build/executed)")
    parser.add_argument("--work", type=Path, default=BUILD,
                        help="where the Sphinx sources and doctrees go (default: build/book)")
    parser.add_argument("--no-execute", action="store_true",
                        help="fail instead of executing a notebook whose executed copy is missing")
    parser.add_argument("--screenshots", type=Path, default=SCREENSHOTS,
                        help="the browser test's widget screenshots (default: test-artifacts/screenshots)")
    parser.add_argument("--repository", help="https://github.com/OWNER/REPO (default: $GITHUB_REPOSITORY or git's origin)")
    parser.add_argument("--hub", help="the JupyterHub of the launch buttons (default: $PLSIM_BOOK_HUB)")
    parser.add_argument("--binder", help="the BinderHub of the launch buttons (default: https://mybinder.org)")
    parser.add_argument("--branch", default="student", help="the branch the launch buttons open (default: student)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        report = build(args.lang or list(LANGS), out=args.out.resolve(), executed_dir=args.executed.resolve(),
                       execute=not args.no_execute, repository=args.repository, hub=args.hub, binder=args.binder,
                       branch=args.branch, work=args.work.resolve(), screenshots=args.screenshots.resolve())
    except BookError as err:
        print(f"build_book: {err}", file=sys.stderr)
        return 1
    print(f"book: {args.out}/index.html in {time.perf_counter() - start:.0f} s "
          f"(repository {report['repository']}, hub {report['hub']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

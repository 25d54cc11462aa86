"""Sphinx configuration of the course book (both editions); docs/build_book.py drives it.

The book is built with Sphinx, MyST-NB (MyST markdown and notebooks) and the Jupyter Book theme
(sphinx-book-theme), the stack of Jupyter Book 1. ``docs/build_book.py`` lays out one source folder per
edition and runs ``sphinx-build -W -c docs/book SOURCE OUT`` with the settings below taken from the
environment it sets (``PLSIM_BOOK_*``); run that script, not sphinx-build by hand.
"""

from __future__ import annotations

import os

LANG = os.environ.get("PLSIM_BOOK_LANG", "en")
REPOSITORY = os.environ.get("PLSIM_BOOK_REPOSITORY", "https://github.com/OWNER/REPO")
BRANCH = os.environ.get("PLSIM_BOOK_BRANCH", "student")
BINDER = os.environ.get("PLSIM_BOOK_BINDER", "https://mybinder.org")
HUB = os.environ.get("PLSIM_BOOK_HUB", "https://hub.example.org")

TITLES = {
    "en": "plsim — parallel learning on a real Dask cluster",
    "fr": "plsim — apprentissage parallèle sur un vrai cluster Dask",
}
OTHER_EDITION = {  # the link to the other language's book, in this edition's language
    "en": {"href": "fr/index.html", "text": "Version française"},
    "fr": {"href": "en/index.html", "text": "English edition"},
}

project = "plsim"
author = "the plsim developers"
copyright = "the plsim developers, BSD-3-Clause"
language = LANG  # Sphinx's and the theme's own words (search, navigation, "Launch on") in French for fr
html_title = TITLES[LANG]

extensions = ["myst_nb"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
# Links to #section-names resolve (README, guide, glossary), with MyST-Parser's GitHub-style slugs, which
# docs/glossary.md uses (tests/test_glossary.py derives them the same way); they are also the pages' HTML ids.
myst_heading_anchors = 3
nb_execution_mode = "off"  # the notebooks arrive executed (under the Binder profile); never run them here
nb_merge_streams = True

root_doc = "index"
exclude_patterns = ["_build", "_static", "**.ipynb_checkpoints"]
templates_path = ["_templates"]  # relative to this folder (the configuration directory)
# MathJax, copied by build_book.py into the source folder's _static/ (which is not a page folder).
html_static_path = [os.environ["PLSIM_BOOK_STATIC"]] if os.environ.get("PLSIM_BOOK_STATIC") else []

# MathJax 3 served from the book itself (no CDN: the book reads offline, and the browser test sees no
# failed request); build_book.py copies it from the django-static-mathjax package (MathJax's es5 files).
mathjax_path = "mathjax/tex-chtml.js"

html_theme = "sphinx_book_theme"
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": BRANCH,  # launch buttons open the student edition, as the README's links do
    "path_to_docs": "",  # the source folder mirrors the repository: notebooks/..., notebooks/fr/...
    "launch_buttons": {
        "binderhub_url": BINDER,
        "jupyterhub_url": HUB,  # nbgitpuller link: .../hub/user-redirect/git-pull?repo=...&branch=...
        "notebook_interface": "jupyterlab",
    },
    "use_download_button": True,
    "home_page_in_toc": True,
    "show_toc_level": 2,
}
html_sidebars = {
    "**": ["navbar-logo.html", "sbt-sidebar-nav.html", "plsim-edition.html"],
}
# The other edition is linked only when it is built beside this one (build_book.py says so).
html_context = {"plsim_other_edition": OTHER_EDITION[LANG] if os.environ.get("PLSIM_BOOK_OTHER") else None,
                # the theme's light/dark switch starts from "auto" (left empty, its script logs an error)
                "default_mode": "auto"}
html_show_sourcelink = False
html_favicon = "favicon.svg"  # (without one, browsers ask the server root for /favicon.ico)
html_last_updated_fmt = None


def _french_interface(app, pagename, templatename, context, doctree):
    """French pages launch JupyterLab in French: ``urlpath=plsim/fr/lab/tree/...`` (plsim.lab_language)."""
    for group in context.get("header_buttons", []):
        if group.get("label") == "launch-buttons":
            for button in group["buttons"]:
                button["url"] = button["url"].replace("urlpath=lab/tree/", "urlpath=plsim/fr/lab/tree/")


def setup(app):
    if LANG == "fr":
        app.connect("html-page-context", _french_interface, priority=900)  # after the theme made the buttons

"""Heading anchors as Jupyter Book 2 (mystmd) writes them, for the book's Sphinx build.

docs/glossary.md links each term to its notebook section by the anchor mystmd derives from the heading
(``## 2 · From FedSGD to FedAvg`` -> ``#id-2-from-fedsgd-to-fedavg``); MyST-Parser uses this function for
its heading anchors (``myst_heading_slug_func``), so the same links resolve in this book, and it emits them
as HTML ids. The algorithm is mystmd's normalizeLabel then createHtmlId (tests/test_glossary.py has it too).
"""

from __future__ import annotations

import re


def html_id(title: str) -> str:
    label = re.sub(r"['‘’\"“”]+", "", re.sub(r"[\t\n\r ]+", " ", title)).strip().lower()
    slug = re.sub(r"[^a-z0-9-]", "-", label)
    slug = re.sub(r"^([0-9-])", r"id-\1", slug)
    slug = re.sub(r"-[-]+", "-", slug)
    return re.sub(r"(?:^[-]+)|(?:[-]+$)", "", slug)

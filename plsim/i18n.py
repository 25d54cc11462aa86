"""The library's messages in the student's language: gettext catalogues managed with Babel.

Everything a student reads from a run -- the readings under a measured speedup
("measured", "predicted", "simulated", why a speedup fell short), lesson
readings, widget labels and tooltips, exercise verdicts, progress and stop
messages, plot titles and axes -- goes through :func:`_` (or :func:`ngettext`
where a count decides the plural). Errors raised to programmers
(``ValueError``/``TypeError``) stay in English, as Python's own do.

The language is looked up at each message, in this order:

1. :func:`set_language` (``plsim.set_language("fr")`` in a script);
2. the ``PLSIM_LANG`` environment variable (``en`` or ``fr``);
3. in a Jupyter kernel, the notebook's folder: jupyter_server gives the kernels it
   starts the notebook's path in ``JPY_SESSION_NAME``, and a notebook under a
   ``fr/`` folder (the French edition is ``notebooks/fr/``; the search stops at the
   course's ``notebooks/`` folder) means French. Kernels
   started by nbclient / nbval (no ``JPY_SESSION_NAME``) run in the notebook's
   folder, so their working directory is read the same way;
4. the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``, as gettext reads them);
5. English.

The French notebooks' code cells are the English ones, so the language cannot
be set in a code cell: it follows where the notebook is. English is the
catalogue's source language: its messages are the strings in the code, byte for
byte. Numbers are formatted by Python's format specs inside the messages
(``{speedup:.2f}``), not by the locale, so a French run prints the same digits
as an English one.

Catalogue: ``plsim/locale/fr/LC_MESSAGES/plsim.po`` (compiled ``plsim.mo`` beside
it, shipped as package data); how to update it: ``docs/translating.md``.
"""

from __future__ import annotations

import gettext as _gettext
import os
import sys
import warnings
from pathlib import Path, PurePath

__all__ = ["_", "tr", "N_", "ngettext", "set_language", "get_language", "LANGUAGES", "DOMAIN", "LOCALE_DIR"]

DOMAIN = "plsim"
NOTEBOOK_DOMAIN = "notebooks"
"""The catalogue of what the notebooks' code cells print through :func:`tr` (built from the notebooks)."""
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("en", "fr")
"""The languages the library speaks; English is the source language of the catalogue."""

_chosen: str | None = None
_catalogues: dict[str, _gettext.NullTranslations] = {}
_warned: set[str] = set()


def _normalize(value: str) -> str | None:
    """``"fr"``, ``"fr_FR.UTF-8"``, ``"fr-CA"`` -> ``"fr"``; a language plsim does not speak -> None."""
    code = value.strip().split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    return code if code in LANGUAGES else None


def set_language(language: str | None) -> None:
    """Choose the language of plsim's messages for this process (``"en"`` or ``"fr"``).

    ``None`` goes back to the automatic choice (``PLSIM_LANG``, the notebook's
    folder, the locale). The French notebooks need none of this: they follow
    their folder.
    """
    global _chosen
    if language is None:
        _chosen = None
        return
    if not isinstance(language, str) or _normalize(language) is None:
        raise ValueError(f"language={language!r} is not one plsim speaks: use one of {list(LANGUAGES)} "
                         "(or None for the automatic choice)")
    _chosen = _normalize(language)


def _in_kernel() -> bool:
    return "ipykernel" in sys.modules


def _notebook_language() -> str | None:
    """French when the running notebook lies under a ``fr/`` folder, else None (no opinion)."""
    if not _in_kernel():
        return None
    path = os.environ.get("JPY_SESSION_NAME") or ""
    folders: tuple[str, ...]
    if path:
        folders = PurePath(path).parts[:-1]
    else:
        try:
            folders = Path.cwd().parts
        except OSError:   # the working folder was removed
            return None
    # The nearest language folder above the notebook decides; the course's notebooks/ folder ends the search,
    # so a checkout that happens to lie under some other fr/ folder stays English.
    for folder in reversed(folders):
        if folder == "fr":
            return "fr"
        if folder == "notebooks":
            return None
    return None


def _locale_language() -> str | None:
    # gettext's own order: the first of these that is set decides.
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            return _normalize(value.split(":")[0])
    return None


def get_language() -> str:
    """The language plsim speaks now: ``"en"`` or ``"fr"`` (see the module's docstring for the order)."""
    if _chosen is not None:
        return _chosen
    explicit = os.environ.get("PLSIM_LANG", "").strip()
    if explicit:
        language = _normalize(explicit)
        if language is not None:
            return language
        if explicit not in _warned:
            _warned.add(explicit)
            warnings.warn(f"PLSIM_LANG={explicit!r} is not a language plsim speaks ({', '.join(LANGUAGES)}); "
                          "using the notebook's folder or the locale", stacklevel=3)
    return _notebook_language() or _locale_language() or "en"


def catalogue(language: str | None = None) -> _gettext.NullTranslations:
    """The compiled catalogue of ``language`` (default: :func:`get_language`); English is the identity."""
    language = get_language() if language is None else language
    found = _catalogues.get(language)
    if found is None:
        if language == "en":
            found = _gettext.NullTranslations()
        else:
            found = _gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)
            # then what the notebooks' code cells print (docs/make_french_edition.py compiles it)
            found.add_fallback(_gettext.translation(NOTEBOOK_DOMAIN, LOCALE_DIR, languages=[language], fallback=True))
        _catalogues[language] = found
    return found


def _(message: str) -> str:
    """``message`` in the current language (unchanged in English)."""
    return catalogue().gettext(message)


def tr(message: str) -> str:
    """:func:`_` under the name the notebooks use (IPython keeps ``_`` for the last output): a code cell
    prints ``tr("{n} workers").format(n=n)``, and the French edition, whose code cells are the same,
    prints the French of it."""
    return catalogue().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n``, in the current language."""
    return catalogue().ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a message for extraction without translating it yet (module-level constants); pass it to :func:`_`
    where it is shown."""
    return message

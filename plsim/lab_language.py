"""Open JupyterLab in French (or English) from a link: a small Jupyter server extension.

JupyterLab's interface language is a user setting (``locale`` of
``@jupyterlab/translation-extension:plugin``, Settings > Language), read when the
page loads; there is no URL parameter for it, and a Binder link can only say which
URL of the server to open (``urlpath``). This extension gives the server two such URLs::

    <base_url>plsim/fr/<rest>   ->  interface locale fr_FR, then redirect to <base_url><rest>
    <base_url>plsim/en/<rest>   ->  interface locale "default" (English), then the same

so the French edition's Binder link opens ``notebooks/fr/`` with the interface in
French (JupyterLab's language pack ``jupyterlab-language-pack-fr-FR`` comes with the
``notebooks`` extra)::

    https://mybinder.org/v2/gh/<owner>/<repo>/HEAD?urlpath=plsim/fr/lab/tree/notebooks/fr/00_start_here.ipynb

The setting is written where JupyterLab keeps the user's settings
(``JUPYTERLAB_SETTINGS_DIR``, else ``<jupyter config dir>/lab/user-settings``), as the
Language menu would; the student can switch back with Settings > Language.
Installing plsim enables the extension (``etc/jupyter/jupyter_server_config.d/plsim.json``);
``jupyter server extension list`` shows it. The library's own messages follow the
notebook's folder (:mod:`plsim.i18n`), not this setting.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["LOCALES", "PLUGIN", "settings_file", "set_lab_locale"]

PLUGIN = "@jupyterlab/translation-extension:plugin"
LOCALES = {"fr": "fr_FR", "en": "default"}
"""Link language -> JupyterLab's ``locale`` setting ("default": the server's, English on Binder)."""


def settings_file(settings_dir: str | os.PathLike | None = None) -> Path:
    """Where JupyterLab keeps the user's language setting."""
    if settings_dir is None:
        from jupyterlab.commands import get_user_settings_dir

        settings_dir = get_user_settings_dir()
    package, plugin = PLUGIN.rsplit(":", 1)
    return Path(settings_dir) / package / f"{plugin}.jupyterlab-settings"


def set_lab_locale(language: str, settings_dir: str | os.PathLike | None = None) -> Path:
    """Set JupyterLab's interface language to ``language`` (``"fr"`` or ``"en"``), keeping the plugin's other
    settings; returns the settings file written."""
    if language not in LOCALES:
        raise ValueError(f"language={language!r}: use one of {sorted(LOCALES)}")
    path = settings_file(settings_dir)
    values: dict[str, Any] = {}
    if path.exists():
        import json5   # JupyterLab's settings files are JSON5 (comments allowed); jupyterlab_server needs json5

        try:
            values = dict(json5.loads(path.read_text(encoding="utf-8")) or {})
        except ValueError:
            values = {}
    values["locale"] = LOCALES[language]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=2), encoding="utf-8")
    return path


def _handler_class() -> type:
    import tornado.web
    from jupyter_server.base.handlers import JupyterHandler
    from jupyter_server.utils import url_path_join

    class LanguageHandler(JupyterHandler):
        """``GET <base_url>plsim/<language>/<rest>``: set the interface language, redirect to ``<rest>``."""

        @tornado.web.authenticated
        def get(self, language: str, rest: str | None = None) -> None:
            set_lab_locale(language)
            # Only a path inside this server: no scheme, no host, no leading slashes (no open redirect).
            target = (rest or "").lstrip("/") or "lab"
            if ":" in target.split("/", 1)[0] or "\\" in target:
                raise tornado.web.HTTPError(400, "the page to open must be a path inside this server")
            query = self.request.query
            self.redirect(url_path_join(self.base_url, target) + (f"?{query}" if query else ""))

    return LanguageHandler


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "plsim.lab_language"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from jupyter_server.utils import url_path_join

    web_app = serverapp.web_app
    pattern = url_path_join(web_app.settings["base_url"], r"plsim/(fr|en)(/.*)?")
    web_app.add_handlers(".*$", [(pattern, _handler_class())])

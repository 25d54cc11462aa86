"""JupyterLab in French from a link (plsim.lab_language), checked on a real JupyterLab server.

The French edition's Binder link opens ``<base_url>plsim/fr/lab/tree/notebooks/fr/...``;
the server extension sets JupyterLab's ``locale`` setting to fr_FR and redirects. The
server answers with the French language pack through its own translations and settings
APIs -- what JupyterLab's page reads when it loads.
"""

from __future__ import annotations

import json
import shutil
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from plsim.lab_language import LOCALES, PLUGIN, set_lab_locale, settings_file

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "plsim" / "jupyter_config" / "plsim.json"


def test_set_lab_locale_keeps_the_plugins_other_settings(tmp_path):
    path = settings_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text('// a JSON5 comment, as JupyterLab writes\n{"displayStringsPrefix": true}', encoding="utf-8")
    assert set_lab_locale("fr", tmp_path) == path
    assert json.loads(path.read_text()) == {"displayStringsPrefix": True, "locale": "fr_FR"}
    set_lab_locale("en", tmp_path)
    assert json.loads(path.read_text())["locale"] == "default"
    with pytest.raises(ValueError, match="language='de'"):
        set_lab_locale("de", tmp_path)


def test_installing_plsim_enables_the_extension():
    assert json.loads(CONFIG.read_text())["ServerApp"]["jpserver_extensions"] == {"plsim.lab_language": True}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data_files = project["tool"]["setuptools"]["data-files"]
    assert data_files["etc/jupyter/jupyter_server_config.d"] == ["plsim/jupyter_config/plsim.json"]
    assert any(d.startswith("jupyterlab-language-pack-fr-FR") for d in project["project"]["optional-dependencies"]
               ["notebooks"])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A JupyterLab server with plsim's extension enabled as installing plsim enables it."""
    pytest.importorskip("jupyterlab_language_pack_fr_FR")
    from tests._jupyterlab import JupyterLabServer

    notebooks = tmp_path_factory.mktemp("notebooks")
    (notebooks / "fr").mkdir(parents=True)
    (notebooks / "fr" / "x.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    workdir = tmp_path_factory.mktemp("server")
    # The server's config folder holds what installing plsim puts in sys.prefix.
    (workdir / "config" / "jupyter_server_config.d").mkdir(parents=True)
    shutil.copy(CONFIG, workdir / "config" / "jupyter_server_config.d" / "plsim.json")
    lab = JupyterLabServer(notebooks, workdir, env={"PYTHONPATH": str(ROOT)})
    lab.start()
    yield lab
    assert lab.stop() == []


def _getter(server):
    def get(path: str, *, follow: bool = True):
        opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
        request = urllib.request.Request(f"{server.url}/{path}", headers={"Authorization": f"token {server.token}"})
        try:
            return opener.open(request, timeout=20)
        except urllib.error.HTTPError as err:   # the 302 without following it
            return err
    return get


@pytest.mark.slow
def test_the_french_link_sets_jupyterlab_to_french_and_opens_the_page(server):
    get = _getter(server)
    packs = json.load(get("lab/api/translations/"))["data"]
    assert "fr_FR" in packs, "the French language pack is not installed"
    before = json.load(get(f"lab/api/settings/{PLUGIN}"))
    assert before["settings"].get("locale", "default") == "default"

    answer = get("plsim/fr/lab/tree/fr/x.ipynb", follow=False)
    assert answer.status == 302
    assert answer.headers["Location"] == "/lab/tree/fr/x.ipynb"
    after = json.load(get(f"lab/api/settings/{PLUGIN}"))
    assert after["settings"]["locale"] == LOCALES["fr"] == "fr_FR"
    # What the page then loads: JupyterLab's own strings in French.
    french = json.load(get("lab/api/translations/fr_FR"))["data"]["jupyterlab"]
    assert french["Settings"] == ["Paramètres"] and french["Edit"] == ["Édition"]

    # Only pages of this server: a protocol-relative target stays on it.
    assert get("plsim/fr//evil.example/x", follow=False).headers["Location"] == "/evil.example/x"
    assert get("plsim/fr/https:/evil.example", follow=False).status == 400
    answer = get("plsim/en/lab", follow=False)
    assert answer.headers["Location"] == "/lab"
    assert json.load(get(f"lab/api/settings/{PLUGIN}"))["settings"]["locale"] == "default"


@pytest.mark.slow
@pytest.mark.browser
def test_the_french_link_shows_jupyterlab_in_french_in_a_browser(server, tmp_path):
    """What a student sees: the link opens the French notebook, and JupyterLab's menus are in French."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    import os

    executable = os.environ.get("PLSIM_CHROMIUM") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium"))
    if not executable:
        pytest.skip("no chromium (apt-get install -y chromium)")
    with playwright_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=executable, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
        try:
            page = context.new_page()
            page.goto(f"{server.url}/plsim/fr/lab/tree/fr/x.ipynb?token={server.token}")
            page.wait_for_url("**/lab/tree/fr/x.ipynb**", timeout=60_000)
            menubar = page.locator("#jp-MainMenu")
            menubar.get_by_text("Paramètres", exact=True).wait_for(timeout=60_000)
            assert menubar.get_by_text("Settings", exact=True).count() == 0
            page.locator(".jp-NotebookPanel").first.wait_for(timeout=60_000)   # the French notebook opened
            # and its kernel started: a kernel still importing when the server is told to stop holds the
            # shutdown for the server's whole 30 s wait
            deadline = time.monotonic() + 60
            while not any(k.get("execution_state") == "idle" for k in server.kernels()):
                assert time.monotonic() < deadline, f"the notebook's kernel never became idle: {server.kernels()}"
                time.sleep(0.2)
        finally:
            context.close()
        _getter(server)("plsim/en/lab", follow=False)   # leave the server as the next test expects

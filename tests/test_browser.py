"""End to end in a real browser: JupyterLab + headless Debian chromium (Playwright).

For every notebook in ``notebooks/`` that builds a plsim widget, the test opens it in
JupyterLab as a student who ran it sees it: the copy the Binder-profile test already
executed (``tests/_executed.py``; every cell ran there, top to bottom, so the browser
does not run them all again), its outputs rendered. In that page it runs, in a fresh
kernel, the widget cells and the earlier cells they need (``tests/_cells.py``: the
cells binding the names they use, the setup cell, the cluster's start), operates every
widget panel (moves a control, clicks Run and waits for the end, clicks Run then Stop),
runs the teardown cell, and checks what a student would see: no cell error, each run
redraws the figure, the progress bar reaches the end, the status says Done / Stopped,
no validation or error message, no error in the browser console (stored outputs of
every cell included). A screenshot of each notebook (and of each panel after its run)
goes to ``test-artifacts/screenshots/``, and a timing report to
``test-artifacts/browser-report.json``.

A small generated notebook (``_selftest/harness_selftest.ipynb``) proves the
harness itself: its panel's output is known exactly, so the test checks the
slider value reached the kernel, the figure and table changed, Stop ends the run
early, and a rejected value shows its message instead of running.

Needs Debian's chromium (``apt-get install -y chromium``) and the ``playwright``
Python package (no browser download). Without them the test skips with a loud
reason, except when ``CI`` or ``PLSIM_REQUIRE_BROWSER`` is set: then it fails.

Environment:
``PLSIM_BROWSER_NOTEBOOKS``  folder of notebooks to test (default: the repo's ``notebooks/``);
``PLSIM_CHROMIUM``           chromium executable (default: ``/usr/bin/chromium`` or ``chromium`` on PATH).
Kernels run with ``PLSIM_SMALL=1`` unless the variable is already set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _browser_helpers import NotebookDriver, PanelRun, find_teardown_cell  # noqa: E402
from _cells import needed_cells  # noqa: E402
from _jupyterlab import JupyterLabServer, wait_gone  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = Path(os.environ.get("PLSIM_BROWSER_NOTEBOOKS", REPO / "notebooks"))
ARTIFACTS = REPO / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
SELFTEST = "_selftest/harness_selftest.ipynb"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _widget_names() -> list[str]:
    import plsim.widgets

    return sorted(plsim.widgets.__all__)


def _widget_pattern() -> re.Pattern:
    return re.compile(r"plsim\.widgets\.|\b(" + "|".join(map(re.escape, _widget_names())) + r")\s*\(")


def widget_notebooks(folder: Path) -> list[str]:
    """Notebooks in ``folder`` (by name) whose code builds a plsim widget."""
    pattern = _widget_pattern()
    found = []
    for path in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        notebook = nbformat.read(path, as_version=4)
        if any(cell.cell_type == "code" and pattern.search(cell.source) for cell in notebook.cells):
            found.append(path.name)
    return found


def cells_to_run(notebook: nbformat.NotebookNode) -> list[int]:
    """The widget cells, the teardown cell(s) after them, and the earlier cells they need, in notebook order."""
    sources = [c.source if c.cell_type == "code" else None for c in notebook.cells]
    pattern = _widget_pattern()
    widgets = [i for i, s in enumerate(sources) if s is not None and pattern.search(s)]
    teardown = find_teardown_cell([{"type": c.cell_type, "source": c.source} for c in notebook.cells])
    after = [] if teardown is None else [i for i in range(teardown, len(sources)) if sources[i] is not None]
    return needed_cells(sources, widgets + after)


def browser_copy(path: Path) -> tuple[str, list[int]]:
    """The notebook as the browser test opens it, and the cells it runs there.

    A course notebook is the Binder-profile test's executed copy (each notebook is executed once under that
    profile per session, see ``tests/_executed.py``): its stored outputs show as a student's run left them,
    except that the cells the browser runs start empty (so a cell that did not run in the browser shows as
    such) and stored widget views give way to their text (their kernel is gone). Another folder's notebooks
    (``PLSIM_BROWSER_NOTEBOOKS``), or any where the Binder profile cannot run (no CPU affinity), are opened as
    they are.
    """
    source = nbformat.read(path, as_version=4)
    plan = cells_to_run(source)
    executed = None
    if path.resolve().parent == REPO / "notebooks" and hasattr(os, "sched_setaffinity"):  # the profile pins a CPU
        from _executed import binder_run

        executed = binder_run(path).executed
    if executed is None:
        return nbformat.writes(source), plan
    notebook = nbformat.reads(json.dumps(executed), as_version=4)  # sources joined as nbformat reads them
    assert [c.source for c in notebook.cells] == [c.source for c in source.cells], f"{path.name}: stale executed copy"
    notebook.metadata.pop("widgets", None)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if index in plan:
            cell.outputs, cell.execution_count = [], None
        for output in cell.outputs:
            output.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
    return nbformat.writes(notebook), plan


# -- the self-test notebook ----------------------------------------------------------
SELFTEST_STEPS = 8
SELFTEST_STEP_SECONDS = 0.25
SELFTEST_MAX_LEVEL = 8  # the slider goes to 10; above 8 the panel refuses to run


def selftest_notebook() -> str:
    """A notebook with one RunPanel whose outputs are known exactly."""
    setup = f"""\
import time
import matplotlib.pyplot as plt
from plsim.widgets import RunPanel
import ipywidgets as w

def work(params, report):
    # A line of slope `level`, redrawn after each of {SELFTEST_STEPS} steps.
    xs = []
    for step in range(1, {SELFTEST_STEPS} + 1):
        if report.stopped:
            return step - 1
        time.sleep({SELFTEST_STEP_SECONDS})
        xs.append(step)
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot(xs, [params["level"] * x for x in xs], marker="o", label=params["kind"])
        ax.set_title(f"slope {{params['level']}} after {{step}} steps")
        ax.set_xlabel("step"); ax.set_ylabel("value (units)"); ax.legend()
        report.figure(fig)
        report.progress(step, {SELFTEST_STEPS}, f"step {{step}} of {SELFTEST_STEPS}")
        report.html(f"<table><tr><td>level</td><td>{{params['level']}}</td></tr>"
                    f"<tr><td>steps</td><td>{{step}}</td></tr></table>")
    return {SELFTEST_STEPS}

def validate(params):
    if params["level"] > {SELFTEST_MAX_LEVEL}:
        return f"level must be at most {SELFTEST_MAX_LEVEL}, got {{params['level']}}"
    return None
"""
    show = """\
panel = RunPanel(
    "Harness self-test",
    {"level": w.IntSlider(value=3, min=1, max=10, description="level"),
     "kind": w.Dropdown(options=["measured", "simulated"], value="measured", description="kind")},
    work, validate=validate, description="a known output for the browser test")
panel.widget
"""
    cells = [
        nbformat.v4.new_markdown_cell("# Harness self-test\nGenerated by tests/test_browser.py."),
        nbformat.v4.new_code_cell(setup),
        nbformat.v4.new_code_cell(show),
        nbformat.v4.new_code_cell("import plsim\nplsim.close_cluster()\nprint('closed')"),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(notebook)


# -- fixtures ------------------------------------------------------------------------
def _missing_browser(reason: str):
    message = (
        f"BROWSER TEST NOT RUN: {reason}. Install with `apt-get install -y chromium` (as root) "
        "and `pip install playwright` (no `playwright install`: Debian's chromium is used)."
    )
    if os.environ.get("CI") or os.environ.get("PLSIM_REQUIRE_BROWSER"):
        pytest.fail(message + " (CI / PLSIM_REQUIRE_BROWSER is set, so this is a failure)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    """A headless Debian chromium with a fresh profile, driven by Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _missing_browser(f"the playwright package is not importable ({exc})")
    executable = os.environ.get("PLSIM_CHROMIUM") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium")
    )
    if not executable or not os.path.exists(executable):
        _missing_browser("no chromium executable (looked at $PLSIM_CHROMIUM, /usr/bin/chromium, PATH)")
    playwright = sync_playwright().start()
    try:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
    except Exception:
        playwright.stop()
        raise
    context.set_default_timeout(30_000)
    yield context
    context.close()
    playwright.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, browser_context):
    """JupyterLab on 127.0.0.1 serving a temporary copy of the notebooks + the self-test."""
    source = NOTEBOOKS if NOTEBOOKS.is_dir() else tmp_path_factory.mktemp("no-notebooks")
    server = JupyterLabServer(
        source, tmp_path_factory.mktemp("jupyterlab"),
        extra_files={SELFTEST: selftest_notebook()},
        env={"PLSIM_SMALL": os.environ.get("PLSIM_SMALL", "1")},
    )
    server.start()
    yield server
    killed = server.stop()
    assert not killed, f"processes survived the JupyterLab shutdown and had to be killed: {killed}"


@pytest.fixture(scope="module")
def report():
    """Collects every notebook's NotebookRun; written to test-artifacts/browser-report.json."""
    runs: dict[str, dict] = {}
    yield runs
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "browser-report.json").write_text(json.dumps(runs, indent=2, default=str))


# -- the shared procedure ------------------------------------------------------------
def exercise_notebook(lab, context, notebook: str, report: dict, plan: list[int] | None = None) -> NotebookDriver:
    """Open, run, operate every panel, finish, shut down. Returns the driver (its .result).

    ``plan``: the cells to run (the rest of the notebook shows its stored outputs); None runs every cell.
    """
    start = time.monotonic()
    driver = NotebookDriver(lab, context, notebook, SCREENSHOTS)
    result = driver.result
    processes: dict[int, object] = {}  # the kernel and whatever it started (Dask workers...)
    try:
        driver.open()
        cells = driver.cells()
        teardown = find_teardown_cell(cells)
        result.teardown_cell = teardown
        split = len(cells) if teardown is None else teardown

        before = None if plan is None else [i for i in plan if i < split]
        t = time.monotonic()
        if before is None:
            driver.run_cells(0, split)
        else:
            driver.run_cell_list(before)
        result.seconds_cells = time.monotonic() - t
        processes.update((p.pid, p) for p in lab.remember_processes())
        driver.check_cells(0, split, only=before)
        assert not result.cell_errors, (
            f"{notebook}: cells raised: {result.cell_errors}\n" + "\n".join(t[-3000:] for t in result.tracebacks))
        assert not result.unexecuted_cells, f"{notebook}: cells never ran: {result.unexecuted_cells}"

        panels = driver.panels()
        count = panels.count()
        page_text = driver.page.locator(".jp-Notebook").inner_text()
        assert "Error displaying widget" not in page_text, f"{notebook}: a widget failed to render"
        assert count >= 1, f"{notebook}: no .plsim-panel rendered (widget views in outputs: {result.widget_views})"

        for index in range(count):
            result.problems.extend(operate_panel(driver, panels.nth(index), index))

        processes.update((p.pid, p) for p in lab.remember_processes())
        # The rest of the notebook (the teardown) still runs.
        if teardown is not None:
            after = None if plan is None else [i for i in plan if i >= teardown]
            if after is None:
                driver.run_cells(teardown, len(cells))
            else:
                driver.run_cell_list(after)
            driver.check_cells(teardown, len(cells), only=after)
            assert not result.cell_errors, f"{notebook}: cells raised: {result.cell_errors}"
            assert not result.unexecuted_cells, f"{notebook}: cells never ran: {result.unexecuted_cells}"
    finally:
        lab.remember_processes()  # even after a failure, the server's stop() ends them
        if driver.page is not None and result.screenshot is None:
            try:
                driver.screenshot_page()
            except Exception:  # the screenshot must not hide the real failure
                pass
        driver.shutdown()
        result.seconds_total = time.monotonic() - start
        report[notebook] = asdict(result)
        print("\n" + result.summary())
    assert not result.problems, f"{notebook}: widget problems:\n" + "\n".join(result.problems)
    assert not result.console_errors, f"{notebook}: browser console errors: {result.console_errors}"
    _wait_for_no_kernels(lab)
    killed = wait_gone(list(processes.values()), timeout=30)
    assert not killed, f"{notebook}: processes outlived the kernel shutdown and were killed: {killed}"
    return driver


def operate_panel(driver: NotebookDriver, panel, index: int) -> list[str]:
    """Run one panel with its defaults, then move a control, Run and Stop.

    The first run uses the widget's defaults (the configuration its author chose
    to teach with, so its screenshot is the one to show); the second run, after
    moving a control, is stopped early. Returns the problems seen (empty: all good).
    """
    panel.scroll_into_view_if_needed()
    record = PanelRun(index=index, title=panel.locator("b").first.inner_text())
    driver.result.panels.append(record)
    where = f"panel {index} ({record.title})"
    problems: list[str] = []

    def check(ok: bool, problem: str) -> bool:
        if not ok:
            problems.append(f"{where}: {problem}")
        return ok

    record.initial = driver.panel_state(panel)
    check(record.initial["status"].startswith("Ready"), f"status before any run is {record.initial['status']!r}")
    # An empty image is drawn as the browser's broken-image icon: a fresh panel must show none.
    check(not record.initial["figureBroken"] and not record.initial["figureShown"],
          f"a broken or empty image shows before the first Run: {record.initial}")
    for control in record.initial["controls"]:
        # ipywidgets shows an empty box when the value is None, even if an option's value is None.
        check(not control["dropdown"] or control["value"] != "",
              f"dropdown {control['label']!r} shows no selected option in the browser")

    # 1. Run to the end with the defaults.
    full = driver.click_run(panel)
    record.full_run = full
    final = full.final
    if check(final["status"].startswith("Done"),
             f"Run ended with status {final['status']!r}, message {final['message']!r} "
             f"(after {full.seconds:.1f} s; statuses seen {full.statuses})"):
        check(final["message"] == "", f"message after a good run: {final['message']!r}")
        check(final["progress"] == "100%", f"progress bar at {final['progress']} after Done")
        check(bool(final["figureSrc"]) and full.figures_seen >= 1, "the figure was not redrawn")
        check(final["figureLoaded"] and final["figureWidth"] > 0, "the figure image did not load")
        check(not final["figureBroken"], "a broken image shows after the run")
        check(final["note"].startswith("Result of the run with"),
              f"the output does not say which settings it belongs to: note {final['note']!r}")
    check(bool(final["stopDisabled"]) and not final["runDisabled"], f"buttons not reset after the run: {final}")
    record.screenshot = driver.screenshot_panel(panel, index)
    if index == 0:
        driver.screenshot_page(panel)

    # 2. Move a control; the kernel must see the new value.
    driver.move_a_control(panel, record)
    if record.control_moved and check(record.control_after != record.control_before,
                                      f"moving {record.control_moved!r} changed nothing on the page"):
        kernel_values = driver.kernel_panel_values(record.title)
        check(any(_same_value(v.get(record.control_moved), record.control_after) for v in kernel_values),
              f"{record.control_moved!r} shows {record.control_after} in the browser but the kernel has "
              f"{[v.get(record.control_moved) for v in kernel_values]}")

        if final["status"].startswith("Done"):  # the result of the run now differs from the controls: said so
            note = driver.wait_panel(panel, lambda s: "changed since" in s["note"])["note"]
            check("The controls have changed since" in note and record.control_moved in note,
                  f"moving {record.control_moved!r} after the run is not said above the result: note {note!r}")

    # 3. Run again and Stop as soon as it visibly started.
    stopped = driver.click_run(panel, stop=True)
    record.stopped_run = stopped
    status = stopped.final["status"]
    check(status.startswith(("Stopped", "Done")),
          f"after Stop the status is {status!r}, message {stopped.final['message']!r} "
          f"(statuses seen {stopped.statuses})")
    check(status.strip() != "Stopped.", "after Stop a bare 'Stopped.': it must say what was kept")
    check(not stopped.final["figureBroken"], "a broken image shows after Stop")
    check(stopped.final["message"] == "", f"message after Stop: {stopped.final['message']!r}")
    check(not stopped.final["runDisabled"], "Run still disabled after Stop")
    check(status.startswith("Stopped") or stopped.figures_seen >= 1, "the second run drew no figure")
    return problems


def _same_value(kernel: object, page: str | None) -> bool:
    if kernel is None or page is None:
        return False
    try:
        return abs(float(kernel) - float(page)) <= 1e-9 + 0.01 * abs(float(page))  # readouts are rounded
    except (TypeError, ValueError):
        return str(kernel) == page


def _wait_for_no_kernels(lab, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while lab.kernels() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not lab.kernels(), f"kernels still running after shutdown: {lab.kernels()}"


# -- tests ---------------------------------------------------------------------------
def test_harness_selftest(lab, browser_context, report):
    """The harness sees exactly what a known panel shows (and a rejected value)."""
    driver = exercise_notebook(lab, browser_context, SELFTEST, report)
    (record,) = driver.result.panels
    assert record.title == "Harness self-test"
    full = record.full_run
    # The defaults ran to the end: the table echoes level 3 and all steps.
    assert full.final["details"].split() == ["level", "3", "steps", str(SELFTEST_STEPS)]
    assert full.final["status"] == "Done."
    assert full.seconds >= SELFTEST_STEPS * SELFTEST_STEP_SECONDS
    # Live updates: intermediate figures, progress widths and step texts were shown.
    assert full.figures_seen >= 2, full
    assert [p for p in full.progress if p not in ("0%", "100%")], full.progress
    assert "step 1 of 8" in full.statuses or "step 2 of 8" in full.statuses, full.statuses
    # ArrowLeft moved the slider one step down; the stopped run used the new value
    # and ended early (Stop after its first visible step, of 8).
    assert (record.control_moved, record.control_before, record.control_after) == ("level", "3", "2")
    stopped = record.stopped_run
    assert re.fullmatch(r"Stopped at step \d of 8; the output shows what had finished\.", stopped.final["status"]), \
        stopped
    assert stopped.stop_seconds is not None and stopped.stop_seconds < 5
    level, steps = stopped.final["details"].split()[1::2]
    assert level == "2" and 1 <= int(steps) < SELFTEST_STEPS, stopped.final["details"]
    assert stopped.final["progress"] != "100%"


def test_harness_dropdown_and_validation_message(lab, browser_context):
    """A dropdown choice reaches the kernel; a value the panel rejects shows its
    message in the panel and nothing runs."""
    driver = NotebookDriver(lab, browser_context, SELFTEST, SCREENSHOTS)
    try:
        driver.open()
        cells = driver.cells()
        driver.run_cells(0, find_teardown_cell(cells))
        panel = driver.panels().first
        # A dropdown chosen in the browser reaches the kernel as its label's value.
        record = PanelRun(index=0, title="Harness self-test")
        driver.move_a_control(panel, record, prefer="dropdown")
        assert (record.control_moved, record.control_before, record.control_after) == ("kind", "measured", "simulated")
        assert driver.kernel_panel_values("Harness self-test") == [{"level": 3, "kind": "simulated"}]
        handle = panel.locator(".plsim-control .noUi-handle").first
        handle.focus()
        handle.press("End")  # slider to its maximum, 10 > SELFTEST_MAX_LEVEL
        assert driver.panel_state(panel)["controls"][0]["value"] == "10"
        panel.locator(".plsim-run").click()
        status = panel.locator(".plsim-status")
        status.get_by_text(f"Not started: level must be at most {SELFTEST_MAX_LEVEL}, got 10").wait_for()
        state = driver.panel_state(panel)
        assert state["message"] == "", state  # the reason is the status itself, not a second place
        assert state["figureSrc"] in ("", None) or state["figureWidth"] == 0, "a rejected value must not draw"
        assert not state["figureBroken"] and state["note"] == "Nothing has run yet.", state
        assert "Traceback" not in driver.page.locator(".jp-Notebook").inner_text()
    finally:
        driver.shutdown()
    assert not driver.result.console_errors, driver.result.console_errors
    _wait_for_no_kernels(lab)


@pytest.mark.parametrize("notebook", widget_notebooks(NOTEBOOKS))
def test_notebook_widgets_in_browser(lab, browser_context, report, notebook):
    """Each course notebook with a widget opens in JupyterLab with its outputs, and its widgets work."""
    text, plan = browser_copy(NOTEBOOKS / notebook)
    lab.put(notebook, text, trusted=True)  # the student's own run: trusted
    exercise_notebook(lab, browser_context, notebook, report, plan)


def test_cells_to_run_are_the_widgets_and_what_they_need():
    """The plan: setup, the cluster's start, what the widget cell reads, the widget, the teardown; nothing else."""
    cells = [nbformat.v4.new_markdown_cell("# Title"),
             nbformat.v4.new_code_cell("%matplotlib inline\nimport plsim\nclient = plsim.start_cluster()"),
             nbformat.v4.new_code_cell("slow = sum(range(10**9))  # a measurement the widget does not read"),
             nbformat.v4.new_code_cell("cfg = dict(n=3)\nfrom plsim.widgets import speedup_explorer"),
             nbformat.v4.new_code_cell("cfg['n'] += 1\nunused = 2"),
             nbformat.v4.new_code_cell("def helper(n):\n    return slow_local(n)\nslow_local = len"),
             nbformat.v4.new_code_cell("speedup_explorer(client, n=helper(cfg['n']))"),
             nbformat.v4.new_code_cell("print(slow)"),
             nbformat.v4.new_code_cell("plsim.close_cluster()")]
    assert cells_to_run(nbformat.v4.new_notebook(cells=cells)) == [1, 3, 4, 5, 6, 8]

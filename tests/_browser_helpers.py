"""Drive one notebook and its plsim widgets in JupyterLab through Playwright.

Used by tests/test_browser.py. Every plsim widget is a ``RunPanel``
(plsim/widgets/_panel.py) whose parts carry stable CSS classes
(``plsim-panel``, ``plsim-control``, ``plsim-run``, ``plsim-stop``,
``plsim-progress``, ``plsim-status``, ``plsim-message``, ``plsim-figure``,
``plsim-details``); this module finds them by those classes only, so it works for
every topic widget without knowing what it computes.

What a student does, the helper does: open the notebook, wait for the kernel,
run the cells down to the teardown cell (the one calling ``plsim.close_cluster()``),
operate every widget (move a control, Run, Run again and Stop), run the rest,
shut the kernel down. Every step is timed; everything seen is returned in a
:class:`NotebookRun` so a failing assertion can say exactly what happened.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------------------
# Browser console messages that are not errors of the course, each with why.
# Matched with re.search against "<type>: <text>". Keep this list short and
# explained; anything else logged as an error fails the test.
HARMLESS_CONSOLE_ERRORS: list[tuple[str, str]] = []

TERMINAL_STATUS = re.compile(r"^\s*(Done|Stopped|Failed|Not started)")

# JavaScript page functions. Each gets `findPanel(path)`: the NotebookPanel showing
# `path` (relative to the server root) in window.jupyterapp, or null.
_FIND_PANEL = """
  const findPanel = (path) => {
    const app = window.jupyterapp;
    if (!app) return null;
    for (const w of app.shell.widgets('main')) {
      if (w.context && w.context.path === path && w.content && w.sessionContext) return w;
    }
    return null;
  };
"""


def _page_function(params: str, body: str, *, is_async: bool = False) -> str:
    return f"{'async ' if is_async else ''}({params}) => {{ {_FIND_PANEL} {body} }}"


_KERNEL_IDLE = _page_function("path", """
  const p = findPanel(path);
  if (!p || !p.context.isReady || p.content.widgets.length === 0) return false;
  const k = p.sessionContext.session && p.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
""")

_CELL_SOURCES = _page_function("path", """
  return findPanel(path).content.widgets.map(
    c => ({type: c.model.type, source: c.model.sharedModel.getSource()}));
""")

# Start running cells [first, stop) in the background; the outcome lands in window.__plsimRun.
_START_RUN = _page_function("{path, first, stop}", """
  const app = window.jupyterapp;
  const p = findPanel(path);
  app.shell.activateById(p.id);
  const nb = p.content;
  let command;
  if (first === 0 && stop >= nb.widgets.length) { command = 'notebook:run-all-cells'; }
  else if (first === 0) { nb.activeCellIndex = stop; command = 'notebook:run-all-above'; }
  else { nb.activeCellIndex = first; command = 'notebook:run-all-below'; }
  window.__plsimRun = {done: false, command};
  app.commands.execute(command).then(
    ok => { window.__plsimRun = {done: true, ok, command}; },
    err => { window.__plsimRun = {done: true, ok: false, command, error: String(err)}; });
  return command;
""")

# Run the cells at `indices`, one after the other (Run Selected Cell, stopping at the first that fails);
# the outcome lands in window.__plsimRun.
_START_RUN_CELLS = _page_function("{path, indices}", """
  const app = window.jupyterapp;
  const p = findPanel(path);
  app.shell.activateById(p.id);
  const nb = p.content;
  window.__plsimRun = {done: false, command: 'notebook:run-cell'};
  (async () => {
    for (const i of indices) {
      nb.activeCellIndex = i;
      nb.deselectAll();
      const ok = await app.commands.execute('notebook:run-cell');
      if (!ok) { window.__plsimRun = {done: true, ok: false, command: 'notebook:run-cell', failed: i}; return; }
    }
    window.__plsimRun = {done: true, ok: true, command: 'notebook:run-cell'};
  })().catch(err => { window.__plsimRun = {done: true, ok: false, command: 'notebook:run-cell', error: String(err)}; });
  return indices.length;
""")

_CELL_STATE = _page_function("path", """
  return findPanel(path).content.widgets.map((c, i) => {
    if (c.model.type !== 'code') return {index: i, type: c.model.type};
    const outputs = c.model.outputs.toJSON();
    return {
      index: i, type: 'code',
      executionCount: c.model.executionCount,
      errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
      tracebacks: outputs.filter(o => o.output_type === 'error').map(
        o => (o.traceback || []).join('\\n').replace(/\\u001b\\[[0-9;]*m/g, '')),
      stderr: outputs.filter(o => o.output_type === 'stream' && o.name === 'stderr').map(o => o.text),
      widgetViews: outputs.filter(
        o => o.data && o.data['application/vnd.jupyter.widget-view+json']).length,
    };
  });
""")

# Run `code` in the notebook's kernel outside any cell; return what it printed.
_KERNEL_PRINT = _page_function("{path, code}", """
  const kernel = findPanel(path).sessionContext.session.kernel;
  const future = kernel.requestExecute({code, silent: false, store_history: false});
  let out = '';
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'stream') out += msg.content.text;
    if (msg.header.msg_type === 'error') out += msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return out;
""", is_async=True)

_SHUTDOWN_KERNEL = _page_function("path", """
  const p = findPanel(path);
  if (p) { await p.sessionContext.shutdown(); }
  return true;
""", is_async=True)

# What one panel shows right now.
_PANEL_STATE = """
(panel) => {
  const q = (css) => panel.querySelector(css);
  const img = q('.plsim-figure');
  const bar = q('.plsim-progress .progress-bar');
  const controls = [...panel.querySelectorAll('.plsim-control')].map(el => {
    const readout = el.querySelector('.widget-readout');
    const select = el.querySelector('select');
    const input = el.querySelector('input');
    let value = null;
    if (readout) value = readout.textContent.trim();
    else if (select) value = select.selectedIndex >= 0 ? select.options[select.selectedIndex].text.trim() : '';
    else if (input) value = input.type === 'checkbox' ? String(input.checked) : input.value;
    const label = el.querySelector('.widget-label');
    return {label: label ? label.textContent.trim() : '', value,
            slider: !!el.querySelector('.noUi-handle'), dropdown: !!select};
  });
  // A hidden image shows nothing; a shown one without a loaded picture is the broken-image icon.
  const shown = !!img && img.offsetParent !== null && getComputedStyle(img).display !== 'none';
  return {
    status: (q('.plsim-status') || {}).innerText || '',
    message: (q('.plsim-message') || {}).innerText || '',
    details: (q('.plsim-details') || {}).innerText || '',
    note: (q('.plsim-note') || {}).innerText || '',
    whyOff: (q('.plsim-why-off') || {}).innerText || '',
    progress: bar ? bar.style.width : null,
    figureShown: shown,
    figureBroken: shown && img.complete && img.naturalWidth === 0,
    figureSrc: img && shown ? img.getAttribute('src') || '' : (img ? '' : null),
    figureWidth: img ? img.naturalWidth : 0,
    figureShownWidth: img ? img.clientWidth : 0,
    figureLoaded: img ? img.complete : false,
    runDisabled: q('.plsim-run') ? q('.plsim-run').disabled : null,
    stopDisabled: q('.plsim-stop') ? q('.plsim-stop').disabled : null,
    controls,
  };
}
"""


@dataclass
class RunObservation:
    """What one click of Run did, as seen in the browser."""

    seconds: float
    final: dict
    statuses: list[str] = field(default_factory=list)  # distinct status texts, in order
    progress: list[str] = field(default_factory=list)  # distinct progress bar widths
    figures_seen: int = 0  # distinct figure images shown during the run
    stop_seconds: float | None = None  # Stop click -> terminal status (None: not clicked)
    details_changed: bool = False  # the text/table under the figure changed


@dataclass
class PanelRun:
    index: int
    title: str
    control_moved: str | None = None
    control_before: str | None = None
    control_after: str | None = None
    initial: dict | None = None
    full_run: RunObservation | None = None
    stopped_run: RunObservation | None = None
    screenshot: str | None = None


@dataclass
class NotebookRun:
    notebook: str
    seconds_open: float = 0.0
    seconds_cells: float = 0.0
    seconds_total: float = 0.0
    teardown_cell: int | None = None
    cell_errors: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    unexecuted_cells: list[int] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    widget_views: int = 0
    panels: list[PanelRun] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what the widgets did wrong
    console_errors: list[str] = field(default_factory=list)
    console_ignored: list[str] = field(default_factory=list)
    screenshot: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    def summary(self) -> str:
        """A few lines for the test log: what was operated and how long it took."""
        lines = [f"{self.notebook}: open {self.seconds_open:.1f} s, cells {self.seconds_cells:.1f} s, "
                 f"total {self.seconds_total:.1f} s, {len(self.panels)} panel(s), "
                 f"console errors {len(self.console_errors)}, cell errors {len(self.cell_errors)}"]
        for p in self.panels:
            line = f"  [{p.index}] {p.title!r}: moved {p.control_moved!r} {p.control_before} -> {p.control_after}"
            if p.full_run:
                r = p.full_run
                line += (f"; Run {r.seconds:.1f} s -> {r.final['status']!r}, {len(r.statuses)} status texts, "
                         f"{r.figures_seen} figures ({r.final['figureWidth']} px shown at "
                         f"{r.final['figureShownWidth']} px), progress {r.final['progress']}, "
                         f"details {'changed' if r.details_changed else 'unchanged'}")
            if p.stopped_run:
                r = p.stopped_run
                stop = "not clicked (ended first)" if r.stop_seconds is None else f"after Stop {r.stop_seconds:.1f} s"
                line += f"; Run+Stop -> {r.final['status']!r} {stop}"
            lines.append(line)
        return "\n".join(lines)


def find_teardown_cell(cells: list[dict]) -> int | None:
    """Index of the first code cell that closes the plsim cluster, if any."""
    for index, cell in enumerate(cells):
        if cell["type"] == "code" and re.search(r"\bclose_cluster\s*\(", cell["source"]):
            return index
    return None


def _classify_console(messages: list[str]) -> tuple[list[str], list[str]]:
    errors, ignored = [], []
    for text in messages:
        reason = next((why for pattern, why in HARMLESS_CONSOLE_ERRORS if re.search(pattern, text)), None)
        (ignored if reason else errors).append(text if not reason else f"{text}  [ignored: {reason}]")
    return errors, ignored


class NotebookDriver:
    """Open one notebook in a fresh page of ``context`` served by ``server``."""

    def __init__(self, server: Any, context: Any, notebook: str, artifacts: Path,
                 *, cell_timeout: float = 300.0, run_timeout: float = 180.0) -> None:
        self.server = server
        self.context = context
        self.notebook = notebook  # path relative to the server root
        self.artifacts = Path(artifacts)
        self.cell_timeout = cell_timeout
        self.run_timeout = run_timeout
        self.name = Path(notebook).stem
        self.result = NotebookRun(notebook=notebook)
        self._console: list[str] = []
        self.page = None

    # -- page ----------------------------------------------------------------
    def open(self) -> None:
        start = time.monotonic()
        page = self.context.new_page()
        self.page = page
        page.on("console", lambda msg: self._console.append(f"{msg.type}: {msg.text}")
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self._console.append(f"pageerror: {exc}"))
        workspace = re.sub(r"[^A-Za-z0-9_-]", "-", self.name)
        page.goto(self.server.lab_url(self.notebook, workspace), wait_until="domcontentloaded")
        page.wait_for_function(_KERNEL_IDLE, arg=self.notebook, timeout=120_000, polling=250)
        # Room for the output: hide the file browser.
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        self.result.seconds_open = time.monotonic() - start

    def cells(self) -> list[dict]:
        return self.page.evaluate(_CELL_SOURCES, self.notebook)

    def run_cells(self, first: int, stop: int) -> None:
        """Run cells [first, stop) as JupyterLab's Run All Above/Below would; wait for them."""
        self.page.evaluate(_START_RUN, {"path": self.notebook, "first": first, "stop": stop})
        self.page.wait_for_function("() => window.__plsimRun && window.__plsimRun.done",
                                    timeout=self.cell_timeout * 1000, polling=500)
        self.page.wait_for_function(_KERNEL_IDLE, arg=self.notebook, timeout=60_000, polling=250)

    def run_cell_list(self, indices: list[int]) -> None:
        """Run only the cells at ``indices``, in that order (JupyterLab's Run Selected Cell); wait for them."""
        self.page.evaluate(_START_RUN_CELLS, {"path": self.notebook, "indices": list(indices)})
        self.page.wait_for_function("() => window.__plsimRun && window.__plsimRun.done",
                                    timeout=self.cell_timeout * 1000, polling=500)
        self.page.wait_for_function(_KERNEL_IDLE, arg=self.notebook, timeout=60_000, polling=250)

    def check_cells(self, first: int, stop: int, only: list[int] | None = None) -> None:
        """Record errors, unexecuted cells and stderr of the code cells in [first, stop) (or of ``only`` those)."""
        for cell in self.page.evaluate(_CELL_STATE, self.notebook)[first:stop]:
            if cell["type"] != "code" or (only is not None and cell["index"] not in only):
                continue
            if cell["errors"]:
                self.result.cell_errors.extend(f"cell {cell['index']}: {e}" for e in cell["errors"])
                self.result.tracebacks.extend(cell["tracebacks"])
            if cell["executionCount"] is None:
                self.result.unexecuted_cells.append(cell["index"])
            self.result.stderr.extend(f"cell {cell['index']}: {t.strip()[:300]}" for t in cell["stderr"])
            self.result.widget_views += cell["widgetViews"]

    def shutdown(self) -> None:
        if self.page is None:
            return
        try:
            self.page.evaluate(_SHUTDOWN_KERNEL, self.notebook)
        finally:
            self.result.console_errors, self.result.console_ignored = _classify_console(self._console)
            self.page.close()
            self.page = None

    # -- widgets ---------------------------------------------------------------
    def panels(self):
        return self.page.locator(".plsim-panel")

    def panel_state(self, panel) -> dict:
        return panel.evaluate(_PANEL_STATE)

    def wait_panel(self, panel, predicate, timeout: float = 10.0) -> dict:
        """The panel's state once ``predicate(state)`` holds (kernel -> browser updates take a moment),
        or its last state after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        state = self.panel_state(panel)
        while not predicate(state) and time.monotonic() < deadline:
            self.page.wait_for_timeout(100)
            state = self.panel_state(panel)
        return state

    def move_a_control(self, panel, record: PanelRun, prefer: str = "slider") -> None:
        """Move a control the way a student would, by keyboard or mouse.

        A slider moves one step left (right if it sits at its minimum) by the arrow
        keys on its handle; a dropdown gets its next option (wrapping around).
        ``prefer`` ("slider" or "dropdown") says which kind to try first.
        """
        if prefer not in ("slider", "dropdown"):
            raise ValueError(f"prefer={prefer!r}: use 'slider' or 'dropdown'")
        controls = self.panel_state(panel)["controls"]
        kinds = ["slider", "dropdown"] if prefer == "slider" else ["dropdown", "slider"]
        for kind in kinds:
            at = next((i for i, c in enumerate(controls) if c[kind]), None)
            if at is None:
                continue
            control = panel.locator(".plsim-control").nth(at)
            record.control_moved = controls[at]["label"] or f"{kind} {at}"
            record.control_before = controls[at]["value"]
            if kind == "slider":
                handle = control.locator(".noUi-handle").first
                handle.focus()
                handle.press("ArrowLeft")
                if self.panel_state(panel)["controls"][at]["value"] == record.control_before:
                    handle.press("ArrowRight")  # it sat at its minimum
            else:
                select = control.locator("select")
                n_options = select.locator("option").count()
                current = select.evaluate("el => el.selectedIndex")
                select.select_option(index=(max(current, -1) + 1) % n_options)
            record.control_after = self.panel_state(panel)["controls"][at]["value"]
            return

    def click_run(self, panel, *, stop: bool = False, stop_by: float = 2.0) -> RunObservation:
        """Click Run and sample the panel until the run ends.

        With ``stop``, click Stop as soon as the run visibly progressed (a new figure
        or a progress bar above 0) or ``stop_by`` seconds passed, whichever is first; a
        run that ends before that is recorded with ``stop_seconds=None``.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        before = self.panel_state(panel)
        start = time.monotonic()
        panel.locator(".plsim-run").click()
        statuses: list[str] = []
        progress: list[str] = []
        figures = {before["figureSrc"]}
        stop_clicked_at = None
        deadline = start + self.run_timeout
        state = before
        saw_running = False
        while time.monotonic() < deadline:
            state = self.panel_state(panel)
            if not statuses or statuses[-1] != state["status"]:
                statuses.append(state["status"])
            if not progress or progress[-1] != state["progress"]:
                progress.append(state["progress"])
            figures.add(state["figureSrc"])
            running = bool(state["runDisabled"]) or not TERMINAL_STATUS.match(state["status"])
            saw_running = saw_running or running
            # A run may start and end between two samples: then only its output changed.
            changed = state["figureSrc"] != before["figureSrc"] or state["status"] != before["status"]
            if not running and (saw_running or changed):
                break
            if not running and time.monotonic() - start > 5:
                break  # the click visibly did nothing for 5 s: the checks will say so
            progressed = (state["figureSrc"] != before["figureSrc"]
                          or state["progress"] not in (None, "0%", before["progress"]))
            if (stop and stop_clicked_at is None and not state["stopDisabled"]
                    and (progressed or time.monotonic() - start >= stop_by)):
                try:
                    panel.locator(".plsim-stop").click(timeout=2_000)
                    stop_clicked_at = time.monotonic()
                except PlaywrightTimeout:  # the run ended (Stop disabled) in between
                    pass
            self.page.wait_for_timeout(100)
        end = time.monotonic()
        return RunObservation(
            seconds=end - start, final=state, statuses=statuses[1:] if statuses[:1] == [before["status"]] else statuses,
            progress=progress, figures_seen=len(figures - {before["figureSrc"], "", None}),
            stop_seconds=None if stop_clicked_at is None else end - stop_clicked_at,
            details_changed=state["details"] != before["details"],
        )

    def kernel_panel_values(self, title: str) -> list[dict]:
        """Control values (by description) of the kernel's RunPanels titled ``title``.

        Runs a print in the notebook's kernel (no cell, no variables left behind), so
        the test sees what the kernel received from the browser's controls.
        """
        code = (
            "(lambda gc, json, RunPanel: print(json.dumps(["
            "{(getattr(c, 'description', '') or n): (c.label if hasattr(c, 'options') else c.value)"
            " for n, c in p.controls.items()}"
            f" for p in gc.get_objects() if isinstance(p, RunPanel) and p.title == {title!r}], default=str)))"
            "(__import__('gc'), __import__('json'), __import__('plsim.widgets._panel', fromlist=['RunPanel']).RunPanel)"
        )
        out = self.page.evaluate(_KERNEL_PRINT, {"path": self.notebook, "code": code})
        return json.loads(out.strip().splitlines()[-1]) if out.strip() else []

    def screenshot_page(self, panel=None) -> str:
        path = self.artifacts / f"{self.name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if panel is not None:  # the widget's cell from its top; the whole panel if it is tall
            panel.evaluate("""el => {
                (el.closest('.jp-Cell') || el).scrollIntoView({block: 'start'});
                if (el.getBoundingClientRect().bottom > window.innerHeight) el.scrollIntoView({block: 'end'});
            }""")
            self.page.wait_for_timeout(300)
        self.page.screenshot(path=str(path))
        self.result.screenshot = str(path)
        return str(path)

    def screenshot_panel(self, panel, index: int) -> str:
        path = self.artifacts / f"{self.name}-panel{index}.png"
        panel.screenshot(path=str(path))
        return str(path)

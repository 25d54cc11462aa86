"""What every plsim widget shares: layout, Run / Stop, progress, messages, live figures.

A topic widget is a :class:`RunPanel` given

* ``controls``: a dict of ipywidgets value controls (sliders, dropdowns...),
* ``work(params, report)``: a plain function doing the real work. It calls
  ``report.progress(done, total, text)`` as pieces finish, ``report.figure(fig)``
  to redraw the live plot, checks ``report.stopped`` to end early, and ends with
  ``report.finish(text, complete=...)``: what ran, or after Stop what was kept,
* optionally ``validate(params) -> str | None``: the reason shown as the status
  (not a traceback) when the values cannot run.

Layout: controls, buttons, progress and status on the left; above the output on the
right a line saying which settings it belongs to (and, in amber, when the controls no
longer match it: changed during or after the run, or a refused Run); the figure and a
text/table area under it. Controls that do not apply are greyed out with the reason
written in the panel (:meth:`RunPanel.set_inapplicable`). Work runs in a background
thread so the kernel keeps answering the Stop button and the figure updates while
rounds finish. Tests call ``panel.run(block=True)`` to drive the same code without a
browser.
"""

from __future__ import annotations

import io
import re
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from plsim.i18n import N_, _
from plsim.progress import Progress

__all__ = ["RunPanel", "Report", "figure_to_png", "widget_executor", "html_table", "value_text"]


def widget_executor(executor: Any) -> Any:
    """The executor a widget runs on, resolved when Run is clicked.

    ``"auto"`` (every widget's default) is Dask's current default client,
    and a cluster is started for it with :func:`plsim.start_cluster` when
    there is none, so a student can click Run before starting one. Anything
    else goes to :func:`plsim.executor.resolve_executor` as is.
    """
    from plsim.cluster import current_client, start_cluster
    from plsim.executor import resolve_executor

    if isinstance(executor, str) and executor == "auto" and current_client() is None:
        start_cluster(quiet=True)
    return resolve_executor(executor)


def figure_to_png(fig: Any, dpi: int = 90) -> bytes:
    """PNG bytes of a matplotlib figure (Agg; safe from a background thread)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # attach a non-GUI canvas: works off the main thread
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


class Report:
    """Handed to ``work``: progress, live figure, text, the stop flag, and the run's outcome."""

    def __init__(self, panel: RunPanel) -> None:
        self._panel = panel
        self.last_text = ""  # the last progress text (a stopped run without an outcome names it)
        self.outcome: tuple[str, bool] | None = None  # (what ran / was kept, complete?) from finish()

    @property
    def stopped(self) -> bool:
        """True once the user clicked Stop; ``work`` should return soon after."""
        return self._panel._stop_event.is_set()

    def progress(self, done: int, total: int, text: str = "") -> None:
        bar = self._panel.progress
        bar.max = max(int(total), 1)
        bar.value = min(int(done), bar.max)
        text = text or f"{done}/{total}"
        self.last_text = text
        if self.stopped:  # keep the user's Stop visible until the work actually ends
            text = _("Stopping after the current step... ({text})").format(text=text)
        self._panel.status.value = text

    def callback(self, event: Progress) -> bool:
        """A :mod:`plsim.progress` callback for the library's runs: shows the event, True once Stop was clicked.

        Pass it as ``callback=report.callback``; a widget that also redraws per
        event wraps it and returns what it returns.
        """
        self.progress(event.done, event.total, event.message or f"{event.unit} {event.done} of {event.total}")
        return self.stopped

    def figure(self, fig: Any) -> None:
        """Show this matplotlib figure in the panel (replacing the previous one)."""
        self._panel.image.value = figure_to_png(fig)
        self._panel.image.layout.display = None  # hidden until there is a figure: no broken-image icon
        self._panel.figures_drawn += 1

    def html(self, text: str) -> None:
        """Show an HTML snippet (a table, a summary) under the figure."""
        self._panel.details.value = text

    def finish(self, text: str, *, complete: bool = True) -> None:
        """Say what the run did, for the status line once it ends.

        ``complete``: every step ran (``text`` says what ran, e.g. "16 members in 2.1 s");
        False when Stop cut it short (``text`` says what was kept and what was dropped).
        The panel writes "Done: ..." or "Stopped: ...", and says so when Stop came after
        the last step, so a complete result is never labelled stopped.
        """
        self.outcome = (str(text), bool(complete))


# shown in every panel's header: table cells of the results keep apart and numbers line up
_TABLE_CSS = ("<style>.plsim-details table{border-collapse:collapse;margin:4px 0}"
              ".plsim-details th,.plsim-details td{padding:2px 14px 2px 0;text-align:left;vertical-align:top}"
              ".plsim-details .num{text-align:right}.plsim-details td.num{white-space:nowrap}"
              ".plsim-details td:first-child{min-width:12em}</style>")
READY = N_("Ready: set the controls and press Run.")
_WARN = "color:#9a4d00"  # amber: the output on the right is not what the controls say
_RED = "color:#b00020"


_NUMBER = re.compile(r"[-+]?[\d.,]+(e[-+]?\d+)?( ?(%|s|x|MB))?")


def html_table(rows: list[tuple[Any, ...]], header: tuple[str, ...] | None = None) -> str:
    """An HTML table for a panel's results (the panel's style keeps its columns apart).

    A column whose cells are all numbers is right-aligned (class ``num``), header included.
    """
    from html import escape

    width = max(len(r) for r in rows) if rows else len(header or ())
    numeric = [bool(rows) and all(i < len(r) and _NUMBER.fullmatch(str(r[i])) for r in rows) for i in range(width)]
    cls = ["<td class='num'>" if n else "<td>" for n in numeric]
    head = ("<tr>" + "".join(f"<th{' class=num' if numeric[i] else ''}>{escape(str(h))}</th>"
                             for i, h in enumerate(header)) + "</tr>") if header else ""
    body = "".join("<tr>" + "".join(f"{cls[i]}{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows)
    return _("<table class='plsim-table'>{head}{body}</table>").format(head=head, body=body)


def value_text(control: Any) -> str:
    """A control's value as its label shows it (dropdown label, ticked box, rounded float)."""
    import ipywidgets as w

    if hasattr(control, "options") and hasattr(control, "label"):
        return str(control.label)
    value = control.value
    if isinstance(control, w.Checkbox):
        return _("yes") if value else _("no")
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


class RunPanel:
    """Controls + Run/Stop + progress + live output, one look for every topic widget.

    What the right-hand side shows is always said above it (``note``): the settings of
    the run it belongs to, and, in amber, when the controls no longer match (changed
    during the run, or after it, or a Run refused).
    """

    def __init__(
        self,
        title: str,
        controls: Mapping[str, Any],
        work: Callable[[dict, Report], Any],
        *,
        validate: Callable[[dict], str | None] | None = None,
        description: str = "",
        run_label: str = N_("Run"),
    ) -> None:
        import ipywidgets as w

        self.title = title
        self.controls = dict(controls)
        self._work = work
        self._validate = validate
        self._thread: threading.Thread | None = None
        self._busy = False
        self._state_lock = threading.Lock()  # Stop against the run's end: one of them writes the final status
        self._stop_event = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.figures_drawn = 0
        self._ran: dict[str, str] | None = None  # control label -> value text of the run shown (or running)
        self._ran_settings = ""  # those settings as one line
        self._tooltips = {name: getattr(c, "tooltip", None) for name, c in self.controls.items()}

        for control in self.controls.values():
            # Anything that triggers work must not fire on every drag step.
            if hasattr(control, "continuous_update"):
                control.continuous_update = False
            control.style = {"description_width": "initial"}
            control.layout = w.Layout(width="95%")
            control.observe(self._control_changed, names="value")

        self.run_button = w.Button(description=_(run_label), button_style="primary", icon="play")
        self.stop_button = w.Button(description=_("Stop"), button_style="warning", icon="stop", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="95%"))
        self.status = w.HTML(value=_(READY))
        self.message = w.HTML(value="")  # what went wrong inside the work (an exception), in red
        self.why_off = w.HTML(value="")  # why greyed-out controls are greyed out, in words (set_inapplicable)
        # what the output shows: this run's settings, or in amber that it no longer matches the controls
        self.note = w.HTML(value=_("<i>Press Run: the figure and the results appear here.</i>"))
        # Natural size, never wider than the column: a small PNG is not blown up and blurred. Hidden until
        # the first figure: an Image with no PNG shows the browser's broken-image icon.
        self.image = w.Image(format="png", layout=w.Layout(width="auto", max_width="100%", display="none"))
        self.details = w.HTML(value="")
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())

        header = w.HTML(_TABLE_CSS + f"<b>{title}</b>"
                        + (_("<br><small>{description}</small>").format(description=description) if description else ""))
        left = w.VBox(
            [header, *self.controls.values(), self.why_off, w.HBox([self.run_button, self.stop_button]),
             self.progress, self.status, self.message],
            layout=w.Layout(width="34%", min_width="260px"),
        )
        right = w.VBox([self.note, self.image, self.details],
                       layout=w.Layout(width="66%", align_items="flex-start"))
        self.widget = w.HBox([left, right], layout=w.Layout(width="100%"))
        # Stable CSS classes: the browser test finds the parts of every panel by these.
        for part, css in ((self.widget, "plsim-panel"), (self.run_button, "plsim-run"),
                          (self.stop_button, "plsim-stop"), (self.progress, "plsim-progress"),
                          (self.status, "plsim-status"), (self.message, "plsim-message"),
                          (self.image, "plsim-figure"), (self.details, "plsim-details"),
                          (self.note, "plsim-note"), (self.why_off, "plsim-why-off")):
            part.add_class(css)
        for control in self.controls.values():
            control.add_class("plsim-control")
        self.widget.panel = self  # reachable from the returned widget (tests, notebooks)

    # -- state -------------------------------------------------------------
    def params(self) -> dict:
        """Current control values by name."""
        return {name: control.value for name, control in self.controls.items()}

    @property
    def running(self) -> bool:
        """True from Run until the work has ended and the panel has said how."""
        return self._busy

    def settings(self) -> dict[str, str]:
        """The controls that apply now (not greyed out), label -> value as shown."""
        return {(getattr(c, "description", "") or name): value_text(c)
                for name, c in self.controls.items() if not getattr(c, "disabled", False)}

    def set_inapplicable(self, reasons: Mapping[str, str]) -> None:
        """Grey out the controls named in ``reasons`` and say why in the panel itself (and in their tooltip)."""
        from html import escape

        unknown = set(reasons) - set(self.controls)
        if unknown:
            raise ValueError(f"no control named {sorted(unknown)}; the controls are {list(self.controls)}")
        for name, control in self.controls.items():
            control.disabled = name in reasons
            control.tooltip = reasons.get(name) or self._tooltips.get(name)
        lines = [f"<b>{escape(self.controls[n].description or n)}</b>: {escape(r)}" for n, r in reasons.items()]
        self.why_off.value = (_("<small style='color:#555'>Greyed out (not used with these settings):<br>")
                              + "<br>".join(lines) + "</small>") if lines else ""

    def changed_since_run(self) -> list[str]:
        """``"label old -> new"`` for each control that differs from the run shown (or running)."""
        if self._ran is None:
            return []
        now = {(getattr(c, "description", "") or name): value_text(c) for name, c in self.controls.items()}
        return [f"{label}: {old} → {now[label]}" for label, old in self._ran.items()
                if label in now and now[label] != old]

    def _show_note(self, *, refused: bool = False) -> None:
        from html import escape

        if self._ran is None:
            if refused:
                self.note.value = _("<i>Nothing has run yet.</i>")
            return
        changed = self.changed_since_run()
        ran = escape(self._ran_settings)
        if self.running:
            head = _("<b>Running with</b> {ran}").format(ran=ran)
            warn = (_("Changed during this run: ") + escape("; ".join(changed))
                    + _(". This run keeps the values it started with; press Run again when it ends to use the new "
                       "ones.")) if changed else ""
        else:
            head = _("<b>Result of the run with</b> {ran}").format(ran=ran)
            if refused:
                warn = (_("This is the previous run: the new Run was not started (see the status on the left).")
                        + (_(" The controls now differ: ") + escape("; ".join(changed)) + "." if changed else ""))
            else:
                warn = (_("The controls have changed since: ") + escape("; ".join(changed))
                        + _(". Press Run to see them.")) if changed else ""
        self.note.value = _("<small>{head}</small>").format(head=head) + (_("<br><span style='{WARN}'>⚠ "
                                                         "{warn}</span>").format(WARN=_WARN, warn=warn) if warn else "")

    def _control_changed(self, _change: Any) -> None:
        if self._ran is not None:
            self._show_note()

    # -- actions -----------------------------------------------------------
    def run(self, block: bool = False) -> None:
        """Validate the controls and start the work (in a thread unless ``block``)."""
        from html import escape

        if self.running:
            return
        params = self.params()
        problem = self._validate(params) if self._validate else None
        if problem:
            # One place, one line: the reason is the status itself; the previous output is marked as such.
            self.message.value = ""
            self.progress.value = 0
            self._show_note(refused=True)
            self.status.value = _("<span style='{RED}'>Not started: {escape}</span>").format(RED=_RED, escape=escape(problem))  # last: see above
            return
        self.message.value = ""
        self._stop_event.clear()
        self.error = None
        self.run_button.disabled = True
        self.stop_button.disabled = False
        self.progress.value = 0
        self.status.value = _("Running...")
        # The output belongs to this run from now on: the previous figure and table go.
        self.image.layout.display = "none"
        self.image.value = b""
        self.details.value = ""
        self._ran = {(getattr(c, "description", "") or name): value_text(c) for name, c in self.controls.items()}
        self._ran_settings = "; ".join(f"{k}: {v}" for k, v in self.settings().items())
        self._busy = True
        if block:
            self._execute(params)
        else:
            self._thread = threading.Thread(target=self._execute, args=(params,), daemon=True)
            self._thread.start()
            self._show_note()

    def stop(self) -> None:
        """Ask the running work to end after its current piece (a Stop landing after the work ended does nothing)."""
        with self._state_lock:
            if not self._busy:  # the click raced the end of the run: its final status stays
                return
            self._stop_event.set()
            self.status.value = _("Stopping after the current step...")

    def wait(self, timeout: float | None = None) -> None:
        """Block until the background work ends (for tests and scripts)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _final_status(self, report: Report) -> str:
        from html import escape

        stop_clicked = self._stop_event.is_set()
        bar = self.progress
        if report.outcome is None:  # a work that does not say: the progress bar tells
            text, complete = "", not stop_clicked or bar.value >= bar.max > 1
        else:
            text, complete = report.outcome
        text = escape(text)
        if complete:
            bar.value = bar.max
            status = _("Done: {text}").format(text=text) if text else _("Done.")
            if stop_clicked:
                status += _(" (Stop came after the last step had started: the run is complete.)")
            return status
        if text:
            return _("<b>Stopped</b>: {text}").format(text=text)
        return _("<b>Stopped</b> at {escape}; the output shows what had finished.").format(escape=escape(report.last_text)) \
            if report.last_text else _("<b>Stopped</b> before the first step finished.")

    def _execute(self, params: dict) -> None:
        report = Report(self)
        status = _("Failed.")
        try:
            self.result = self._work(params, report)
            status = self._final_status(report)
        except (ValueError, TypeError) as exc:  # bad combination of values
            self.error = exc
            self.message.value = _("<span style='{RED}'>{exc}</span>").format(RED=_RED, exc=exc)
            status = _("Failed: the message below says why.")
        except Exception as exc:  # keep the panel usable; show, do not raise into the void
            self.error = exc
            self.message.value = (
                _("<span style='{RED}'>Error:</span><pre>").format(RED=_RED)
                + "".join(traceback.format_exception_only(type(exc), exc))
                + "</pre>"
            )
            status = _("Failed: the error is below.")
        finally:
            # The note first, the status and buttons last: whoever sees the run ended sees it all.
            with self._state_lock:
                self._busy = False
                self._show_note()
                self.status.value = status
                self.run_button.disabled = False
                self.stop_button.disabled = True

"""What every plsim widget shares: layout, Run / Stop, progress, messages, live figures.

A topic widget is a :class:`RunPanel` given

* ``controls``: a dict of ipywidgets value controls (sliders, dropdowns...),
* ``work(params, report)``: a plain function doing the real work. It calls
  ``report.progress(done, total, text)`` as pieces finish, ``report.figure(fig)``
  to redraw the live plot, and checks ``report.stopped`` to end early,
* optionally ``validate(params) -> str | None``: a message shown in the panel
  (not a traceback) when the values cannot run.

Layout: controls, buttons, progress and status on the left; the figure and a
text/table area on the right. Work runs in a background thread so the kernel
keeps answering the Stop button and the figure updates while rounds finish.
Tests call ``panel.run(block=True)`` to drive the same code without a browser.
"""

from __future__ import annotations

import io
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from plsim.progress import Progress

__all__ = ["RunPanel", "Report", "figure_to_png", "widget_executor"]


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
    """Handed to ``work``: progress, live figure, text, and the stop flag."""

    def __init__(self, panel: RunPanel) -> None:
        self._panel = panel
        self.last_text = ""  # the last progress text, kept in the status line when the user stops

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
            text = f"Stopping after the current step... ({text})"
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
        self._panel.figures_drawn += 1

    def html(self, text: str) -> None:
        """Show an HTML snippet (a table, a summary) under the figure."""
        self._panel.details.value = text


class RunPanel:
    """Controls + Run/Stop + progress + live output, one look for every topic widget."""

    def __init__(
        self,
        title: str,
        controls: Mapping[str, Any],
        work: Callable[[dict, Report], Any],
        *,
        validate: Callable[[dict], str | None] | None = None,
        description: str = "",
        run_label: str = "Run",
    ) -> None:
        import ipywidgets as w

        self.title = title
        self.controls = dict(controls)
        self._work = work
        self._validate = validate
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.figures_drawn = 0

        for control in self.controls.values():
            # Anything that triggers work must not fire on every drag step.
            if hasattr(control, "continuous_update"):
                control.continuous_update = False
            control.style = {"description_width": "initial"}
            control.layout = w.Layout(width="95%")

        self.run_button = w.Button(description=run_label, button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="warning", icon="stop", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="95%"))
        self.status = w.HTML(value="Ready: set the controls and press Run.")
        self.message = w.HTML(value="")  # validation problems, shown in red
        # Natural size, never wider than the column: a small PNG is not blown up and blurred.
        self.image = w.Image(format="png", layout=w.Layout(width="auto", max_width="100%"))
        self.details = w.HTML(value="")
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())

        header = w.HTML(f"<b>{title}</b>" + (f"<br><small>{description}</small>" if description else ""))
        left = w.VBox(
            [header, *self.controls.values(), w.HBox([self.run_button, self.stop_button]),
             self.progress, self.status, self.message],
            layout=w.Layout(width="34%", min_width="260px"),
        )
        right = w.VBox([self.image, self.details], layout=w.Layout(width="66%", align_items="flex-start"))
        self.widget = w.HBox([left, right], layout=w.Layout(width="100%"))
        # Stable CSS classes: the browser test finds the parts of every panel by these.
        for part, css in ((self.widget, "plsim-panel"), (self.run_button, "plsim-run"),
                          (self.stop_button, "plsim-stop"), (self.progress, "plsim-progress"),
                          (self.status, "plsim-status"), (self.message, "plsim-message"),
                          (self.image, "plsim-figure"), (self.details, "plsim-details")):
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
        return self._thread is not None and self._thread.is_alive()

    # -- actions -----------------------------------------------------------
    def run(self, block: bool = False) -> None:
        """Validate the controls and start the work (in a thread unless ``block``)."""
        if self.running:
            return
        params = self.params()
        problem = self._validate(params) if self._validate else None
        if problem:
            self.message.value = f"<span style='color:#b00020'>{problem}</span>"
            self.status.value = "Not started: fix the value above."
            return
        self.message.value = ""
        self._stop_event.clear()
        self.error = None
        self.run_button.disabled = True
        self.stop_button.disabled = False
        self.progress.value = 0
        self.status.value = "Running..."
        if block:
            self._execute(params)
        else:
            self._thread = threading.Thread(target=self._execute, args=(params,), daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the running work to end after its current piece."""
        self._stop_event.set()
        self.status.value = "Stopping after the current step..."

    def wait(self, timeout: float | None = None) -> None:
        """Block until the background work ends (for tests and scripts)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _execute(self, params: dict) -> None:
        report = Report(self)
        try:
            self.result = self._work(params, report)
            if self._stop_event.is_set():
                # Keep what the work said last (e.g. "Stopped: kept the 5 of 16 members that finished").
                last = report.last_text
                self.status.value = last if last.lower().startswith("stopped") else "Stopped."
            else:
                self.progress.value = self.progress.max
                self.status.value = "Done."
        except (ValueError, TypeError) as exc:  # bad combination of values
            self.error = exc
            self.message.value = f"<span style='color:#b00020'>{exc}</span>"
            self.status.value = "Failed: see the message."
        except Exception as exc:  # keep the panel usable; show, do not raise into the void
            self.error = exc
            self.message.value = (
                "<span style='color:#b00020'>Error:</span><pre>"
                + "".join(traceback.format_exception_only(type(exc), exc))
                + "</pre>"
            )
            self.status.value = "Failed."
        finally:
            self.run_button.disabled = False
            self.stop_button.disabled = True

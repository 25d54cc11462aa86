"""One rule for a run that ends early, shared by the three topics (plsim.progress)."""

from __future__ import annotations

import contextlib
import inspect
import math

import pytest

from plsim import ensembles, progress
from plsim.executor import Run, Sequential
from plsim.progress import Progress
from plsim.training import _common


@pytest.mark.parametrize(("loss", "initial", "expected"), [
    (99.0, 1.0, False), (100.0, 1.0, False), (100.5, 1.0, True),   # 100 x the untrained loss
    (50.0, 0.01, False), (100.5, 0.01, True),                       # floored at 1: a tiny start is not a trap
    (229.0, 2.3, False), (231.0, 2.3, True),
    (math.inf, 2.3, True), (math.nan, 2.3, True),
])
def test_divergence_rule(loss, initial, expected):
    assert progress.has_diverged(loss, initial) is expected


def test_every_topic_uses_the_same_rule_and_warning():
    assert _common.diverged is progress.has_diverged
    assert _common.DIVERGED_LOSS_FACTOR == progress.DIVERGED_LOSS_FACTOR == 100.0
    assert ensembles.PartialResultWarning is progress.PartialResultWarning
    assert issubclass(progress.PartialResultWarning, UserWarning)


class _FakeShell:
    """What ipykernel's shell exposes: the message being handled (a cell's execute_request, a widget's comm_msg)."""

    def __init__(self) -> None:
        self.parent_header: dict = {}

    def handling(self, msg_type: str, msg_id: str) -> None:
        self.parent_header = {"header": {"msg_type": msg_type, "msg_id": msg_id}, "msg_type": msg_type}


def test_an_interrupt_refuses_later_runs_of_the_same_cell_only(monkeypatch):
    import types

    shell = _FakeShell()
    monkeypatch.setitem(__import__("sys").modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setattr(progress, "_interrupted_request", None)
    shell.handling("execute_request", "cell-1")
    progress.refuse_if_cell_interrupted("run_federated")  # nothing interrupted yet
    progress.note_interrupted()
    with pytest.raises(KeyboardInterrupt, match="sync_sgd did not start: this cell was interrupted"):
        progress.refuse_if_cell_interrupted("sync_sgd")
    shell.handling("comm_msg", "click-1")  # a widget's button, even right after: not a cell, never refused
    progress.refuse_if_cell_interrupted("run_federated")
    shell.handling("execute_request", "cell-2")  # the next cell runs normally
    progress.refuse_if_cell_interrupted("run_federated")


def test_an_interrupt_outside_a_notebook_refuses_nothing(monkeypatch):
    """A script's loop (no kernel) or a widget's run interrupted: no cell to end, later runs start."""
    monkeypatch.setattr(progress, "_interrupted_request", None)
    progress.note_interrupted()
    progress.refuse_if_cell_interrupted("run_federated")
    shell = _FakeShell()
    shell.handling("comm_msg", "click-1")
    import types
    monkeypatch.setitem(__import__("sys").modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    progress.note_interrupted()
    shell.handling("execute_request", "cell-3")
    progress.refuse_if_cell_interrupted("run_federated")


# -- the one run context (plsim.executor.Run) -------------------------------------------
class _Recorded(Sequential):
    """A sequential executor that notes when its running() block is entered and left, and with what."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def running(self, what="the run"):
        self.events.append(("enter", what))
        try:
            yield self
        except BaseException as exc:
            self.events.append(("left by", type(exc).__name__))
            raise
        self.events.append(("left", what))


@pytest.fixture
def fresh_cell(monkeypatch):
    """A notebook cell being executed (cell-1) and no interrupt noted yet."""
    import types

    shell = _FakeShell()
    shell.handling("execute_request", "cell-1")
    monkeypatch.setitem(__import__("sys").modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setattr(progress, "_interrupted_request", None)
    return shell


def test_a_run_lives_in_its_executors_block_and_ends_normally(fresh_cell):
    ex = _Recorded()
    with Run("sync_sgd", ex) as run:
        assert ex.events == [("enter", "sync_sgd")]
    assert ex.events == [("enter", "sync_sgd"), ("left", "sync_sgd")]
    assert run.reason is None and run.interrupted is None and not run.stopped
    progress.refuse_if_cell_interrupted("local_sgd")  # nothing noted


def test_a_stop_request_ends_the_block_and_says_stopped(fresh_cell):
    ex = _Recorded()
    reached = []
    with Run("run_parallel", ex) as run:
        progress.stop_if_asked(lambda event: event.done >= 2, Progress(1, 3, "task"))  # not yet
        reached.append(1)
        progress.stop_if_asked(lambda event: event.done >= 2, Progress(2, 3, "task"))
        reached.append(2)
    assert reached == [1] and run.stopped and run.reason == "stopped" and run.interrupted is None
    assert ex.events[-1] == ("left by", "StopRequested")  # the executor saw it: its tasks are cancelled
    progress.refuse_if_cell_interrupted("local_sgd")  # a stop is no interrupt: the cell goes on


def test_an_interrupt_is_kept_noted_and_refuses_the_next_run_of_the_cell(fresh_cell):
    ex = _Recorded()
    with Run("run_federated", ex) as run:
        raise KeyboardInterrupt
    assert run.reason == "interrupted" and isinstance(run.interrupted, KeyboardInterrupt)
    assert ex.events[-1] == ("left by", "KeyboardInterrupt")
    with pytest.raises(KeyboardInterrupt, match="sync_sgd did not start: this cell was interrupted"):
        with Run("sync_sgd", _Recorded()):
            pytest.fail("a refused run must not start")
    fresh_cell.handling("execute_request", "cell-2")
    with Run("sync_sgd") as later:  # the next cell runs normally
        pass
    assert later.reason is None


def test_an_interrupt_goes_on_when_there_is_nothing_to_keep(fresh_cell):
    with pytest.raises(KeyboardInterrupt):
        with Run("ParallelStackingClassifier.fit", _Recorded(), keeps_partial=False):
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt, match="did not start"):  # noted all the same
        Run("sync_sgd").__enter__()


def test_other_errors_go_on_unchanged_and_refuse_nothing(fresh_cell):
    with pytest.raises(ValueError, match="bad"):
        with Run("sync_sgd", _Recorded()):
            raise ValueError("bad")
    with Run("sync_sgd"):
        pass


def test_the_partial_warning_points_at_the_callers_caller():
    def run_something():
        Run("run_something").warn_partial("kept 3 of 5", stacklevel=2)

    with pytest.warns(progress.PartialResultWarning, match="kept 3 of 5") as caught:
        line = inspect.currentframe().f_lineno + 1
        run_something()
    assert (caught[0].filename, caught[0].lineno) == (__file__, line)  # the call, not warn_partial's line


@pytest.mark.parametrize(("what", "executor", "error"), [
    ("", None, TypeError), (None, None, TypeError), ("sync_sgd", object(), TypeError),
])
def test_a_run_checks_what_it_is_given(what, executor, error):
    with pytest.raises(error):
        Run(what, executor)

"""One rule for a run that ends early, shared by the three topics (plsim.stopping)."""

from __future__ import annotations

import math

import pytest

from plsim import ensembles, stopping
from plsim.training import _common


@pytest.mark.parametrize(("loss", "initial", "expected"), [
    (99.0, 1.0, False), (100.0, 1.0, False), (100.5, 1.0, True),   # 100 x the untrained loss
    (50.0, 0.01, False), (100.5, 0.01, True),                       # floored at 1: a tiny start is not a trap
    (229.0, 2.3, False), (231.0, 2.3, True),
    (math.inf, 2.3, True), (math.nan, 2.3, True),
])
def test_divergence_rule(loss, initial, expected):
    assert stopping.has_diverged(loss, initial) is expected


def test_every_topic_uses_the_same_rule_and_warning():
    assert _common.diverged is stopping.has_diverged
    assert _common.DIVERGED_LOSS_FACTOR == stopping.DIVERGED_LOSS_FACTOR == 100.0
    assert ensembles.PartialResultWarning is stopping.PartialResultWarning
    assert issubclass(stopping.PartialResultWarning, UserWarning)


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
    monkeypatch.setattr(stopping, "_interrupted_request", None)
    shell.handling("execute_request", "cell-1")
    stopping.refuse_if_cell_interrupted("run_federated")  # nothing interrupted yet
    stopping.note_interrupted()
    with pytest.raises(KeyboardInterrupt, match="sync_sgd did not start: this cell was interrupted"):
        stopping.refuse_if_cell_interrupted("sync_sgd")
    shell.handling("comm_msg", "click-1")  # a widget's button, even right after: not a cell, never refused
    stopping.refuse_if_cell_interrupted("run_federated")
    shell.handling("execute_request", "cell-2")  # the next cell runs normally
    stopping.refuse_if_cell_interrupted("run_federated")


def test_an_interrupt_outside_a_notebook_refuses_nothing(monkeypatch):
    """A script's loop (no kernel) or a widget's run interrupted: no cell to end, later runs start."""
    monkeypatch.setattr(stopping, "_interrupted_request", None)
    stopping.note_interrupted()
    stopping.refuse_if_cell_interrupted("run_federated")
    shell = _FakeShell()
    shell.handling("comm_msg", "click-1")
    import types
    monkeypatch.setitem(__import__("sys").modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    stopping.note_interrupted()
    shell.handling("execute_request", "cell-3")
    stopping.refuse_if_cell_interrupted("run_federated")

"""plsim.progress: the one callback protocol (an event in, a truthy return means stop)."""

from __future__ import annotations

import pytest

from plsim.progress import Progress, check_callback, notify


def test_notify_without_a_callback_never_stops():
    assert notify(None, Progress(1, 3, "round")) is False


@pytest.mark.parametrize("returned, stops", [(None, False), (False, False), (0, False), (True, True), (1, True),
                                             ("stop", True)])
def test_a_truthy_return_means_stop(returned, stops):
    seen = []

    def callback(event):
        seen.append(event)
        return returned

    event = Progress(2, 5, "step", loss=0.5, message="step 2 of 5")
    assert notify(callback, event) is stops
    assert seen == [event]


def test_exceptions_from_the_callback_propagate():
    def callback(event):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        notify(callback, Progress(1, 1, "member"))


def test_fraction():
    assert Progress(1, 4, "task").fraction == 0.25
    assert Progress(0, 0, "task").fraction == 1.0


def test_a_callback_that_is_not_callable_is_refused_by_name():
    assert check_callback(None) is None
    with pytest.raises(TypeError, match=r"callback=3 \(int\) is not allowed: .*Progress event"):
        check_callback(3)

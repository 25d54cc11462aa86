"""Helpers shared by tests/test_partial_federated.py and tests/test_partial_training.py."""

from __future__ import annotations

import time


def _scheduler_keys(client):
    return set(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks)))


def _left_behind(client, before, wait=5.0):
    """Keys the scheduler still holds that were not there ``before`` (a cancel is a message: give it time)."""
    deadline = time.monotonic() + wait
    while (left := _scheduler_keys(client) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


"""The speedup modules' own check (a list of worker counts); the general ones are in :mod:`plsim.validation`."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from plsim.validation import check_positive_int


def _workers_list(workers: Any) -> list[int]:
    if isinstance(workers, numbers.Integral) and not isinstance(workers, bool):
        workers = [workers]
    if isinstance(workers, (str, bytes)) or not isinstance(workers, Sequence | range):
        raise TypeError(f"workers must be an int or a sequence of ints, got {workers!r}")
    out = [check_positive_int("workers", p) for p in workers]
    if not out:
        raise ValueError("workers=[] is empty; give at least one worker count such as [1, 2]")
    if len(set(out)) != len(out):
        raise ValueError(f"workers={list(workers)!r} has repeated counts; give each count once")
    return sorted(out)



"""How many CPUs and how much memory this process may really use.

``os.cpu_count()`` reports the host's cores, which on Binder or a JupyterHub pod
can be 16 or 64 while the container is allowed one or two.  Speedup lessons
built on that number promise what the machine cannot deliver, so plsim reads
the real allowance: the ``CPU_LIMIT`` / ``MEM_LIMIT`` variables that Binder and
JupyterHub (KubeSpawner) set, the cgroup quota (v2 and v1) and the CPU affinity
mask; the smallest of the limits found wins.

Taught in ``notebooks/00_start_here.ipynb``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Resources", "cpu_allowance", "memory_allowance", "detect_resources"]

DEFAULT_CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass(frozen=True)
class Resources:
    """CPUs and memory this process may use, and where each number came from."""

    cpus: int
    cpu_source: str
    memory_bytes: int
    memory_source: str

    def as_dict(self) -> dict:
        return {
            "cpus": self.cpus,
            "cpu_source": self.cpu_source,
            "memory_bytes": self.memory_bytes,
            "memory_source": self.memory_source,
        }


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cgroup_cpu_quota(root: Path) -> float | None:
    """CPUs granted by the cgroup CPU quota, or None when unlimited/absent."""
    v2 = _read(root / "cpu.max")  # "max 100000" or "200000 100000"
    if v2:
        quota, _, period = v2.partition(" ")
        if quota != "max" and period:
            try:
                return int(quota) / int(period)
            except ValueError:
                return None
        return None
    quota_v1 = _read(root / "cpu" / "cpu.cfs_quota_us") or _read(root / "cpu.cfs_quota_us")
    period_v1 = _read(root / "cpu" / "cpu.cfs_period_us") or _read(root / "cpu.cfs_period_us")
    if quota_v1 and period_v1:
        try:
            quota, period = int(quota_v1), int(period_v1)
        except ValueError:
            return None
        if quota > 0 and period > 0:
            return quota / period
    return None


def _cgroup_memory_limit(root: Path) -> int | None:
    for candidate in (root / "memory.max", root / "memory" / "memory.limit_in_bytes",
                      root / "memory.limit_in_bytes"):
        text = _read(candidate)
        if text and text != "max":
            try:
                value = int(text)
            except ValueError:
                continue
            # cgroup v1 reports "unlimited" as a huge number close to 2**63.
            if 0 < value < 2**60:
                return value
    return None


def _positive_float(environ: Mapping[str, str], name: str, expected: str) -> float | None:
    """The variable ``name`` as a finite number > 0; unset or empty is None, anything else warns and is None."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if math.isfinite(value) and value > 0:
        return value
    warnings.warn(f"ignoring {name}={raw!r}: expected {expected}", UserWarning, stacklevel=3)
    return None


def cpu_allowance(
    environ: Mapping[str, str] | None = None, cgroup_root: str | os.PathLike = DEFAULT_CGROUP_ROOT
) -> tuple[int, str]:
    """Usable CPUs and a description of how they were determined.

    Parameters
    ----------
    environ : mapping, optional
        Environment to read ``CPU_LIMIT`` from (default ``os.environ``).
    cgroup_root : path, optional
        Where the cgroup filesystem is mounted (tests point this at a fake).

    Returns
    -------
    (cpus, source) : (int, str)
        ``cpus`` is at least 1. A fractional quota is rounded down (1.5 CPUs
        sustain one busy worker, not two).

    Warns
    -----
    UserWarning
        ``CPU_LIMIT`` is set but not a finite number > 0 (it is then ignored).
    """
    environ = os.environ if environ is None else environ
    candidates: list[tuple[float, str]] = []
    host = os.cpu_count() or 1
    candidates.append((host, f"os.cpu_count()={host}"))
    if hasattr(os, "sched_getaffinity"):
        affinity = len(os.sched_getaffinity(0))
        candidates.append((affinity, f"CPU affinity={affinity}"))
    quota = _cgroup_cpu_quota(Path(cgroup_root))
    if quota is not None:
        candidates.append((quota, f"cgroup quota={quota:g}"))
    limit = _positive_float(environ, "CPU_LIMIT", "a number of CPUs > 0, such as 2 or 0.5")
    if limit is not None:
        candidates.append((limit, f"CPU_LIMIT={limit:g}"))
    value, source = min(candidates, key=lambda c: c[0])
    return max(1, math.floor(value + 1e-9)), source


def memory_allowance(
    environ: Mapping[str, str] | None = None, cgroup_root: str | os.PathLike = DEFAULT_CGROUP_ROOT
) -> tuple[int, str]:
    """Usable memory in bytes and how it was determined (``MEM_LIMIT``, cgroup, RAM).

    A ``MEM_LIMIT`` that is set but not a finite number of bytes > 0 is ignored with a ``UserWarning``.
    """
    import psutil

    environ = os.environ if environ is None else environ
    total = int(psutil.virtual_memory().total)
    candidates: list[tuple[int, str]] = [(total, "physical RAM")]
    cgroup = _cgroup_memory_limit(Path(cgroup_root))
    if cgroup is not None:
        candidates.append((cgroup, "cgroup memory limit"))
    limit = _positive_float(environ, "MEM_LIMIT", "a number of bytes > 0, such as 2147483648")
    if limit is not None:
        candidates.append((int(limit), "MEM_LIMIT"))
    return min(candidates, key=lambda c: c[0])


def detect_resources(
    environ: Mapping[str, str] | None = None, cgroup_root: str | os.PathLike = DEFAULT_CGROUP_ROOT
) -> Resources:
    """Both allowances at once; see :func:`cpu_allowance` and :func:`memory_allowance`."""
    cpus, cpu_source = cpu_allowance(environ, cgroup_root)
    memory, memory_source = memory_allowance(environ, cgroup_root)
    return Resources(cpus, cpu_source, memory, memory_source)

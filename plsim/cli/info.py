"""``plsim info``: versions, the CPUs and memory seen, and whether a cluster starts.

Run it first on a new machine (or on Binder) to see what speedups to expect.
Taught in ``notebooks/00_start_here.ipynb``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import sys
import time
from typing import Any

__all__ = ["collect_info", "format_info", "add_arguments", "run"]

PACKAGES = ("plsim", "dask", "distributed", "scikit-learn", "numpy", "matplotlib", "ipywidgets")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def collect_info(*, start: bool = True, address: str | None = None, n_workers: int | None = None) -> dict[str, Any]:
    """Everything ``plsim info`` reports, as a JSON-ready dict.

    Parameters
    ----------
    start : bool
        Also start (or connect to) a cluster, run one task on every worker and
        time it; ``False`` only reports versions and resources.
    address, n_workers :
        Passed to :func:`plsim.start_cluster`.
    """
    from plsim.resources import detect_resources

    resources = detect_resources()
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {name: _version(name) for name in PACKAGES},
        "resources": resources.as_dict(),
    }
    if start:
        info["cluster"] = _probe_cluster(address=address, n_workers=n_workers)
    return info


def _probe_cluster(address: str | None, n_workers: int | None) -> dict[str, Any]:
    from plsim.cluster import close_cluster, dashboard_link, is_local_cluster, start_cluster
    from plsim.executor import Run, resolve_executor

    t0 = time.perf_counter()
    try:
        client = start_cluster(n_workers=n_workers, address=address, quiet=True)
    except Exception as exc:  # report, do not crash: this is a diagnostic
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    started = time.perf_counter() - t0
    try:
        ex = resolve_executor(client)
        threads = ex.threads()
        workers = sorted(threads)
        t1 = time.perf_counter()
        # One trivial task pinned to each worker proves every worker answers.
        with Run("plsim info", ex, keeps_partial=False):
            answers = ex.gather([ex.submit(sum, [i, 1], name="plsim-info", worker=w) for i, w in enumerate(workers)])
        roundtrip = time.perf_counter() - t1
        ok = answers == [i + 1 for i in range(len(workers))]
        result = {
            "ok": ok,
            "kind": "local" if is_local_cluster(client) else "remote",
            "scheduler": client.scheduler.address,
            "workers": len(workers),
            "threads": sum(threads.values()),
            "dashboard": dashboard_link(client),
            "start_seconds": round(started, 3),
            "task_roundtrip_seconds": round(roundtrip, 4),
        }
    finally:
        t2 = time.perf_counter()
        close_cluster()
        result_close = time.perf_counter() - t2
    result["close_seconds"] = round(result_close, 3)
    return result


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def format_info(info: dict[str, Any]) -> str:
    """The human-readable report (in the language of :mod:`plsim.i18n`)."""
    from plsim.i18n import _

    lines = [_("plsim {version} on Python {python} ({platform})").format(
        version=info["versions"]["plsim"], python=info["python"], platform=info["platform"]), ""]
    lines.append(_("versions:"))
    missing = _("not installed")
    for name, version in info["versions"].items():
        lines.append(f"  {name:<13} {version or missing}")
    res = info["resources"]
    lines += [
        "",
        _("resources this process may use:"),
        _("  CPUs    {cpus:<4}  (from {source})").format(cpus=res["cpus"], source=res["cpu_source"]),
        _("  memory  {memory:<9} (from {source})").format(memory=_gib(res["memory_bytes"]), source=res["memory_source"]),
    ]
    if res["cpus"] < 2:
        lines.append(_("  note: with 1 usable CPU, parallel runs cannot be faster than sequential ones."))
    cluster = info.get("cluster")
    if cluster is not None:
        lines += ["", _("cluster:")]
        if not cluster["ok"]:
            lines.append(_("  FAILED: {error}").format(error=cluster.get("error", _("a worker did not answer"))))
        else:
            lines += [
                _("  {kind} scheduler {scheduler}: {workers} workers, {threads} threads").format(
                    kind=cluster["kind"], scheduler=cluster["scheduler"], workers=cluster["workers"],
                    threads=cluster["threads"]),
                _("  dashboard     {dashboard}").format(
                    dashboard=cluster["dashboard"] or _("not available (install plsim[notebooks] for bokeh)")),
                _("  started in    {seconds:.2f} s (measured)").format(seconds=cluster["start_seconds"]),
                _("  one task per worker answered in {ms:.1f} ms (measured)").format(
                    ms=cluster["task_roundtrip_seconds"] * 1000),
                _("  closed in     {seconds:.2f} s (measured)").format(seconds=cluster["close_seconds"]),
            ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--no-cluster", action="store_true", help="do not start a cluster")
    parser.add_argument("--address", help="check this Dask scheduler instead of starting a local one")
    parser.add_argument("--workers", type=int, default=None, help="workers for the local cluster")


def run(args: argparse.Namespace) -> int:
    info = collect_info(start=not args.no_cluster, address=args.address, n_workers=args.workers)
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        print()
    else:
        print(format_info(info))
    cluster = info.get("cluster")
    return 0 if cluster is None or cluster["ok"] else 1

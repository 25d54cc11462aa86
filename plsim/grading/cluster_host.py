"""``python -m plsim.grading.cluster_host FD``: the Dask cluster of one graded submission, started by the grader.

Runs as the sandbox's cluster user (:class:`plsim.grading.sandbox.Sandbox`), outside the kernel: a scheduler
and two single-threaded workers in this one process (no worker processes to start: grading ten submissions
at once stays cheap), listening on 127.0.0.1 only, with a :class:`RecorderPlugin` in the scheduler from the
first task on. It speaks to the grader through file descriptor ``FD`` (a pipe only the grader reads; the
tasks' own prints go to stdout, i.e. the grader's log) and its stdin:

- on start it writes one JSON line ``{"address": "tcp://127.0.0.1:PORT"}``;
- for each line ``record`` on stdin it writes the :class:`~plsim.grading.record.SchedulerRecord` as one JSON
  line; on ``close`` or end of input it closes the cluster and exits.

Nothing here is unpickled by the grader: it reads JSON only.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from distributed import LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin

from plsim.grading.record import RecorderPlugin, SchedulerRecord

N_WORKERS = 2


class GradingRecorder(RecorderPlugin, SchedulerPlugin):
    """The recorder as a real scheduler plugin (the scheduler calls every hook a SchedulerPlugin has)."""


def _write(fd: int, message: dict) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


async def _serve(fd: int) -> None:
    async with LocalCluster(n_workers=N_WORKERS, threads_per_worker=1, processes=False, asynchronous=True,
                            host="127.0.0.1", protocol="tcp://", dashboard_address=None, memory_limit=0) as cluster:
        recorder = GradingRecorder()
        await cluster.scheduler.register_scheduler_plugin(recorder, name=RecorderPlugin.name, idempotent=False)
        _write(fd, {"address": cluster.scheduler_address, "workers": sorted(cluster.scheduler.workers)})
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            command = line.strip()
            if command == "record":
                _write(fd, SchedulerRecord.from_scheduler(cluster.scheduler, recorder).to_json())
            elif command in ("close", ""):
                return


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m plsim.grading.cluster_host FD", file=sys.stderr)
        return 2
    asyncio.run(_serve(int(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())

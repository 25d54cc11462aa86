"""``python -m plsim.grading.cluster_host FD``: the Dask cluster of one graded submission, started by the grader.

Runs as the sandbox's cluster user (:class:`plsim.grading.sandbox.Sandbox`), outside the kernel: a scheduler
and two single-threaded workers in this one process (no worker processes to start: grading ten submissions
at once stays cheap), listening on 127.0.0.1 only. The whole run is recorded from the start with
:func:`plsim.exercises.scheduler_record.watch_scheduler`. It speaks to the grader through file descriptor
``FD`` (a pipe only the grader reads; the tasks' own prints go to stdout, i.e. the grader's log) and stdin:

- on start it writes one JSON line ``{"address": "tcp://127.0.0.1:PORT"}``;
- on a line ``record`` it stops recording and writes the :class:`~plsim.grading.record.RecordedRun` as one
  JSON line; on ``close`` or end of input it closes the cluster and exits.

The grader reads JSON only; nothing from this process is unpickled outside it.
"""

from __future__ import annotations

import json
import os
import sys

N_WORKERS = 2


def _write(fd: int, text: str) -> None:
    data = (text.replace("\n", " ") + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


def serve(fd: int) -> None:
    import dask
    from distributed import Client, LocalCluster

    from plsim.exercises.scheduler_record import watch_scheduler
    from plsim.grading.record import RecordedRun

    dask.config.set({"distributed.worker.daemon": False, "distributed.admin.tick.limit": "60s"})
    with LocalCluster(n_workers=N_WORKERS, threads_per_worker=1, processes=False, host="127.0.0.1",
                      protocol="tcp://", dashboard_address=None, memory_limit=0) as cluster, \
            Client(cluster) as client:
        watch = watch_scheduler(client, max_result_bytes=32 * 2**20).__enter__()
        _write(fd, json.dumps({"address": cluster.scheduler_address}))
        for line in sys.stdin:
            command = line.strip()
            if command == "record" and watch is not None:
                watch.__exit__(None, None, None)
                _write(fd, RecordedRun.from_watch(watch).to_json())
                watch = None
            elif command == "close":
                break


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m plsim.grading.cluster_host FD", file=sys.stderr)
        return 2
    serve(int(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

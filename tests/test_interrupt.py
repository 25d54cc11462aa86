"""The kernel's interrupt button cancels plsim's work but never kills the cluster.

JupyterLab's ■ button, and a grader's cell timeout, send SIGINT to the kernel's
whole process group (jupyter_client's ``LocalProvisioner.send_signal`` uses
``os.killpg``), and the worker processes of the LocalCluster that
``plsim.start_cluster`` starts are in that group (dask/distributed#1925). These
tests drive a real kernel the way JupyterLab does: ``KernelManager.interrupt_kernel``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.slow

psutil = pytest.importorskip("psutil")
pytest.importorskip("jupyter_client")

SETUP = """
import json, os, time
import numpy as np
import plsim
from plsim import data, models
from plsim import federated as F
from plsim.ensembles import ParallelBaggingClassifier
from plsim.training.sync import sync_sgd
from sklearn.datasets import make_classification

client = plsim.start_cluster(n_workers=2, quiet=True)
addresses = sorted(client.nthreads())
X, y = make_classification(n_samples=4000, n_features=40, n_informative=20, random_state=0)
ds = data.load_dataset("digits", random_state=0)
parts = data.partition(ds.y_train, 20, "iid")
mlp = models.MLP(ds.n_features, hidden=(16,), n_classes=ds.n_classes)

def scheduler_tasks(dask_scheduler):
    return sorted(f"{key} {ts.state}" for key, ts in dask_scheduler.tasks.items())

def tasks_left(wait=3.0):  # keys the scheduler holds; a cancel is a message: give it a moment
    deadline = time.monotonic() + wait
    while (left := client.run_on_scheduler(scheduler_tasks)) and time.monotonic() < deadline:
        time.sleep(0.1)
    print("REPORT" + json.dumps(left))

def report(ok):
    print("REPORT" + json.dumps(dict(
        ok=bool(ok), addresses=sorted(client.nthreads()) == addresses, n_workers=len(client.nthreads()))))

print("REPORT" + json.dumps(dict(pid=os.getpid(), workers=sorted(client.run(os.getpid).values()))))
"""

# Each run takes well over 10 s uninterrupted on 2 CPUs; its tasks take < 0.3 s each.
LONG_RUNS = {
    "ensemble": "ParallelBaggingClassifier(n_estimators=200, executor=client, random_state=0).fit(X, y)",
    "federated": ("h = F.run_federated(mlp, ds, parts, rounds=5000, client_fraction=0.5, local_epochs=2, "
                  "batch_size=10, lr=0.05, executor=client, random_state=0); print('PARTIAL', h.partial, h.stopped_reason)"),
    "training": ("h = sync_sgd(mlp, ds.X_train, ds.y_train, executor=client, lr=0.1, n_steps=200000, batch_size=64, random_state=0); "
                 "print('PARTIAL', h.partial, h.stopped_reason)"),
}
# Functions that return a history give back the rounds / steps that finished (flagged partial, with a
# warning) instead of raising: their result exists only if returned. A fit keeps its finished members on
# the estimator and re-raises.
RETURNS_PARTIAL = {"federated", "training"}
SHORT_RUNS = {
    "ensemble": ("len(ParallelBaggingClassifier(n_estimators=4, executor=client, random_state=0)"
                 ".fit(X[:500], y[:500]).estimators_) == 4"),
    "federated": ("len(F.run_federated(mlp, ds, parts, rounds=2, client_fraction=0.5, executor=client, random_state=0).records) "
                  "== 2"),
    "training": "len(sync_sgd(mlp, ds.X_train, ds.y_train, executor=client, n_steps=3, random_state=0).steps) == 3",
}


class Kernel:
    """A jupyter kernel started and interrupted as JupyterLab does it."""

    def __init__(self) -> None:
        from jupyter_client.manager import KernelManager

        env = {**os.environ, "MPLBACKEND": "Agg"}
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, *, timeout: float = 60, interrupt_after: float | None = None) -> tuple[dict, str]:
        """Execute a cell; return its reply content and its stdout.

        With ``interrupt_after``, the kernel is interrupted that many seconds
        after the cell printed ``STARTED``.
        """
        msg_id = self.kc.execute(code)
        stdout, deadline, interrupt_at = [], time.monotonic() + timeout, None
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.1)
            except Exception:  # queue.Empty
                msg = None
            if msg is not None and msg["parent_header"].get("msg_id") == msg_id:
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    stdout.append(content["text"])
                    if interrupt_after is not None and interrupt_at is None and "STARTED" in "".join(stdout):
                        interrupt_at = time.monotonic() + interrupt_after
                elif kind == "status" and content["execution_state"] == "idle":
                    break
            if interrupt_at is not None and time.monotonic() >= interrupt_at:
                self.km.interrupt_kernel()
                interrupt_at, interrupt_after = None, None
            if time.monotonic() > deadline:
                raise TimeoutError(f"cell did not finish in {timeout} s: {code!r}; output so far: {''.join(stdout)}")
        reply = self.kc.get_shell_msg(timeout=10)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=10)
        return reply["content"], "".join(stdout)

    def report(self, code: str, **kw) -> dict:
        content, out = self.run(code, **kw)
        assert content["status"] == "ok", (content.get("ename"), content.get("evalue"), out)
        return json.loads(out.split("REPORT", 1)[1].splitlines()[0])

    def shutdown(self) -> None:
        if self.km.has_kernel:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=False)


def _wait_gone(processes: list, timeout: float = 15) -> list:
    deadline = time.monotonic() + timeout
    alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    return alive


@pytest.fixture(scope="module")
def kernel():
    k = Kernel()
    try:
        setup = k.report(SETUP)
        k.kernel_pid, k.worker_pids = setup["pid"], setup["workers"]
        yield k
    finally:
        k.shutdown()


@pytest.mark.parametrize("topic", list(LONG_RUNS))
def test_interrupt_cancels_the_run_and_keeps_the_cluster(kernel, topic):
    content, out = kernel.run(f"print('STARTED', flush=True)\n{LONG_RUNS[topic]}\nprint('FINISHED')",
                              interrupt_after=1.0, timeout=45)
    if topic in RETURNS_PARTIAL:
        assert content["status"] == "ok" and "PARTIAL True interrupted" in out and "FINISHED" in out, (content, out)
    else:
        assert content["status"] == "error" and content["ename"] == "KeyboardInterrupt", (content, out)
        assert "FINISHED" not in out
    # Nothing of the interrupted run is left on the cluster (cancelled, not merely abandoned) ...
    assert kernel.report("tasks_left()") == []
    # ... and the next cell works on the same two workers.
    after = kernel.report(f"report({SHORT_RUNS[topic]})", timeout=30)
    assert after == {"ok": True, "addresses": True, "n_workers": 2}
    worker_pids = kernel.report("print('REPORT' + json.dumps(sorted(client.run(os.getpid).values())))")
    assert worker_pids == kernel.worker_pids  # the same processes, not restarted ones


# A loop over runs, as students write them: one press of the interrupt button must end the cell.
LOOPS = {
    "federated on the cluster": ("F.run_federated(mlp, ds, parts, rounds=5000, client_fraction=0.5, local_epochs=2, "
                                 "batch_size=10, lr=lr, executor=client, random_state=0)"),
    "federated in the kernel": ("F.run_federated(mlp, ds, parts, rounds=5000, client_fraction=0.5, local_epochs=2, "
                                "batch_size=10, lr=lr, executor=None, random_state=0)"),
    "training": "sync_sgd(mlp, ds.X_train, ds.y_train, executor=client, lr=lr, n_steps=200000, batch_size=64, random_state=0)",
}


@pytest.mark.parametrize("loop", list(LOOPS))
def test_one_interrupt_ends_a_cell_that_loops_over_runs(kernel, loop):
    code = ("print('STARTED', flush=True)\nruns = []\nfor lr in (0.05, 0.1, 0.2):\n"
            f"    runs.append({LOOPS[loop]})\nprint('FINISHED')")
    content, out = kernel.run(code, interrupt_after=1.0, timeout=60)
    # The run that was hit returned what it finished; the loop's next run refused to start.
    assert content["status"] == "error" and content["ename"] == "KeyboardInterrupt", (content, out)
    assert "did not start: this cell was interrupted" in content["evalue"] and "FINISHED" not in out, (content, out)
    kept = kernel.report("print('REPORT' + json.dumps([len(runs), runs[0].partial, runs[0].stopped_reason]))")
    assert kept == [1, True, "interrupted"]
    # Only that cell: the next one runs, on the same workers.
    assert kernel.report(f"report({SHORT_RUNS['federated']} and {SHORT_RUNS['training']})", timeout=30) == {
        "ok": True, "addresses": True, "n_workers": 2}


def test_kernel_shutdown_leaves_no_process(kernel):
    kernel_process = psutil.Process(kernel.kernel_pid)
    started = kernel_process.children(recursive=True)
    assert {p.pid for p in started} >= set(kernel.worker_pids)
    kernel.shutdown()
    left = _wait_gone([kernel_process, *started])
    assert not left, [(p.pid, p.cmdline()) for p in left]


def test_killed_parent_takes_its_workers_along():
    """A kernel killed alone (SIGKILL, e.g. by the out-of-memory killer) leaves no worker behind."""
    code = textwrap.dedent("""
        import os, time
        import plsim
        client = plsim.start_cluster(n_workers=2, quiet=True)
        print(*client.run(os.getpid).values(), flush=True)
        time.sleep(600)
    """)
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        worker_pids = [int(p) for p in owner.stdout.readline().split()]
        assert len(worker_pids) == 2
        started = psutil.Process(owner.pid).children(recursive=True)
        assert {p.pid for p in started} >= set(worker_pids)
        os.kill(owner.pid, signal.SIGKILL)  # this process only, not its group
        owner.wait(timeout=10)
        left = _wait_gone(started)
        assert not left, [(p.pid, p.cmdline()) for p in left]
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        for p in started if "started" in locals() else []:
            if p.is_running():
                p.kill()  # only what this test started

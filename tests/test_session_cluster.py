"""One plsim cluster per student session (plsim.session_cluster): two real kernels share it, within 2 GiB.

The kernels are started as JupyterLab starts them (jupyter_client's KernelManager,
so ``JPY_PARENT_PID`` is this process) with Binder's ``MEM_LIMIT=2147483648`` and
``PLSIM_SESSION_CLUSTER=1``, each in a private Jupyter runtime directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

psutil = pytest.importorskip("psutil")
pytest.importorskip("jupyter_client")
if os.name != "posix":  # the session's lock is fcntl.flock
    pytest.skip("the session's shared cluster is POSIX only", allow_module_level=True)

import plsim  # noqa: E402
from plsim import session_cluster as S  # noqa: E402
from plsim.cluster import MIN_WORKER_MEMORY, WORKER_MEMORY_FRACTION, cluster_kind, is_local_cluster  # noqa: E402
from plsim.resources import Resources, detect_resources  # noqa: E402

MEM_LIMIT = 2 * 2**30
IDLE = 4.0  # PLSIM_SESSION_IDLE_TIMEOUT in these tests, so the cluster's end is seen quickly

SETUP = """
import json, os, time
import numpy as np
import plsim
from plsim.cluster import cluster_kind, is_local_cluster
from plsim.executor.memory import _worker_memory_limits
from plsim.ensembles import ParallelBaggingClassifier
from plsim.speedup import cluster_cpus
from sklearn.datasets import make_classification
X, y = make_classification(n_samples=1500, n_features=30, n_informative=15, random_state=0)
def report(**kw):
    print("REPORT" + json.dumps(kw), flush=True)
report(pid=os.getpid())
"""

START_AT = """
while time.time() < {go!r}:
    time.sleep(0.002)
t0 = time.perf_counter()
client = plsim.start_cluster()
took = time.perf_counter() - t0
report(address=client.scheduler.address, took=took, kind=cluster_kind(client), local=is_local_cluster(client),
       has_cluster=client.cluster is not None, cpus=cluster_cpus(client),
       limits=sorted(_worker_memory_limits(client).values()), reused=plsim.start_cluster(quiet=True) is client)
"""

# Bagged trees on the shared cluster against the same fit in the kernel (identical whatever the workers),
# repeated until the flag file appears, then once more: the work in flight while the other kernel leaves.
FITS_UNTIL = """
fits, same = [], True
sequential = ParallelBaggingClassifier(n_estimators=12, random_state=1, executor=None).fit(X, y).predict(X)
print("STARTED", flush=True)
while True:
    flag_seen = os.path.exists({flag!r})
    t_start = time.time()
    on_cluster = ParallelBaggingClassifier(n_estimators=12, random_state=1, executor=client).fit(X, y).predict(X)
    same = same and bool(np.array_equal(on_cluster, sequential))
    fits.append([t_start, time.time()])
    if flag_seen or len(fits) >= {max_fits}:
        break
report(fits=fits, same=same, status=client.status, workers=len(client.nthreads()))
"""


class Kernel:
    """A jupyter kernel started as JupyterLab starts it; cells are sent and their output collected later."""

    def __init__(self, env: dict[str, str]) -> None:
        from jupyter_client.manager import KernelManager

        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=env)
        self.kc = self.km.client()
        self.kc.start_channels()

    def ready(self) -> None:
        self.kc.wait_for_ready(timeout=120)

    def send(self, code: str) -> str:
        return self.kc.execute(code)

    def collect(self, msg_id: str, *, timeout: float = 180) -> tuple[dict, str]:
        """Wait for the cell ``msg_id`` to finish; its reply content and stdout (errors raise)."""
        out, deadline = [], time.monotonic() + timeout
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except Exception:  # queue.Empty
                msg = None
            if msg is not None and msg["parent_header"].get("msg_id") == msg_id:
                if msg["msg_type"] == "stream":
                    out.append(msg["content"]["text"])
                elif msg["msg_type"] == "error":
                    out.append("\n".join(msg["content"]["traceback"]))
                elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"cell did not finish in {timeout} s; output so far: {''.join(out)}")
        while True:
            reply = self.kc.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        text = "".join(out)
        assert reply["content"]["status"] == "ok", text
        return reply["content"], text

    def run(self, code: str, *, timeout: float = 180) -> dict:
        """Execute a cell; the last REPORT it printed."""
        _, text = self.collect(self.send(code), timeout=timeout)
        return reports(text)[-1]

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)


def reports(text: str) -> list[dict]:
    return [json.loads(line[len("REPORT"):]) for line in text.splitlines() if line.startswith("REPORT")]


def kernel_env(runtime: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DASK_SCHEDULER_ADDRESS", "DASK_GATEWAY__ADDRESS", "CPU_LIMIT")}
    env.update(MPLBACKEND="Agg", MEM_LIMIT=str(MEM_LIMIT), JUPYTER_RUNTIME_DIR=str(runtime),
               PLSIM_SESSION_CLUSTER="1", PLSIM_SESSION_IDLE_TIMEOUT=str(IDLE))
    env.update(extra)
    return env


def session_processes(runtime: Path) -> list:
    """The session-cluster processes whose scheduler file is in ``runtime``.

    Not their children: a worker process being spawned shows its parent's command line until it execs.
    """
    found = []
    for proc in psutil.process_iter(["cmdline", "ppid"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "plsim.session_cluster" in cmd and str(runtime) in cmd:
            found.append(proc)
    pids = {proc.pid for proc in found}
    return [proc for proc in found if proc.info["ppid"] not in pids]


def tree_rss(pids: set[int]) -> int:
    """Sum of RSS over ``pids`` and all their descendants, each process once."""
    seen: dict[int, int] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                if proc.pid not in seen:
                    seen[proc.pid] = proc.memory_info().rss
        except psutil.Error:
            pass
    return sum(seen.values())


def expected_limit(cpus: int) -> tuple[int, int]:
    """(workers, bytes per worker) the shared cluster gets under MEM_LIMIT, computed here independently."""
    budget = int(MEM_LIMIT * WORKER_MEMORY_FRACTION)
    workers = min(cpus, budget // MIN_WORKER_MEMORY)
    return workers, budget // workers


def test_two_kernels_share_one_cluster_within_2_gib_and_it_ends_after_the_last(tmp_path):
    runtime = tmp_path / "runtime"
    env = kernel_env(runtime)
    a, b = Kernel(env), Kernel(env)
    kernels = [a, b]
    peak, session_pids, stop = [0], set(), threading.Event()
    kernel_pids: set[int] = set()

    def sample() -> None:   # RSS of both kernels + the session's cluster process tree, every 0.1 s
        while not stop.is_set():
            procs = session_processes(runtime)
            session_pids.update(p.pid for p in procs)
            peak[0] = max(peak[0], tree_rss(kernel_pids | {p.pid for p in procs}))
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        for k in kernels:
            k.ready()
        for k in kernels:
            kernel_pids.add(k.run(SETUP)["pid"])
        sampler.start()
        # Both ask for the cluster at the same instant: the lock must make it one.
        go = time.time() + 2.0
        started = [k.send(START_AT.format(go=go)) for k in kernels]
        info_a, info_b = (reports(k.collect(m)[1])[-1] for k, m in zip(kernels, started))
        assert info_a["address"] == info_b["address"], (info_a, info_b)
        assert len(session_pids) == 1, f"{len(session_pids)} session clusters started for two kernels"
        assert [p.name for p in runtime.glob("plsim-session-*.json")] != []
        assert len(list(runtime.glob("plsim-session-*.json"))) == 1
        for info in (info_a, info_b):
            # Reached by address (no client.cluster), yet read as local: speedups are judged against this machine.
            assert info["kind"] == "session" and info["local"] and not info["has_cluster"], info
            assert info["cpus"] == detect_resources().cpus and info["reused"], info
            workers, per_worker = expected_limit(detect_resources().cpus)
            assert info["limits"] == [per_worker] * workers, (info["limits"], per_worker, workers)
        print(f"\nstart_cluster(): {max(info_a['took'], info_b['took']):.2f} s for the kernel that started the "
              f"cluster, {min(info_a['took'], info_b['took']):.2f} s for the one that joined it")

        # Both kernels fit on the shared cluster at once; A then closes its cluster and its kernel ends,
        # while B keeps fitting.
        flag = tmp_path / "a_gone"
        running_b = b.send(FITS_UNTIL.format(flag=str(flag), max_fits=400))
        a_done = a.run(FITS_UNTIL.format(flag=str(tmp_path / "never"), max_fits=2))
        assert a_done["same"] and a_done["workers"] == workers, a_done
        a.run("plsim.close_cluster(); report(closed=plsim.current_client() is None)")
        a.shutdown()
        kernels.remove(a)
        a_gone_at = time.time()
        flag.touch()
        b_done = reports(b.collect(running_b)[1])[-1]
        assert b_done["same"] and b_done["status"] == "running" and b_done["workers"] == workers, b_done
        assert b_done["fits"][-1][0] >= a_gone_at, "B's last fit did not run after A's kernel ended"
        assert len(session_pids) == 1 and session_processes(runtime), "the cluster did not outlive kernel A"
        stop.set()
        sampler.join()
        print(f"peak RSS of the two kernels + the shared cluster's processes: {peak[0] / 2**20:.0f} MiB "
              f"(limit {MEM_LIMIT / 2**20:.0f} MiB)")
        assert 0 < peak[0] < MEM_LIMIT

        # The last kernel leaves: the cluster, its workers and its files go within the idle timeout.
        cluster = psutil.Process(next(iter(session_pids)))
        members = [cluster, *cluster.children(recursive=True)]
        b.shutdown()
        kernels.remove(b)
        t0 = time.monotonic()
        gone = psutil.wait_procs(members, timeout=IDLE + 60)[0]
        took = time.monotonic() - t0
        print(f"the shared cluster ended {took:.1f} s after the last kernel (idle timeout {IDLE:g} s)")
        assert len(gone) == len(members), "processes of the shared cluster outlived it"
        assert list(runtime.iterdir()) == [], f"left behind: {sorted(p.name for p in runtime.iterdir())}"
    finally:
        stop.set()
        for k in kernels:
            k.shutdown()
        for proc in session_processes(runtime):
            proc.kill()


def test_a_private_cluster_on_request_in_a_session_kernel(tmp_path):
    """shared=False, or sizing that differs from the shared cluster's, gives the notebook its own cluster."""
    runtime = tmp_path / "runtime"
    k = Kernel(kernel_env(runtime))
    try:
        k.ready()
        k.run(SETUP)
        own = k.run("client = plsim.start_cluster(shared=False, n_workers=1)\n"
                    "report(kind=cluster_kind(client), local=is_local_cluster(client), "
                    "has_cluster=client.cluster is not None)")
        assert own == {"kind": "local", "local": True, "has_cluster": True}
        _, text = k.collect(k.send("client = plsim.start_cluster(n_workers=1, memory_limit='300MiB')\n"
                                   "report(kind=cluster_kind(client), workers=len(client.nthreads()))"))
        assert reports(text)[-1] == {"kind": "local", "workers": 1}
        assert "a private cluster for this notebook" in text and "memory_limit='300MiB'" in text, text
        assert not session_processes(runtime) and not list(runtime.glob("plsim-session-*")), \
            "a private cluster was asked for, yet the session's cluster started"
        k.run("plsim.close_cluster(); report(ok=True)")
    finally:
        k.shutdown()


def test_outside_a_kernel_the_environment_alone_does_not_share(monkeypatch):
    """Scripts, plsim bench and tests keep private clusters even with PLSIM_SESSION_CLUSTER=1."""
    monkeypatch.setenv("PLSIM_SESSION_CLUSTER", "1")
    monkeypatch.setenv("JPY_PARENT_PID", str(os.getpid()))
    assert S.session_requested() and not S.in_jupyter_kernel()
    assert not S.session_wanted(None)
    assert S.session_wanted(True) and not S.session_wanted(False)
    monkeypatch.setenv("PLSIM_SESSION_CLUSTER", "sometimes")
    with pytest.warns(UserWarning, match="PLSIM_SESSION_CLUSTER='sometimes'"):
        assert not S.session_requested()


def test_shared_true_with_other_sizing_or_an_address_is_refused():
    res = Resources(2, "test", MEM_LIMIT, "test")
    with pytest.raises(ValueError, match=r"n_workers=3 differ from this session's shared cluster \(2 worker"):
        plsim.start_cluster(n_workers=3, shared=True, resources=res, quiet=True)
    with pytest.raises(ValueError, match="processes=False"):
        plsim.start_cluster(processes=False, shared=True, resources=res, quiet=True)
    with pytest.raises(ValueError, match="shared=True uses this session's local cluster"):
        plsim.start_cluster(address="tcp://127.0.0.1:1", shared=True, quiet=True)
    with pytest.raises(TypeError, match="shared must be True, False or None"):
        plsim.start_cluster(shared="yes", quiet=True)


def test_a_stale_scheduler_file_is_replaced_and_the_cluster_ends_with_its_server(tmp_path, monkeypatch):
    """A file left by a killed cluster is not joined; the cluster exits when the Jupyter server (JPY_PARENT_PID) does."""
    runtime = tmp_path / "runtime"
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])  # stands in for jupyter
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("JPY_PARENT_PID", str(server.pid))
    monkeypatch.setenv("PLSIM_SESSION_IDLE_TIMEOUT", "300")   # only the server's exit may end it here
    res = Resources(1, "test", MEM_LIMIT, "test")
    plan = S.plan_session(res)
    assert plan.server_pid == server.pid
    runtime.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = runtime / f"{S.PREFIX}{plan.key}.json"
    stale.write_text(json.dumps({"address": "tcp://127.0.0.1:9", "pid": int(dead.stdout), "pid_started": 0.0}))
    client = plsim.start_cluster(shared=True, resources=res, quiet=True, set_as_default=False)
    try:
        assert cluster_kind(client) == "session" and is_local_cluster(client)
        info = json.loads(stale.read_text())
        assert info["pid"] != int(dead.stdout) and info["address"] == client.scheduler.address
        assert client.submit(sum, [2, 3]).result() == 5
        cluster = psutil.Process(info["pid"])
        members = [cluster, *cluster.children(recursive=True)]
        assert len(members) > plan.n_workers   # the cluster process and its worker processes (and helpers)
    finally:
        client.close()   # disconnecting does not end it: the idle timeout is 300 s
        server.kill()
        server.wait()
    gone, alive = psutil.wait_procs(members, timeout=60)
    assert not alive, f"still running after the server exited: {alive}"
    assert list(runtime.iterdir()) == []


def test_binder_start_turns_the_session_cluster_on():
    """Binder runs notebooks through binder/start: its kernels share one cluster per student session."""
    start = Path(__file__).resolve().parents[1] / "binder" / "start"
    out = subprocess.run(["bash", str(start), sys.executable, "-c",
                          "import os; print(os.environ['PLSIM_SESSION_CLUSTER'])"],
                         env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.split() == ["1"]

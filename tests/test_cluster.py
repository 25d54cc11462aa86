"""The cluster layer: sizing, start/close without leaks, reuse, dashboard links, remote schedulers, bad input."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import psutil
import pytest

import plsim
from plsim.cluster import ClusterConnectionError, close_cluster, dashboard_link, parse_memory_limit, start_cluster
from plsim.resources import Resources, cpu_allowance, detect_resources, memory_allowance

GiB = 2**30


_OLDER_WORKERS: set[int] = set()  # worker pids that were already running when the test began


def _worker_processes() -> list[psutil.Process]:
    """Child processes that are Dask workers (multiprocessing spawn children), but for those that were already
    running when the test began.

    Python's multiprocessing ``resource_tracker`` helper is excluded: it belongs
    to the interpreter, not to a cluster, and exits with it.
    """
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        if "spawn_main" in cmd and child.pid not in _OLDER_WORKERS:
            found.append(child)
    return found


def _wait_gone(processes: list[psutil.Process], timeout: float = 10.0) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return alive


@pytest.fixture(autouse=True)
def _no_cluster_left():
    # Whatever ran before in this process (another test file's default cluster, the session's shared
    # clusters) is not this test's: start from no default cluster, and count only workers started after.
    close_cluster()
    _OLDER_WORKERS.clear()
    _OLDER_WORKERS.update(p.pid for p in _worker_processes())
    yield
    close_cluster()


# -- sizing -----------------------------------------------------------------


def _fake_cgroup_v2(tmp_path: Path, cpu_max: str, memory_max: str = "max") -> Path:
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    (tmp_path / "memory.max").write_text(memory_max + "\n")
    return tmp_path


def test_cgroup_v2_quota_limits_cpus(tmp_path):
    root = _fake_cgroup_v2(tmp_path, "100000 100000", str(3 * GiB))
    cpus, source = cpu_allowance(environ={}, cgroup_root=root)
    assert cpus == 1
    assert "cgroup" in source
    memory, msource = memory_allowance(environ={}, cgroup_root=root)
    assert memory == 3 * GiB and "cgroup" in msource


def test_fractional_quota_rounds_down_but_never_below_one(tmp_path):
    assert cpu_allowance(environ={}, cgroup_root=_fake_cgroup_v2(tmp_path, "50000 100000"))[0] == 1
    (tmp_path / "cpu.max").write_text("150000 100000")
    assert cpu_allowance(environ={}, cgroup_root=tmp_path)[0] == 1


def test_unlimited_cgroup_falls_back_to_affinity(tmp_path):
    root = _fake_cgroup_v2(tmp_path, "max 100000")
    cpus, source = cpu_allowance(environ={}, cgroup_root=root)
    assert cpus == len(os.sched_getaffinity(0))
    assert "cgroup" not in source


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000")
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text(str(2**63 - 4096))  # v1's "unlimited"
    assert cpu_allowance(environ={}, cgroup_root=tmp_path) == (1, "cgroup quota=1")
    assert memory_allowance(environ={}, cgroup_root=tmp_path)[1] == "physical RAM"


def test_binder_variables_win_when_smaller(tmp_path):
    env = {"CPU_LIMIT": "1.0", "MEM_LIMIT": str(2 * GiB)}
    res = detect_resources(environ=env, cgroup_root=tmp_path)  # empty dir: no cgroup files
    assert res.cpus == 1 and res.cpu_source == "CPU_LIMIT=1"
    assert res.memory_bytes == 2 * GiB and res.memory_source == "MEM_LIMIT"


def test_garbage_limits_are_ignored(tmp_path):
    env = {"CPU_LIMIT": "lots", "MEM_LIMIT": "-1"}
    res = detect_resources(environ=env, cgroup_root=tmp_path)
    assert res.cpus == min(os.cpu_count(), len(os.sched_getaffinity(0)))
    assert res.memory_source == "physical RAM"


def test_default_cluster_size_comes_from_the_allowance():
    fake = Resources(cpus=1, cpu_source="CPU_LIMIT=1", memory_bytes=4 * GiB, memory_source="MEM_LIMIT")
    client = start_cluster(resources=fake, quiet=True)
    # Asked of the scheduler directly: scheduler_info() returns a cache that can be emptied by a refresh.
    info = client.run_on_scheduler(lambda dask_scheduler: [(ws.nthreads, ws.memory_limit)
                                                           for ws in dask_scheduler.workers.values()])
    assert info == [(1, int(4 * GiB * 0.8))]


# -- start / close / reuse ------------------------------------------------------


@pytest.mark.slow
def test_start_runs_tasks_and_close_leaves_no_worker_processes():
    before = {p.pid for p in _worker_processes()}
    client = start_cluster(n_workers=2, quiet=True)
    assert client.submit(pow, 2, 10).result() == 1024
    assert len(client.nthreads()) == 2
    workers = [p for p in _worker_processes() if p.pid not in before]
    assert len(workers) == 2
    close_cluster()
    assert client.status == "closed"
    assert _wait_gone(workers) == []
    assert plsim.current_client() is None


@pytest.mark.slow
def test_context_manager_closes_workers():
    with start_cluster(n_workers=1, quiet=True) as client:
        assert client.submit(len, "abc").result() == 3
        workers = _worker_processes()
        assert workers
    assert _wait_gone(workers) == []


@pytest.mark.slow
def test_running_the_start_cell_twice_reuses_the_cluster(capsys):
    first = start_cluster(n_workers=1)
    second = start_cluster(n_workers=1)
    assert second is first
    assert "reusing" in capsys.readouterr().out
    assert len(_worker_processes()) == 1


@pytest.mark.slow
def test_different_request_replaces_the_running_cluster():
    first = start_cluster(n_workers=1, quiet=True)
    second = start_cluster(n_workers=2, quiet=True)
    assert first.status == "closed"
    assert second is not first and len(second.nthreads()) == 2
    assert len(_worker_processes()) == 2


@pytest.mark.slow
def test_the_cluster_is_dasks_default_client_and_close_leaves_a_users_client_alone():
    from distributed import Client, default_client

    client = start_cluster(n_workers=1, processes=False, quiet=True)
    assert default_client() is client and plsim.current_client() is client
    # A default client the user made is Dask's current one; plsim neither reuses nor closes it.
    with Client(client.scheduler.address, set_as_default=True) as mine:
        assert plsim.current_client() is mine
        close_cluster()
        assert mine.status == "running" and client.status == "running"
    # Once the user's client is closed, Dask's default is plsim's again; now close_cluster closes it.
    assert plsim.current_client() is client
    close_cluster()
    assert client.status == "closed" and plsim.current_client() is None


@pytest.mark.slow
def test_a_cluster_not_made_default_is_neither_reused_nor_replaced():
    aside = start_cluster(n_workers=1, processes=False, quiet=True, set_as_default=False)
    try:
        assert plsim.current_client() is None
        default = start_cluster(n_workers=1, processes=False, quiet=True)
        assert default is not aside and plsim.current_client() is default
        close_cluster()
        assert aside.status == "running" and aside.submit(len, "ab").result() == 2
    finally:
        aside.close()


@pytest.mark.slow
def test_more_workers_than_cpus_warns():
    fake = Resources(cpus=1, cpu_source="CPU_LIMIT=1", memory_bytes=4 * GiB, memory_source="MEM_LIMIT")
    with pytest.warns(UserWarning, match=r"n_workers=2 exceeds the 1 usable CPU.*speedups will not show"):
        client = start_cluster(n_workers=2, resources=fake, quiet=True)
    assert len(client.nthreads()) == 2


@pytest.mark.slow
def test_dashboard_uses_a_free_port_when_8787_is_taken():
    pytest.importorskip("bokeh")
    blocker = socket.socket()
    try:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", 8787))
        blocker.listen()
    except OSError:
        pass  # already taken by something else: the situation under test anyway
    try:
        client = start_cluster(n_workers=1, quiet=True)
        link = dashboard_link(client, environ={})
        assert link.startswith("http://127.0.0.1:") and link.endswith("/status")
        assert ":8787/" not in link
    finally:
        blocker.close()


# -- dashboard link behind a proxy --------------------------------------------


class _FakeClient:
    def __init__(self, link):
        self.dashboard_link = link


def test_dashboard_link_locally_is_dasks_own():
    assert dashboard_link(_FakeClient("http://127.0.0.1:40123/status"), environ={}) == (
        "http://127.0.0.1:40123/status"
    )


def test_dashboard_link_goes_through_the_jupyterhub_proxy():
    env = {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"}
    link = dashboard_link(_FakeClient("http://127.0.0.1:40123/status"), environ=env)
    assert link == "/user/alice/proxy/40123/status"


def test_user_configured_dashboard_link_is_respected():
    import dask.config

    env = {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"}
    with dask.config.set({"distributed.dashboard.link": "/custom/{port}"}):
        link = dashboard_link(_FakeClient("/custom/40123"), environ=env)
    assert link == "/custom/40123"


def test_no_dashboard_gives_none():
    assert dashboard_link(_FakeClient(None), environ={}) is None


# -- a real external scheduler (how plsim scales past one machine) ----------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def external_scheduler():
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, as on a real deployment."""
    dask_cli = shutil.which("dask", path=os.path.dirname(sys.executable)) or shutil.which("dask")
    assert dask_cli, "the `dask` command (from distributed) must be installed"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "error"}
    procs = [subprocess.Popen([dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    for _ in range(2):
        procs.append(subprocess.Popen([dask_cli, "worker", address, "--nthreads", "1", "--no-dashboard",
                                       "--host", "127.0.0.1"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    try:
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.mark.slow
def test_connects_to_an_external_scheduler_and_runs_tasks(external_scheduler):
    client = start_cluster(address=external_scheduler, timeout=30, quiet=True)
    client.wait_for_workers(2, timeout=60)
    assert client.cluster is None  # we did not start it, so we will not stop it
    results = client.gather(client.map(lambda x: x * x, range(10)))
    assert results == [x * x for x in range(10)]
    assert len(client.nthreads()) == 2
    close_cluster()
    # Disconnecting must not shut the external cluster down.
    with start_cluster(address=external_scheduler, timeout=30, quiet=True) as again:
        assert again.submit(sum, [1, 2, 3]).result() == 6


@pytest.mark.slow
def test_dask_scheduler_address_setting_is_used(external_scheduler, monkeypatch):
    import dask.config

    with dask.config.set({"scheduler-address": external_scheduler}):
        client = start_cluster(quiet=True)
    assert client.cluster is None
    assert client.scheduler.address == external_scheduler
    assert client.submit(max, [3, 9, 4]).result() == 9


def test_unreachable_address_fails_fast_with_a_clear_error():
    port = _free_port()  # nothing listens there
    t0 = time.perf_counter()
    with pytest.raises(ClusterConnectionError, match=rf"no Dask scheduler answered at address='tcp://127.0.0.1:{port}'"):
        start_cluster(address=f"tcp://127.0.0.1:{port}", timeout=2)
    assert time.perf_counter() - t0 < 15  # a clear error, never a hang


# -- bad input -----------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -2])
def test_non_positive_worker_count(bad):
    with pytest.raises(ValueError, match=rf"n_workers={bad} must be a positive integer"):
        start_cluster(n_workers=bad)


@pytest.mark.parametrize("bad", [1.5, "2", True])
def test_non_integer_worker_count(bad):
    with pytest.raises(TypeError, match="n_workers must be a positive integer"):
        start_cluster(n_workers=bad)


@pytest.mark.parametrize(("flag", "bad"), [("processes", "yes"), ("set_as_default", 1), ("set_as_default", None)])
def test_flags_must_be_true_or_false(flag, bad):
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        start_cluster(n_workers=1, **{flag: bad})
    assert plsim.current_client() is None


@pytest.mark.parametrize("bad", ["lots", "-3GB", 0, -1, "1KB", float("nan")])
def test_nonsense_memory_limit(bad):
    with pytest.raises(ValueError, match="memory_limit="):
        start_cluster(n_workers=1, memory_limit=bad)


def test_memory_limit_parsing():
    assert parse_memory_limit("2GB") == 2 * 10**9
    assert parse_memory_limit("512MiB") == 512 * 2**20
    assert parse_memory_limit(10**9) == 10**9
    assert parse_memory_limit(None) is None
    with pytest.raises(TypeError, match="memory_limit"):
        parse_memory_limit([1])


@pytest.mark.parametrize("bad", ["nonsense", "http://x", 8786, "tcp://host"])
def test_malformed_address(bad):
    with pytest.raises(ValueError, match="is not a Dask scheduler address"):
        start_cluster(address=bad)


def test_bad_input_starts_nothing():
    before = {p.pid for p in _worker_processes()}
    with pytest.raises(ValueError):
        start_cluster(n_workers=0)
    assert {p.pid for p in _worker_processes()} == before
    assert plsim.current_client() is None


def test_warns_when_local_sizing_is_given_with_an_address():
    with warnings.catch_warnings(record=True) as caught, pytest.raises(ClusterConnectionError):
        warnings.simplefilter("always")
        start_cluster(n_workers=2, address=f"tcp://127.0.0.1:{_free_port()}", timeout=1)
    assert any("ignored when connecting" in str(w.message) for w in caught)


@pytest.mark.slow
def test_local_deployment_is_real_processes_and_closes_them(monkeypatch):
    from plsim.cluster import WORKER_MEMORY_FRACTION
    from plsim.deployment import LocalDeployment

    # Binder's allowance: each `dask worker` gets its share of it, not the host's RAM (24 GiB here).
    monkeypatch.setenv("MEM_LIMIT", str(2 * 1024**3))
    with LocalDeployment(n_workers=2) as deployment:
        procs = [psutil.Process(pid) for pid in deployment.pids]
        assert len(procs) == 3 and all(p.is_running() for p in procs)
        client = start_cluster(address=deployment.address, quiet=True)
        assert len(client.nthreads()) == 2
        assert client.submit(sum, [20, 22]).result() == 42
        limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
        assert limits == [int(2 * 1024**3 * WORKER_MEMORY_FRACTION) // 2] * 2 == [deployment.memory_limit] * 2
        assert "819 MiB per worker" in repr(deployment)
        close_cluster()
    assert _wait_gone(procs, timeout=5) == []


def test_local_deployment_checks_memory_limit_before_starting_anything():
    from plsim.deployment import LocalDeployment

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(ValueError, match=r"memory_limit='lots' is not a memory size"):
        LocalDeployment(n_workers=2, memory_limit="lots")
    with pytest.raises(ValueError, match=r"memory_limit=.* is below the 224 MiB"):
        LocalDeployment(n_workers=2, memory_limit="100MiB")
    assert {p.pid for p in psutil.Process().children(recursive=True)} == before  # no scheduler, no worker


def test_thread_workers_in_this_process():
    before = {p.pid for p in _worker_processes()}
    client = start_cluster(n_workers=2, processes=False, quiet=True)
    assert client.submit(pow, 3, 3).result() == 27
    assert len(client.nthreads()) == 2
    assert {p.pid for p in _worker_processes()} == before  # threads: no new processes


@pytest.mark.slow
def test_local_workers_run_without_the_statistical_profiler():
    import dask.config

    client = start_cluster(n_workers=1, quiet=True)
    flags = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
    assert list(flags.values()) == [False]
    assert dask.config.get("distributed.worker.profile.enabled") is True  # the caller's config is untouched


@pytest.mark.slow
def test_local_workers_pin_blas_threads_but_keep_glibcs_adaptive_malloc():
    client = start_cluster(n_workers=1, quiet=True)
    env = next(iter(client.run(lambda: dict(os.environ)).values()))
    assert env.get("OMP_NUM_THREADS") == "1" and env.get("OPENBLAS_NUM_THREADS") == "1"
    assert "MALLOC_TRIM_THRESHOLD_" not in env


@pytest.mark.slow
def test_workers_keep_glibcs_adaptive_malloc_after_a_plain_dask_cluster_in_this_process(monkeypatch):
    # What a Dask LocalCluster of Dask's own leaves behind: its Nanny copies Dask's pre-spawn environment
    # into this process's os.environ (seen in this suite: test_executor's LocalCluster, then this file).
    import dask.config

    dasks = dask.config.get("distributed.nanny.pre-spawn-environ")["MALLOC_TRIM_THRESHOLD_"]
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", str(dasks))
    client = start_cluster(n_workers=1, quiet=True)
    env = next(iter(client.run(lambda: dict(os.environ)).values()))
    assert "MALLOC_TRIM_THRESHOLD_" not in env
    close_cluster()
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1048576")  # the user's own choice stays
    client = start_cluster(n_workers=1, quiet=True)
    env = next(iter(client.run(lambda: dict(os.environ)).values()))
    assert env["MALLOC_TRIM_THRESHOLD_"] == "1048576"


@pytest.mark.slow
def test_local_scheduler_hands_out_tasks_only_to_free_threads():
    client = start_cluster(n_workers=1, quiet=True)
    assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.WORKER_SATURATION) == 1.0


@pytest.mark.slow
def test_a_closed_cluster_is_garbage_collected():
    # distributed memoizes on its Scheduler objects (``core._expects_comm``, the dashboard's
    # ``template_variables``); without plsim emptying those caches every closed local cluster
    # stayed in memory (benchmarks/soak.py: ~0.8 MiB more per cluster).
    import gc
    import weakref

    import plsim

    refs = []
    for _ in range(2):
        client = plsim.start_cluster(n_workers=1, quiet=True)
        refs.append(weakref.ref(client.cluster.scheduler))
        client.submit(sum, [1, 2]).result()
        plsim.close_cluster()
        del client
    gc.collect()
    assert [r() for r in refs] == [None, None]


def test_functions_that_measure_the_cluster_refuse_none_and_a_closed_client():
    """Cells rerun after plsim.close_cluster(): a clear error naming the function, not Dask's ClosedClientError."""
    import numpy as np
    from dask.distributed import Client, LocalCluster

    from plsim.comm import ring_allreduce
    from plsim.comm.measure import measure_exchange
    from plsim.speedup import calibrate, record_timeline

    def timeline(c):
        with record_timeline(executor=c):
            pass

    calls = {"calibrate": lambda c: calibrate(executor=c), "measure_exchange": lambda c: measure_exchange(executor=c),
             "ring_allreduce": lambda c: ring_allreduce([np.ones(4), np.ones(4)], executor=c)}
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        closed = Client(cluster, set_as_default=False)
        closed.close()
    for name, call in calls.items():
        with pytest.raises(ValueError, match=rf"the executor runs sequential; {name}.* runs on the workers of a "
                                             r"Dask cluster: pass executor=<the client from plsim.start_cluster"):
            call(None)
    for name, call in {**calls, "record_timeline": timeline}.items():
        with pytest.raises(ValueError, match=r"is closed; start a cluster with plsim.start_cluster\(\)"):
            call(closed)
    with record_timeline(executor=None) as nothing:  # no scheduler here: nothing to record
        pass
    assert nothing == []

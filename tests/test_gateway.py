"""plsim on a real Dask Gateway (its local backend): the course's runs give the sequential results there.

A ``dask-gateway-server`` is started on free local ports with its ``UnsafeLocalBackend``
(schedulers and workers as processes of this user, as a hub's Kubernetes backend starts
pods), and ``plsim.start_cluster`` asks it for a cluster the way a hub's user would.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import plsim
from plsim import data, federated as F, models
from plsim.cluster import ClusterConnectionError
from plsim.ensembles import ParallelBaggingClassifier
from plsim.training import sync_sgd

pytest.importorskip("dask_gateway")
pytest.importorskip("dask_gateway_server")

# dask-gateway's GatewayCluster.close() closes its own Gateway, whose __del__ then closes it a second time
# and fails on distributed's stopped loop runner (printed, ignored). Upstream, not plsim's: ignore it here.
pytestmark = pytest.mark.filterwarnings("ignore:Exception ignored in. <function Gateway.__del__"
                                        ":pytest.PytestUnraisableExceptionWarning")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gateway_server(tmp_path_factory):
    """A running dask-gateway-server; yields its public address; stops it and every process it started."""
    folder = tmp_path_factory.mktemp("gateway")
    api, proxy = _free_port(), _free_port()
    (folder / "config.py").write_text(
        "c = get_config()\n"
        "c.DaskGateway.backend_class = 'dask_gateway_server.backends.local.UnsafeLocalBackend'\n"
        f"c.DaskGateway.address = '127.0.0.1:{api}'\n"
        f"c.Proxy.address = '127.0.0.1:{proxy}'\n"
        "c.DaskGateway.authenticator_class = 'dask_gateway_server.auth.SimpleAuthenticator'\n"
        f"c.UnsafeLocalBackend.cluster_start_timeout = 60\n"
        # distributed no longer ships the dask-scheduler / dask-worker scripts the backend calls by default
        f"c.ClusterConfig.scheduler_cmd = [{sys.executable!r}, '-m', 'distributed.cli.dask_scheduler']\n"
        f"c.ClusterConfig.worker_cmd = [{sys.executable!r}, '-m', 'distributed.cli.dask_worker']\n"
        "c.ClusterConfig.worker_cores = 1\n"
        "c.ClusterConfig.worker_memory = '1 G'\n"
        "c.ClusterConfig.idle_timeout = 300\n"
        # A hub's workers run the users' image; here, the same BLAS settings as this process (this machine
        # pins OpenBLAS's kernel: another kernel rounds differently in the last bit).
        "import os\n"
        "from dask_gateway_server.backends.local import UnsafeLocalBackend as B\n"
        "c.UnsafeLocalBackend.inherited_environment = [*B().inherited_environment, "
        "*[k for k in os.environ if k.startswith(('OPENBLAS_', 'OMP_', 'MKL_'))]]\n")
    log = open(folder / "server.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "dask_gateway_server", "-f", str(folder / "config.py")],
                              cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{proxy}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{address}/api/health", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"dask-gateway-server did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
    yield address
    os.killpg(server.pid, 15)
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, 9)
    log.close()


@pytest.fixture(scope="module")
def small():
    ds = data.load_dataset("digits", n_samples=400, random_state=0)
    return ds


def _no_clusters_left(address: str) -> list:
    from dask_gateway import Gateway

    gateway = Gateway(address)
    deadline = time.monotonic() + 30
    while (left := gateway.list_clusters()) and time.monotonic() < deadline:
        time.sleep(0.5)
    gateway.close()
    return left


@pytest.mark.slow
def test_the_course_runs_on_a_gateway_cluster_with_the_sequential_results(gateway_server, small, capsys):
    ds = small
    client = plsim.start_cluster(gateway=gateway_server, n_workers=2)
    try:
        assert "gateway cluster" in capsys.readouterr().out
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2 and all(w["nthreads"] == 1 for w in workers.values())
        assert plsim.current_client() is client
        # an ensemble fit
        on_gateway = ParallelBaggingClassifier(n_estimators=6, random_state=3, executor=client).fit(
            ds.X_train, ds.y_train)
        sequential = ParallelBaggingClassifier(n_estimators=6, random_state=3, executor=None).fit(
            ds.X_train, ds.y_train)
        np.testing.assert_array_equal(on_gateway.predict_proba(ds.X_test), sequential.predict_proba(ds.X_test))
        # a federated run
        parts = data.partition_iid(ds.y_train, 6, random_state=0)
        model = models.MLP(ds.n_features, (16,), ds.n_classes)
        kw = dict(algorithm="fedavg", local_epochs=1, batch_size=10, lr=0.05, rounds=3, client_fraction=0.5,
                  random_state=1)
        fed_g = F.run_federated(model, ds, parts, executor=client, **kw)
        fed_s = F.run_federated(model, ds, parts, executor=None, **kw)
        np.testing.assert_array_equal(fed_g.weights, fed_s.weights)
        assert [r.test_accuracy for r in fed_g.records] == [r.test_accuracy for r in fed_s.records]
        # a data-parallel run
        soft = models.SoftmaxRegression(ds.n_features, ds.n_classes)
        dp_g = sync_sgd(soft, ds.X_train, ds.y_train, executor=client, n_workers=2, n_steps=5, batch_size=64, random_state=0)
        dp_s = sync_sgd(soft, ds.X_train, ds.y_train, executor=None, n_workers=2, n_steps=5, batch_size=64, random_state=0)
        np.testing.assert_array_equal(dp_g.params, dp_s.params)
        assert dp_g.loss == dp_s.loss
        assert all(math.isfinite(x) for x in dp_g.loss)
        # running the cell again reuses the gateway cluster instead of asking for another
        assert plsim.start_cluster(gateway=gateway_server, n_workers=2, quiet=True) is client
    finally:
        plsim.close_cluster()
    assert client.status == "closed"
    assert _no_clusters_left(gateway_server) == [], "closing the client must shut the gateway cluster down"


@pytest.mark.slow
def test_the_hubs_gateway_setting_is_used_when_no_address_is_given(gateway_server, monkeypatch):
    import dask.config

    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    with dask.config.set({"gateway.address": gateway_server, "scheduler-address": None}):
        with plsim.start_cluster(n_workers=1, quiet=True) as client:
            assert type(client.cluster).__name__ == "GatewayCluster"
            assert client.submit(sum, [1, 2, 3]).result() == 6
        # gateway=False: a local cluster even though the hub has a gateway
        with plsim.start_cluster(n_workers=1, gateway=False, quiet=True, set_as_default=False) as local:
            assert type(local.cluster).__name__ == "LocalCluster"
    assert _no_clusters_left(gateway_server) == []


def test_bad_gateway_arguments_are_refused_by_name(monkeypatch):
    import dask.config

    with pytest.raises(TypeError, match="gateway must be None, True, False or an address string, got 42"):
        plsim.start_cluster(gateway=42)
    with pytest.raises(ValueError, match=r"gateway='ftp://x' must be the gateway server's http\(s\)://"):
        plsim.start_cluster(gateway="ftp://x")
    with dask.config.set({"gateway.address": None}):
        with pytest.raises(ValueError, match="gateway=True but Dask's gateway.address setting is empty"):
            plsim.start_cluster(gateway=True)
    with pytest.raises(ValueError, match="give a scheduler address or a gateway, not both"):
        plsim.start_cluster(address="tcp://127.0.0.1:8786", gateway="http://127.0.0.1:1")


def test_an_unreachable_gateway_is_a_connection_error_naming_it():
    port = _free_port()   # nothing listens there
    with pytest.raises(ClusterConnectionError, match=f"the Dask Gateway at 'http://127.0.0.1:{port}' gave no cluster"):
        plsim.start_cluster(gateway=f"http://127.0.0.1:{port}", quiet=True)

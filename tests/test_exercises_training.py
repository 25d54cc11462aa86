"""Notebook 04's exercises: every worked solution passes its check, wrong answers and wrong code fail.

The asynchronous parameter server the student writes is checked by replaying the
order it observed through plsim's update rule; that replay is itself checked here
against plsim's simulated parameter server on arrival orders worked out by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from dask.distributed import as_completed

from _cells import needed_cells
from _exercise_solutions import on_clusters  # noqa: F401
from plsim.data import load_dataset
from plsim.exercises import check, check_code, predict, registered, reveal
from plsim.exercises import _core
from plsim.exercises.training import (
    PS_LR,
    check_ps_log,
    replay_async_ps,
    steady_staleness,
    step_speedup,
    sync_follows_ssp0,
)
from plsim.models import SoftmaxRegression
from plsim.training import TrainingHistory
from plsim.training._common import check_w0
from plsim.training.async_ps import async_sgd_simulated

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "solutions"
SOFT = SoftmaxRegression(64, 10)


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits")
    return ds.X_train, ds.y_train


def _solution(name: str, **namespace) -> dict:
    """Run a worked solution as the notebook would (its check calls recorded), return its namespace."""
    fed = []
    ns = {"check": lambda *a, **k: fed.append(check(*a, quiet=True, **k)),
          "check_code": lambda *a, **k: fed.append(check_code(*a, quiet=True, **k)), **namespace}
    exec(compile((SOLUTIONS / f"{name}.py").read_text(), f"{name}.py", "exec"), ns)
    ns["_feedback"] = fed
    return ns


def test_every_exercise_of_04_is_registered_with_a_misconception():
    mine = {n: ex for n, ex in registered().items() if ex.notebook == "04_distributed_training"}
    assert set(mine) == {"async_ps", "dp_step_speedup", "async_staleness", "ssp_sync_lr"}
    assert all(ex.misconception for ex in mine.values())


@pytest.fixture
def client(client):
    """The session cluster as the current client, as the notebook's ``start_cluster()`` makes it the default
    (a student's ``as_completed()`` with no futures yet finds its client that way)."""
    with client.as_current():
        yield client


# -- the replay that checks the student's parameter server ------------------------------------------
def test_replay_equals_plsims_simulated_server_on_hand_worked_orders(digits):
    X, y = digits
    from plsim.training._common import shard_indices

    shards = [(X[s], y[s]) for s in shard_indices(len(y), 2, 0)]
    w0 = check_w0(SOFT, None, 0)
    # Two equal workers (ties go to the lower index): they alternate, each reading the version after its last push.
    alternate = [(0, 0), (1, 0), (0, 1), (1, 2), (0, 3), (1, 4)]
    # Worker 1 at half speed: finishes at t = 2, 4; worker 0 at t = 1, 2, 3, 4 (hand-worked on the virtual clock).
    half = [(0, 0), (0, 1), (1, 0), (0, 2), (0, 4), (1, 3)]
    for speeds, log, stale in (([1, 1], alternate, [0, 1, 1, 1, 1, 1]), ([1, 0.5], half, [0, 0, 2, 1, 0, 2])):
        h = async_sgd_simulated(SOFT, X, y, n_workers=2, worker_speeds=speeds, lr=0.1, n_updates=6,
                                batch_size=None, random_state=0)
        w, staleness = replay_async_ps(SOFT, shards, w0, 0.1, log)
        assert staleness == stale == h.staleness
        np.testing.assert_allclose(w, h.params, rtol=0, atol=1e-13)
        assert check_ps_log(log, 2, 6) == ""


def test_replay_refuses_impossible_logs(digits):
    X, y = digits
    shards = [(X[:10], y[:10]), (X[10:20], y[10:20])]
    w0 = np.zeros(SOFT.n_params)
    with pytest.raises(ValueError, match=r"log\[1\]=\(1, 2\)"):   # update 1 cannot read version 2
        replay_async_ps(SOFT, shards, w0, 0.1, [(0, 0), (1, 2)])
    with pytest.raises(ValueError, match=r"log\[0\]=\(2, 0\)"):   # there is no worker 2
        replay_async_ps(SOFT, shards, w0, 0.1, [(2, 0)])
    with pytest.raises(ValueError, match="lr="):
        replay_async_ps(SOFT, shards, w0, float("nan"), [(0, 0)])
    with pytest.raises(TypeError, match="n_workers"):
        steady_staleness(2.5)


def test_log_checker_names_what_is_wrong():
    assert check_ps_log([(0, 0), (1, 0), (0, 1)], 2, 3) == ""
    assert "not 4" in check_ps_log([(0, 0), (1, 0), (0, 1)], 2, 4)              # forgot to resubmit
    assert "without waiting" in check_ps_log([(0, 0), (1, 0), (0, 2), (1, 2)], 2, 4)  # lock-step rounds
    assert "version 0" in check_ps_log([(0, 0), (1, 1)], 2, 2)                    # second worker started late
    assert "worker 5" in check_ps_log([(5, 0)], 2, 1)
    assert "pairs" in check_ps_log([("a", "b")], 2, 1)


# -- the code exercise on a real cluster ----------------------------------------------------------
def _server(client, model, shards, w0, lr, n_updates, *, stale_copy=False, resubmit=True, lockstep=False,
            in_place=False):
    """The worked solution's algorithm with one switchable mistake."""
    w = w0 if in_place else w0.copy()
    data = [(client.scatter(a, hash=False), client.scatter(b, hash=False)) for a, b in shards]
    reads, log, version = {}, [], 0
    done = as_completed()
    for i, (a, b) in enumerate(data):
        f = client.submit(model.gradient, w.copy(), a, b, pure=False)
        reads[f] = (i, version, w.copy())
        done.add(f)
    for f in done:
        i, read, w_read = reads.pop(f)
        g = f.result()
        if stale_copy:
            w = w_read - lr * g
        elif in_place:
            w -= lr * g
        else:
            w = w - lr * g
        log.append((i, read))
        version += 1
        if version == n_updates:
            break
        if lockstep and reads:
            continue  # waits for the round to finish before resubmitting anyone
        if resubmit:
            for j in ([k for k, _ in enumerate(data)] if lockstep else [i]):
                nf = client.submit(model.gradient, w.copy(), *data[j], pure=False)
                reads[nf] = (j, version, w.copy())
                done.add(nf)
    for f in reads:
        f.cancel()
    return w, log


@on_clusters
def test_worked_parameter_server_passes_on_a_real_cluster(cluster, request, digits):
    client = request.getfixturevalue(cluster)
    X, y = digits
    with client.as_current():  # as in the notebook, whose client is the default one (as_completed() finds it)
        ns = _solution("async_ps", client=client, soft=SOFT, X=X, y=y)
    (fb,) = ns["_feedback"]
    assert fb.correct is True, fb
    assert "Staleness of your run (measured)" in fb and "each computed by a task on the cluster" in fb
    # and its log is a real asynchronous one: with 3 workers the 2nd and 3rd gradients read version 0
    shards = [(X[:300], y[:300]), (X[300:600], y[300:600]), (X[600:900], y[600:900])]
    w0 = check_w0(SOFT, None, 0)
    with client.as_current():
        w, log = ns["my_parameter_server"](client, SOFT, shards, w0, PS_LR, 9)
    w_ref, staleness = replay_async_ps(SOFT, shards, w0, PS_LR, log)
    np.testing.assert_allclose(w, w_ref, rtol=1e-9, atol=1e-12)
    assert staleness[1] >= 1 and staleness[2] >= 1 and check_ps_log(log, 3, 9) == ""


@pytest.mark.parametrize("mistake, says", [
    ({"stale_copy": True}, "CURRENT parameters"),
    ({"resubmit": False}, "submit that worker again"),
    ({"lockstep": True}, "without waiting"),
    ({"in_place": True}, "changed the w0"),
])
def test_wrong_parameter_servers_fail(client, digits, mistake, says):
    X, y = digits
    fb = check_code("async_ps", lambda *a: _server(*a, **mistake), client=client, model=SOFT, X=X, y=y, quiet=True)
    assert fb.correct is False and says in fb, fb


def test_correct_server_variant_passes_and_a_sequential_fake_log_fails(client, digits):
    X, y = digits
    fb = check_code("async_ps", _server, client=client, model=SOFT, X=X, y=y, quiet=True)
    assert fb.correct is True, fb

    def claims_fresh(client, model, shards, w0, lr, n):  # every gradient computed at the newest w, logged honestly
        w, log = w0.copy(), []
        for k in range(n):
            i = k % len(shards)
            w = w - lr * model.gradient(w, *shards[i])
            log.append((i, k))
        return w, log

    fb = check_code("async_ps", claims_fresh, client=client, model=SOFT, X=X, y=y, quiet=True)
    assert fb.correct is False and "version 0" in fb, fb
    assert check_code("async_ps", lambda *a: 42, client=client, model=SOFT, X=X, y=y, quiet=True).correct is False


def _simulated_server(client, model, shards, w0, lr, n, *, on_cluster):
    """Fakes a valid asynchronous log: equally fast workers in turn, each gradient at the version it 'read'.

    Its parameters and log pass the replay; only the scheduler can tell that the gradients were computed in
    this process (on_cluster=False) or on the cluster one task at a time (on_cluster=True).
    """
    w, log = w0.copy(), []
    read = {i: (0, w0.copy()) for i in range(len(shards))}
    for k in range(n):
        i = k % len(shards)
        version, w_read = read[i]
        g = (client.submit(model.gradient, w_read, *shards[i], pure=False).result() if on_cluster
             else model.gradient(w_read, *shards[i]))
        w = w - lr * g
        log.append((i, version))
        read[i] = (k + 1, w.copy())
    return w, log


@pytest.mark.parametrize("on_cluster, says", [(False, "no task ran on the cluster"),
                                               (True, "tasks that computed your gradients ran one at a time")])
def test_simulated_asynchrony_fails(client, digits, on_cluster, says):
    X, y = digits
    shards = [(X[:300], y[:300]), (X[300:600], y[300:600]), (X[600:900], y[600:900])]
    w0 = check_w0(SOFT, None, 0)
    w, log = _simulated_server(client, SOFT, shards, w0, PS_LR, 9, on_cluster=on_cluster)
    assert check_ps_log(log, 3, 9) == ""  # a log no replay can tell from a real one...
    np.testing.assert_allclose(w, replay_async_ps(SOFT, shards, w0, PS_LR, log)[0], rtol=1e-9, atol=1e-12)
    fb = check_code("async_ps", lambda *a: _simulated_server(*a, on_cluster=on_cluster), client=client,
                    model=SOFT, X=X, y=y, quiet=True)
    assert fb.correct is False and says in fb, fb  # ...but the scheduler saw what really ran


def test_simulated_asynchrony_plus_dummy_tasks_fails(client, digits):
    """The simulated server, and more tasks than gradients for show, all in flight at once."""
    X, y = digits

    def with_dummies(client, model, shards, w0, lr, n):
        client.gather(client.map(abs, range(2 * n), pure=False))
        return _simulated_server(client, model, shards, w0, lr, n, on_cluster=False)

    fb = check_code("async_ps", with_dummies, client=client, model=SOFT, X=X, y=y, quiet=True)
    assert fb.correct is False, fb
    assert "15 of the 15 gradients your answer needs were not computed by any task on the cluster" in fb, fb


def test_simulated_asynchrony_beside_plsims_async_sgd_fails(client, digits):
    """plsim's own asynchronous server run on the cluster for show, the answer simulated here."""
    from plsim.training.async_ps import async_sgd

    X, y = digits

    def beside_plsim(client, model, shards, w0, lr, n):
        async_sgd(model, *shards[0], executor=client, n_workers=len(shards), lr=lr, n_updates=n, batch_size=None, random_state=0)
        return _simulated_server(client, model, shards, w0, lr, n, on_cluster=False)

    fb = check_code("async_ps", beside_plsim, client=client, model=SOFT, X=X, y=y, quiet=True)
    assert fb.correct is False and "plsim's own (async_sgd's)" in fb, fb


def test_parameter_server_check_needs_a_cluster(digits):
    X, y = digits
    fb = check_code("async_ps", _server, client=None, model=SOFT, X=X, y=y, quiet=True)
    assert fb.correct is False and "pass client=client" in fb, fb


# -- answer exercises ------------------------------------------------------------------------------
def test_staleness_of_equal_workers_is_n_minus_1():
    # hand-checked: 4 equal workers; each pushes once while one computes, so every later gradient is 3 old
    assert steady_staleness(4) == 3 and steady_staleness(2) == 1
    ns = _solution("async_staleness")
    assert [fb.correct for fb in ns["_feedback"]] == [True]
    assert check("async_staleness", 1, quiet=True).correct is False
    assert check("async_staleness", None, quiet=True).correct is None


def test_sync_lr_that_follows_ssp0_is_n_times_the_server_lr():
    ns = _solution("ssp_sync_lr")
    assert [fb.correct for fb in ns["_feedback"]] == [True]
    assert sync_follows_ssp0(4 * 0.05)                       # closed form: sum of 4 gradients = 4 x their mean
    for wrong in (0.05, 0.05 / 4, 0.1, 0.25, -0.2, float("nan")):
        assert check("ssp_sync_lr", wrong, quiet=True).correct is False, wrong
    assert check("ssp_sync_lr", "0.2x", quiet=True).correct is False


# -- predict -> run -> explain -------------------------------------------------------------------
def _hist(step_ms: float, n: int, replicas: int | None = None) -> TrainingHistory:
    h = TrainingHistory("sync", "measured", time=[k * step_ms / 1e3 for k in range(1, n + 1)])
    if replicas:
        h.info["n_workers"] = replicas
    return h


def test_step_speedup_and_its_explanation():
    sync, single = _hist(4.0, 40, replicas=2), _hist(0.5, 40)
    assert step_speedup(sync, single) == pytest.approx(0.125)  # 0.5 ms / 4 ms
    try:
        predict("dp_step_speedup", 2, quiet=True)
        fb = reveal("dp_step_speedup", step_speedup(sync, single), sync=sync, single=single, cpus=1, quiet=True)
        assert fb.correct is False and "too high" in fb
        assert "4.00 ms" in fb and "0.50 ms" in fb and "take turns" in fb and "scheduling" in fb
        predict("dp_step_speedup", 0.13, quiet=True)
        assert reveal("dp_step_speedup", 0.125, sync=sync, single=single, cpus=2, quiet=True).correct is True
        fast = reveal("dp_step_speedup", 1.6, sync=_hist(0.5, 9, replicas=2), single=_hist(0.8, 9), cpus=2,
                      quiet=True)
        assert "Amdahl" in fast and "take turns" not in fast
    finally:
        _core._PREDICTIONS.pop("dp_step_speedup", None)
    text = (SOLUTIONS / "dp_step_speedup.py").read_text()
    assert "explanation" in text


# -- the notebook, answered: every worked solution loaded where the notebook offers it -----------------
EXERCISE_CALL = re.compile(r"\b(?:check|check_code|predict|reveal)\(|\bclose_cluster\(")


@pytest.mark.slow
def test_notebook_with_its_solutions_loaded_answers_every_exercise():
    """Run 04 with each ``%load solutions/<name>.py`` replaced by that file and a prediction written in.

    The solutions then run in the notebook's own namespace (its client, model and data), as a student's would.
    Only the exercise cells and the earlier cells they need run (``tests/_cells.py``): nbval and the Binder
    profile run the whole notebook top to bottom already.
    """
    import json

    import nbformat
    from nbclient import NotebookClient

    path = SOLUTIONS.parent / "04_distributed_training.ipynb"
    nb = nbformat.read(path, as_version=4)
    loaded = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.source.startswith("%load solutions/"):
            cell.source = (SOLUTIONS.parent / cell.source.split()[1]).read_text()
            loaded.append(index)
        elif cell.source.startswith("prediction = None"):
            cell.source = cell.source.replace("prediction = None", "prediction = 0.5", 1)
    assert len(loaded) >= 4
    sources = [c.source if c.cell_type == "code" else None for c in nb.cells]
    targets = loaded + [i for i, s in enumerate(sources) if s is not None and EXERCISE_CALL.search(s)]
    nb.cells = [nb.cells[i] for i in needed_cells(sources, targets)]
    NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(SOLUTIONS.parent)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    for name in ("async_staleness", "ssp_sync_lr", "async_ps"):
        assert f"[{name}] correct!" in text, f"{name}: {json.dumps(text[-2000:])}"
    assert "[dp_step_speedup] you predicted 0.5" in text

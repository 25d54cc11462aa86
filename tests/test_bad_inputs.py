"""Bad input gets a clear error, across the public API: one table, one rule.

Each row calls one public function, class or widget callback with one bad
argument and states the error it must raise: ``TypeError`` for a wrong type,
``ValueError`` for a wrong value (NaN and inf included), ``ConnectionError`` for
an address nobody answers at. The message must name the parameter and the bad
value. For every row the test also checks that the arrays passed in are
unchanged and that no child process, listening port or temporary file is left.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import psutil
import pytest

from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier as KNN
from sklearn.tree import DecisionTreeClassifier

import plsim
from plsim import comm, data, models
from plsim import federated as F
from plsim import speedup as sp
from plsim.ensembles import (ParallelBaggingClassifier, ParallelVotingClassifier, RandomSubspaceClassifier,
                             SweepEnsembleClassifier, accuracy_curve, error_correlation, pairwise_disagreement)
from plsim.training import (async_sgd_simulated, bubble_fraction, gpipe_schedule, large_batch_sgd, local_sgd,
                            predict_scaling, split_stages, sync_sgd)

NAN, INF = float("nan"), float("inf")
RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 4))
Y = np.arange(40) % 3
SOFT = models.SoftmaxRegression(4, 3)
MLP3 = models.MLP(4, hidden=(5, 5), n_classes=3)
DS = data.load_dataset("digits")
PARTS = data.partition_iid(DS.y_train, 4)
SOFT64 = models.SoftmaxRegression(64, 10)


def tree():
    return DecisionTreeClassifier(max_depth=2)


# (id, call, error, words the message must contain)
CASES: list[tuple[str, Callable[[], Any], type[Exception], tuple[str, ...]]] = [
    # -- cluster ----------------------------------------------------------------------------------
    ("start_cluster n_workers=0", lambda: plsim.start_cluster(0, quiet=True), ValueError, ("n_workers", "0")),
    ("start_cluster n_workers='2'", lambda: plsim.start_cluster("2", quiet=True), TypeError, ("n_workers", "'2'")),
    ("start_cluster n_workers=1.5", lambda: plsim.start_cluster(1.5, quiet=True), TypeError, ("n_workers", "1.5")),
    ("start_cluster threads=-1", lambda: plsim.start_cluster(1, threads_per_worker=-1, quiet=True), ValueError,
     ("threads_per_worker", "-1")),
    ("start_cluster memory='lots'", lambda: plsim.start_cluster(1, memory_limit="lots", quiet=True), ValueError,
     ("memory_limit", "'lots'")),
    ("start_cluster memory=True", lambda: plsim.start_cluster(1, memory_limit=True, quiet=True), TypeError,
     ("memory_limit", "True")),
    ("start_cluster memory=nan", lambda: plsim.start_cluster(1, memory_limit=NAN, quiet=True), ValueError,
     ("memory_limit", "nan")),
    ("start_cluster address=garbage", lambda: plsim.start_cluster(address="not an address", quiet=True), ValueError,
     ("address", "'not an address'")),
    ("start_cluster processes='yes'", lambda: plsim.start_cluster(1, processes="yes", quiet=True), TypeError,
     ("processes", "'yes'")),
    ("start_cluster timeout=-1", lambda: plsim.start_cluster(address="tcp://127.0.0.1:9", timeout=-1, quiet=True),
     ValueError, ("timeout", "-1")),
    ("start_cluster unreachable", lambda: plsim.start_cluster(address="tcp://127.0.0.1:9", timeout=0.5, quiet=True),
     ConnectionError, ("address", "127.0.0.1:9")),
    # -- speedup ----------------------------------------------------------------------------------
    ("amdahl f=nan", lambda: sp.amdahl_speedup(NAN, 4), ValueError, ("serial_fraction", "nan")),
    ("amdahl f=1.5", lambda: sp.amdahl_speedup(1.5, 4), ValueError, ("serial_fraction", "1.5")),
    ("amdahl f='0.1'", lambda: sp.amdahl_speedup("0.1", 4), TypeError, ("serial_fraction", "'0.1'")),
    ("amdahl workers=0", lambda: sp.amdahl_speedup(0.1, 0), ValueError, ("workers", "0")),
    ("amdahl workers=inf", lambda: sp.amdahl_speedup(0.1, INF), ValueError, ("workers", "inf")),
    ("gustafson f=-0.1", lambda: sp.gustafson_speedup(-0.1, 4), ValueError, ("serial_fraction", "-0.1")),
    ("karp_flatt speedup=nan", lambda: sp.karp_flatt(NAN, 2), ValueError, ("speedup", "nan")),
    ("karp_flatt workers=1", lambda: sp.karp_flatt(1.0, 1), ValueError, ("workers", "1")),
    ("fit_amdahl mismatched", lambda: sp.fit_amdahl([1, 2], [1.0]), ValueError, ("speedups",)),
    ("CostModel task_seconds=nan", lambda: sp.CostModel(task_seconds=NAN, n_tasks=2), ValueError,
     ("task_seconds", "nan")),
    ("CostModel task_seconds=inf", lambda: sp.CostModel(task_seconds=INF, n_tasks=2), ValueError,
     ("task_seconds", "inf")),
    ("CostModel n_tasks=0", lambda: sp.CostModel(task_seconds=1.0, n_tasks=0), ValueError, ("n_tasks", "0")),
    ("CostModel n_tasks=2.5", lambda: sp.CostModel(task_seconds=1.0, n_tasks=2.5), TypeError, ("n_tasks", "2.5")),
    ("CostModel overhead=-1", lambda: sp.CostModel(task_seconds=1.0, n_tasks=2, overhead_per_task=-1.0),
     ValueError, ("overhead_per_task", "-1")),
    ("CostModel bandwidth=0", lambda: sp.CostModel(task_seconds=1.0, n_tasks=2, bandwidth=0.0), ValueError,
     ("bandwidth", "0")),
    ("CostModel.speedup workers=0", lambda: sp.CostModel(task_seconds=1.0, n_tasks=2).speedup(0), ValueError,
     ("workers", "0")),
    ("time_call fn=1", lambda: sp.time_call(1), TypeError, ("fn",)),
    ("time_call repeats=0", lambda: sp.time_call(lambda: None, repeats=0), ValueError, ("repeats", "0")),
    ("time_call warmup=-1", lambda: sp.time_call(lambda: None, warmup=-1), ValueError, ("warmup", "-1")),
    ("python_work_iterations ms=-5", lambda: sp.python_work_iterations(-5), ValueError, ("milliseconds", "-5")),
    ("python_work_iterations ms=nan", lambda: sp.python_work_iterations(NAN), ValueError, ("milliseconds", "nan")),
    ("run_sequential func=3", lambda: sp.run_sequential(3, [1]), TypeError, ("func",)),
    ("compare_paired nan", lambda: sp.compare_paired([1.0, NAN], [1.0, 1.0]), ValueError, ("seconds_a", "nan")),
    ("compare_paired mismatched", lambda: sp.compare_paired([1.0], [1.0, 2.0]), ValueError,
     ("seconds_a", "seconds_b")),
    ("compare_paired text", lambda: sp.compare_paired("fast", [1.0]), TypeError, ("seconds_a",)),
    ("time_paired pairs=0", lambda: sp.time_paired(lambda: 1, lambda: 1, pairs=0), ValueError, ("pairs", "0")),
    ("time_paired run_a=1", lambda: sp.time_paired(1, lambda: 1), TypeError, ("run_a",)),
    ("read_speedup nan", lambda: sp.read_speedup(NAN, 2, cpus=2), ValueError, ("speedup", "nan")),
    ("read_speedup cpus=0", lambda: sp.read_speedup(1.0, 2, cpus=0), ValueError, ("cpus", "0")),
    ("SpeedupResult empty", lambda: sp.SpeedupResult(sp.Timing((1.0,)), {}), ValueError, ("parallel",)),
    ("SpeedupResult.from_seconds inf", lambda: sp.SpeedupResult.from_seconds(INF, {2: 1.0}), ValueError,
     ("sequential", "inf")),
    # -- data -------------------------------------------------------------------------------------
    ("load_dataset name", lambda: data.load_dataset("imagenet"), ValueError, ("name", "'imagenet'")),
    ("load_dataset name=3", lambda: data.load_dataset(3), TypeError, ("name", "3")),
    ("partition_iid n_clients=0", lambda: data.partition_iid(Y, 0), ValueError, ("n_clients", "0")),
    ("partition_iid n_clients=2.5", lambda: data.partition_iid(Y, 2.5), TypeError, ("n_clients", "2.5")),
    ("partition_iid too many", lambda: data.partition_iid(Y, 41), ValueError, ("n_clients", "41")),
    ("partition_iid empty y", lambda: data.partition_iid(np.array([], dtype=int), 2), ValueError, ("y",)),
    ("partition_dirichlet alpha=nan", lambda: data.partition_dirichlet(Y, 3, NAN), ValueError, ("alpha", "nan")),
    ("partition_dirichlet alpha=-1", lambda: data.partition_dirichlet(Y, 3, -1.0), ValueError, ("alpha", "-1")),
    ("partition_dirichlet alpha=inf", lambda: data.partition_dirichlet(Y, 3, INF), ValueError, ("alpha", "inf")),
    ("partition_shards shards=0", lambda: data.partition_shards(Y, 4, 0), ValueError, ("shards_per_client", "0")),
    ("partition_quantity_skew sigma=nan", lambda: data.partition_quantity_skew(Y, 4, sigma=NAN), ValueError,
     ("sigma", "nan")),
    ("partition scheme", lambda: data.partition(Y, 4, "random"), ValueError, ("scheme", "'random'")),
    ("label_distribution n_classes=0", lambda: data.label_distribution(Y, [np.arange(4)], 0), ValueError,
     ("n_classes", "0")),
    # -- models -----------------------------------------------------------------------------------
    ("SoftmaxRegression n_features=0", lambda: models.SoftmaxRegression(0, 3), ValueError, ("n_features", "0")),
    ("SoftmaxRegression n_classes=1", lambda: models.SoftmaxRegression(4, 1), ValueError, ("n_classes", "1")),
    ("SoftmaxRegression l2=nan", lambda: models.SoftmaxRegression(4, 3, l2=NAN), ValueError, ("l2", "nan")),
    ("MLP hidden=(0,)", lambda: models.MLP(4, hidden=(0,), n_classes=3), ValueError, ("hidden",)),
    ("MLP hidden='64'", lambda: models.MLP(4, hidden="64", n_classes=3), TypeError, ("hidden", "'64'")),
    ("make_model name", lambda: models.make_model("transformer", 4, 3), ValueError, ("name", "'transformer'")),
    ("loss_and_gradient X rows != y", lambda: SOFT.loss_and_gradient(SOFT.init_params(0), X, Y[:10]), ValueError,
     ("y",)),
    ("loss_and_gradient X columns", lambda: SOFT.loss_and_gradient(SOFT.init_params(0), X[:, :3], Y), ValueError,
     ("X",)),
    ("loss_and_gradient w size", lambda: SOFT.loss_and_gradient(np.zeros(3), X, Y), ValueError, ("w",)),
    ("loss_and_gradient label 7", lambda: SOFT.loss_and_gradient(SOFT.init_params(0), X, np.full(40, 7)),
     ValueError, ("y", "7")),
    ("loss_and_gradient X nan", lambda: SOFT.loss_and_gradient(SOFT.init_params(0), np.full((40, 4), NAN), Y),
     ValueError, ("X",)),
    # -- comm -------------------------------------------------------------------------------------
    ("LinkModel alpha=nan", lambda: comm.LinkModel(alpha=NAN), ValueError, ("alpha", "nan")),
    ("LinkModel beta=-1", lambda: comm.LinkModel(beta=-1.0), ValueError, ("beta", "-1")),
    ("link_preset name", lambda: comm.link_preset("carrier pigeon"), ValueError, ("name", "'carrier pigeon'")),
    ("comm_time algorithm", lambda: comm.comm_time("gossip", 4, 1e6), ValueError, ("algorithm", "'gossip'")),
    ("comm_time n_workers=0", lambda: comm.comm_time("ring", 0, 1e6), ValueError, ("n_workers", "0")),
    ("comm_time n_bytes=nan", lambda: comm.comm_time("ring", 4, NAN), ValueError, ("n_bytes", "nan")),
    ("comm_time n_bytes=-1", lambda: comm.comm_time("ring", 4, -1.0), ValueError, ("n_bytes", "-1")),
    ("comm_bytes n_workers='4'", lambda: comm.comm_bytes("ring", "4", 1e6), TypeError, ("n_workers", "'4'")),
    ("topk_compress k=0", lambda: comm.topk_compress(np.ones(5), 0), ValueError, ("k", "0")),
    ("topk_compress k=9", lambda: comm.topk_compress(np.ones(5), 9), ValueError, ("k", "9")),
    ("quantize_8bit nan", lambda: comm.quantize_8bit(np.array([1.0, NAN])), ValueError, ("g", "nan")),
    ("make_compressor method", lambda: comm.make_compressor("zip"), ValueError, ("method", "'zip'")),
    ("ring_allreduce_local empty", lambda: comm.ring_allreduce_local([]), ValueError, ("arrays",)),
    ("ring_allreduce_local shapes", lambda: comm.ring_allreduce_local([np.ones(3), np.ones(4)]), ValueError,
     ("arrays",)),
    # -- federated --------------------------------------------------------------------------------
    ("weighted_average empty", lambda: F.weighted_average([], []), ValueError, ("vectors",)),
    ("weighted_average mismatched", lambda: F.weighted_average([np.ones(2)], [1.0, 2.0]), ValueError,
     ("weights",)),
    ("weighted_average negative", lambda: F.weighted_average([np.ones(2), np.ones(2)], [1.0, -1.0]), ValueError,
     ("weights", "-1")),
    ("weighted_average nan", lambda: F.weighted_average([np.ones(2), np.ones(2)], [1.0, NAN]), ValueError,
     ("weights", "nan")),
    ("compute_epsilon nan", lambda: F.compute_epsilon(NAN, 0.01, 100, 1e-5), ValueError,
     ("noise_multiplier", "nan")),
    ("compute_epsilon delta=2", lambda: F.compute_epsilon(1.0, 0.01, 100, 2.0), ValueError, ("delta", "2")),
    ("clip_update clip=0", lambda: F.clip_update(np.ones(3), 0.0), ValueError, ("clip", "0")),
    ("DPConfig clip=nan", lambda: F.DPConfig(clip=NAN), ValueError, ("clip", "nan")),
    ("VirtualClock compute_speed=0", lambda: F.VirtualClock(compute_speed=0.0), ValueError,
     ("compute_speed", "0")),
    ("select_clients fraction=nan", lambda: F.select_clients(10, NAN, 1, 0), ValueError,
     ("client_fraction", "nan")),
    ("select_clients fraction=2", lambda: F.select_clients(10, 2.0, 1, 0), ValueError, ("client_fraction", "2")),
    ("make_server_optimizer spec", lambda: F.make_server_optimizer("adamw"), ValueError, ("'adamw'",)),
    ("run_federated algorithm", lambda: F.run_federated(SOFT64, DS, PARTS, algorithm="fedsvrg", random_state=0), ValueError,
     ("algorithm", "'fedsvrg'")),
    ("run_federated rounds=0", lambda: F.run_federated(SOFT64, DS, PARTS, rounds=0, random_state=0), ValueError, ("rounds", "0")),
    ("run_federated lr=inf", lambda: F.run_federated(SOFT64, DS, PARTS, lr=INF, random_state=0), ValueError, ("lr", "inf")),
    ("run_federated fraction=nan", lambda: F.run_federated(SOFT64, DS, PARTS, client_fraction=NAN, random_state=0), ValueError,
     ("client_fraction", "nan")),
    ("run_federated parts empty", lambda: F.run_federated(SOFT64, DS, [], random_state=0), TypeError, ("parts",)),
    ("run_federated dropout=1.5", lambda: F.run_federated(SOFT64, DS, PARTS, dropout_rate=1.5, random_state=0), ValueError,
     ("dropout_rate", "1.5")),
    # -- training ---------------------------------------------------------------------------------
    ("sync_sgd lr=nan", lambda: sync_sgd(SOFT, X, Y, lr=NAN, random_state=0), ValueError, ("lr", "nan")),
    ("sync_sgd n_steps=0", lambda: sync_sgd(SOFT, X, Y, n_steps=0, random_state=0), ValueError, ("n_steps", "0")),
    ("sync_sgd compression", lambda: sync_sgd(SOFT, X, Y, compression="gzip", random_state=0), ValueError,
     ("compression", "'gzip'")),
    ("sync_sgd topk_ratio=2", lambda: sync_sgd(SOFT, X, Y, compression="topk", topk_ratio=2.0, random_state=0), ValueError,
     ("topk_ratio", "2")),
    ("sync_sgd batch too big", lambda: sync_sgd(SOFT, X, Y, batch_size=400, random_state=0), ValueError, ("batch_size", "400")),
    ("sync_sgd mismatched", lambda: sync_sgd(SOFT, X, Y[:5], random_state=0), ValueError, ("y",)),
    ("large_batch_sgd n_workers=0", lambda: large_batch_sgd(SOFT, X, Y, n_workers=0, random_state=0), ValueError,
     ("n_workers", "0")),
    ("local_sgd H=0", lambda: local_sgd(SOFT, X, Y, H=0, random_state=0), ValueError, ("H", "0")),
    ("local_sgd lr=-1", lambda: local_sgd(SOFT, X, Y, lr=-1.0, random_state=0), ValueError, ("lr", "-1")),
    ("async simulated speeds", lambda: async_sgd_simulated(SOFT, X, Y, n_workers=2, worker_speeds=[1.0], random_state=0),
     ValueError, ("worker_speeds",)),
    ("async simulated bound=-1", lambda: async_sgd_simulated(SOFT, X, Y, staleness_bound=-1, random_state=0), ValueError,
     ("staleness_bound", "-1")),
    ("bubble_fraction stages=0", lambda: bubble_fraction(0, 4), ValueError, ("n_stages", "0")),
    ("bubble_fraction micro=0", lambda: bubble_fraction(4, 0), ValueError, ("n_micro", "0")),
    ("gpipe_schedule times", lambda: gpipe_schedule(2, 2, forward_time=-1.0), ValueError, ("forward_time", "-1")),
    ("split_stages too many", lambda: split_stages(MLP3, 9), ValueError, ("n_stages", "9")),
    ("predict_scaling mode", lambda: predict_scaling([1, 2], compute_seconds=1.0, n_bytes=1e6, mode="diagonal"),
     ValueError, ("mode", "'diagonal'")),
    ("predict_scaling compute=nan", lambda: predict_scaling([1, 2], compute_seconds=NAN, n_bytes=1e6), ValueError,
     ("compute_seconds", "nan")),
    # -- ensembles (scikit-learn style: checked in fit) ------------------------------------------
    ("bagging n_estimators=0", lambda: ParallelBaggingClassifier(tree(), n_estimators=0).fit(X, Y), ValueError,
     ("n_estimators", "0")),
    ("bagging max_samples=2.0", lambda: ParallelBaggingClassifier(tree(), max_samples=2.0).fit(X, Y), ValueError,
     ("max_samples", "2.0")),
    ("bagging random_state='x'", lambda: ParallelBaggingClassifier(tree(), random_state="x").fit(X, Y),
     ValueError, ("random_state", "'x'", "is not allowed")),
    # Trees accept NaN (scikit-learn >= 1.3); logistic regression does not, and says so.
    ("bagging X nan", lambda: ParallelBaggingClassifier(LogisticRegression()).fit(np.full((40, 4), NAN), Y),
     ValueError, ("NaN",)),
    ("bagging mismatched", lambda: ParallelBaggingClassifier(tree()).fit(X, Y[:10]), ValueError, ("samples",)),
    ("bagging executor=42", lambda: ParallelBaggingClassifier(tree(), executor=42).fit(X, Y), TypeError,
     ("executor", "42")),
    ("subspace max_features=0", lambda: RandomSubspaceClassifier(tree(), max_features=0).fit(X, Y), ValueError,
     ("max_features", "0")),
    ("voting voting='rank'", lambda: ParallelVotingClassifier([("t", tree())], voting="rank").fit(X, Y),
     ValueError, ("voting", "'rank'")),
    ("voting estimators=[]", lambda: ParallelVotingClassifier([]).fit(X, Y), ValueError, ("estimators",)),
    ("sweep top_k=0", lambda: SweepEnsembleClassifier(tree(), {"max_depth": [1, 2]}, top_k=0).fit(X, Y),
     ValueError, ("top_k", "0")),
    ("pairwise_disagreement 1-D", lambda: pairwise_disagreement(np.ones(4)), ValueError, ("predictions",)),
    ("error_correlation shape", lambda: error_correlation(np.ones((2, 3)), Y), ValueError, ("predictions",)),
    ("accuracy_curve object", lambda: accuracy_curve(object(), X, Y), TypeError, ("ensemble",)),
    ("bagging sample_weight short", lambda: ParallelBaggingClassifier(tree()).fit(X, Y, sample_weight=np.ones(3)),
     ValueError, ("sample_weight", "(3,)")),
    ("bagging sample_weight nan",
     lambda: ParallelBaggingClassifier(tree()).fit(X, Y, sample_weight=np.r_[NAN, np.ones(39)]),
     ValueError, ("sample_weight", "nan")),
    ("bagging sample_weight inf",
     lambda: ParallelBaggingClassifier(tree()).fit(X, Y, sample_weight=np.r_[np.ones(39), INF]),
     ValueError, ("sample_weight", "inf")),
    ("voting sample_weight -1",
     lambda: ParallelVotingClassifier([("t", tree())]).fit(X, Y, sample_weight=np.r_[-1.0, np.ones(39)]),
     ValueError, ("sample_weight", "-1.0")),
    ("subspace sample_weight text", lambda: RandomSubspaceClassifier(tree()).fit(X, Y, sample_weight=["a"] * 40),
     TypeError, ("sample_weight", "'a'")),
    ("voting sample_weight unsupported", lambda: ParallelVotingClassifier([("t", tree()), ("k", KNN())]).fit(
        X, Y, sample_weight=np.ones(40)), TypeError, ("estimators['k']", "KNeighborsClassifier", "sample_weight")),
]


def _listening_ports() -> set:
    try:
        return {c.laddr for c in psutil.Process().net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
    except psutil.Error:  # pragma: no cover - platform without the call
        return set()


def _snapshot(temp_dir) -> tuple[set, set, set]:
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    return children, _listening_ports(), set(os.listdir(temp_dir))


def test_the_table_is_big_enough():
    assert len(CASES) >= 100


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly(case, tmp_path, monkeypatch):
    _, call, error, words = case
    # A temporary folder of this case's own: the machine's /tmp is shared with other programs.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    arrays = {"X": X.copy(), "Y": Y.copy(), "train": DS.X_train.copy()}
    before = _snapshot(tmp_path)
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    missing = [w for w in words if w.lower() not in message.lower()]
    assert not missing, f"the message does not name {missing}: {message!r}"
    # Nothing passed in was changed.
    np.testing.assert_array_equal(X, arrays["X"])
    np.testing.assert_array_equal(Y, arrays["Y"])
    np.testing.assert_array_equal(DS.X_train, arrays["train"])
    # Nothing was left behind.
    children, ports, temp = _snapshot(tmp_path)
    assert children <= before[0], f"child processes left: {children - before[0]}"
    assert ports <= before[1], f"listening ports left: {ports - before[1]}"
    assert temp <= before[2], f"temporary files left: {temp - before[2]}"
    assert plsim.current_client() is None


# -- one seed tree: a bad random_state is the same error in every topic ---------------------------------
SEEDED = {
    "ParallelBaggingClassifier.fit": lambda rs: ParallelBaggingClassifier(tree(), random_state=rs).fit(X, Y),
    "RandomSubspaceClassifier.fit": lambda rs: RandomSubspaceClassifier(tree(), random_state=rs).fit(X, Y),
    "run_federated": lambda rs: F.run_federated(SOFT64, DS, PARTS, rounds=1, random_state=rs),
    "sync_sgd": lambda rs: sync_sgd(SOFT, X, Y, n_steps=1, random_state=rs),
    "large_batch_sgd": lambda rs: large_batch_sgd(SOFT, X, Y, n_steps=1, random_state=rs),
    "local_sgd": lambda rs: local_sgd(SOFT, X, Y, n_rounds=1, random_state=rs),
    "async_sgd_simulated": lambda rs: async_sgd_simulated(SOFT, X, Y, n_updates=1, random_state=rs),
    "data.partition": lambda rs: data.partition(Y, 2, "iid", random_state=rs),
    "data.load_dataset": lambda rs: data.load_dataset("digits", random_state=rs),
    "init_params": lambda rs: SOFT.init_params(random_state=rs),
}


@pytest.mark.parametrize("bad", ["x", -1, True, 0.5], ids=repr)
@pytest.mark.parametrize("name", list(SEEDED))
def test_a_bad_random_state_is_the_same_value_error_everywhere(name, bad):
    with pytest.raises(ValueError) as info:
        SEEDED[name](bad)
    assert str(info.value).startswith(f"random_state={bad!r}")
    assert "is not allowed: it must be None, a non-negative int, a numpy.random.RandomState or a " \
           "numpy.random.Generator" in str(info.value)

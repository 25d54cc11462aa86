"""Render one example of every public plot function in ``plsim.plots`` so the whole set can be reviewed at once.

Run from the repository root::

    python docs/make_gallery.py                 # writes docs/figures/*.png and docs/figures/README.md
    python docs/make_gallery.py --out /tmp/gal  # somewhere else (the test does this)

Every input is computed here, offline and small: a real 2-worker Dask cluster
times the speedup example, trains the ensemble and the distributed-training
runs; a real federated run on the digits data; virtual-clock (simulated) runs
and cost-model (predicted) curves where a laptop cannot show the effect. The
index says, for each figure, whether its numbers are measured, simulated or
predicted. It takes well under a minute on 2 CPUs.

The script fails if a public ``plot_*`` function of ``plsim.plots`` has no
gallery entry, so the gallery cannot silently fall behind the library.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")


MODULES = ("speedup", "ensembles", "data", "federated", "training", "comm", "scaling")
NOTEBOOK = {"speedup": "01_speedup", "ensembles": "02_ensembles", "data": "03_federated_learning",
            "federated": "03_federated_learning", "training": "04_distributed_training",
            "comm": "05_collectives_compression_pipelines", "scaling": "06_scaling_out"}


@dataclass(frozen=True)
class Entry:
    module: str
    function: str
    kind: str          # what the numbers are: measured / simulated / predicted (or a mix, spelled out)
    shows: str         # one line: what the figure shows
    draw: Callable     # () -> matplotlib Figure

    @property
    def filename(self) -> str:
        return f"{self.module}_{self.function}.png"


def public_plot_functions() -> list[tuple[str, str]]:
    """``(module, function)`` for every public ``plot_*`` function of ``plsim.plots``."""
    out = []
    for name in MODULES:
        mod = importlib.import_module(f"plsim.plots.{name}")
        out += [(name, f) for f in mod.__all__ if f.startswith("plot_")]
    return out


class Inputs:
    """The example inputs, each computed once on first use."""

    def __init__(self, client):
        self.client = client

    # -- speedup (notebook 01) -------------------------------------------------------------------
    @functools.cached_property
    def speedup(self):
        from plsim import speedup as sp

        calibration = sp.calibrate(executor=self.client, n_tasks=50, megabytes=2, repeats=1)
        iterations = sp.python_work_iterations(80)
        return sp.measure_speedup(sp.python_work, [iterations] * 8, executor=self.client, workers=[1, 2], repeats=3,
                                  warmup=1, calibration=calibration,
                                  title="8 tasks of 80 ms (gallery example, measured on this machine)")

    @functools.cached_property
    def timeline(self):
        from plsim import speedup as sp

        with sp.record_timeline(executor=self.client) as records:
            sp.run_parallel(self.client, sp.python_work, [sp.python_work_iterations(30)] * 5)
        return records

    # -- ensembles (notebook 02) -------------------------------------------------------------------
    @functools.cached_property
    def ensemble(self):
        from sklearn.datasets import make_classification

        from plsim.ensembles import ParallelBaggingClassifier, accuracy_curve, pairwise_disagreement

        X, y = make_classification(900, 20, n_informative=8, n_classes=3, random_state=0)
        X_train, X_test, y_train, y_test = X[:600], X[600:], y[:600], y[600:]
        # warm-up: the first task on a fresh worker imports scikit-learn; time the training, not the import
        ParallelBaggingClassifier(n_estimators=2, executor=self.client, random_state=0).fit(X_train, y_train)
        start = time.perf_counter()
        model = ParallelBaggingClassifier(n_estimators=12, executor=self.client, random_state=0).fit(X_train, y_train)
        wall = time.perf_counter() - start
        curve = accuracy_curve(model, X_test, y_test)
        disagreement = pairwise_disagreement(model.predict_members(X_test))
        return model, wall, curve, disagreement

    # -- federated (notebook 03) -------------------------------------------------------------------
    @functools.cached_property
    def fed(self):
        from plsim import data, models

        ds = data.load_dataset("digits", random_state=0)
        model = models.MLP(ds.n_features, hidden=(32,), n_classes=ds.n_classes)
        return ds, model

    @functools.cached_property
    def fed_parts(self):
        from plsim import data

        ds, _ = self.fed
        return {"IID": data.partition(ds.y_train, 30, "iid"),
                "2 shards per client": data.partition_shards(ds.y_train, 30, 2)}

    def _fed(self, split: str, **kwargs):
        from plsim import federated as F

        ds, model = self.fed
        settings = dict(rounds=12, client_fraction=0.2, batch_size=10, lr=0.05, random_state=0)
        settings.update(kwargs)
        return F.run_federated(model, ds, self.fed_parts[split], executor=self.client, **settings)

    @functools.cached_property
    def fed_runs(self):
        # notebook 03's settings: on IID digits, more local epochs reach the target in fewer rounds and bytes
        return {
            "FedSGD": self._fed("IID", algorithm="fedsgd", lr=0.5, batch_size=None),
            "FedAvg E=1 B=10": self._fed("IID", local_epochs=1),
            "FedAvg E=5 B=10": self._fed("IID", local_epochs=5),
        }

    @functools.cached_property
    def fed_noniid_runs(self):
        return {
            "FedAvg IID": self.fed_runs["FedAvg E=5 B=10"],
            "FedAvg shards": self._fed("2 shards per client", local_epochs=5),
            "FedProx μ=1 shards": self._fed("2 shards per client", algorithm="fedprox", mu=1.0, local_epochs=5),
        }

    @functools.cached_property
    def fed_lr_tuning(self):
        # notebook 03's protocol, small: every algorithm at each rate of its grid on IID digits
        from plsim.federated.comparison import tune_lr

        ds, model = self.fed
        common = dict(target=0.85, patience=1.5, executor=self.client, client_fraction=0.2, random_state=0)
        return {
            "FedSGD": tune_lr(model, ds, self.fed_parts["IID"], (0.3, 1.0, 3.0), max_rounds=40, label="FedSGD",
                              algorithm="fedsgd", **common),
            "FedAvg E=5 B=10": tune_lr(model, ds, self.fed_parts["IID"], (0.03, 0.1, 0.3), max_rounds=20,
                                       label="FedAvg E=5 B=10", local_epochs=5, batch_size=10, **common),
        }

    @functools.cached_property
    def fed_clock_runs(self):
        from plsim import federated as F

        slow = dict(compute_speed=2000, speed_sigma=1.0, bandwidth=2e5, bandwidth_sigma=0.5, random_state=1)
        return {
            "no deadline": self._fed("IID", local_epochs=5, clock=F.VirtualClock(**slow)),
            "deadline 0.5 s, drop stragglers": self._fed("IID", local_epochs=5,
                                                         clock=F.VirtualClock(deadline=0.5, **slow)),
        }

    # -- distributed training (notebook 04) --------------------------------------------------------
    @functools.cached_property
    def digits(self):
        from plsim.data import load_dataset

        return load_dataset("digits")

    @functools.cached_property
    def training_runs(self):
        from plsim.models import SoftmaxRegression
        from plsim.training.async_ps import async_sgd_simulated
        from plsim.training.local_sgd import local_sgd
        from plsim.training.sync import sync_sgd

        X, y = self.digits.X_train, self.digits.y_train
        soft = SoftmaxRegression(64, 10)
        sync = sync_sgd(soft, X, y, executor=self.client, lr=0.3, n_steps=32, batch_size=64, random_state=0)
        local = [local_sgd(soft, X, y, executor=self.client, H=H, n_rounds=32 // H, lr=0.3, batch_size=32, random_state=0)
                 for H in (1, 8)]
        asyn = async_sgd_simulated(soft, X, y, n_workers=4, worker_speeds=[1, 1, 1, 0.25], lr=0.05, n_updates=120,
                                   batch_size=32, random_state=0)
        return [sync, *local, asyn], ["sync data-parallel", "local SGD H=1", "local SGD H=8", "async PS"]

    @functools.cached_property
    def local_sgd_runs(self):
        from plsim.data import partition_shards
        from plsim.models import SoftmaxRegression
        from plsim.training.local_sgd import local_sgd

        X, y = self.digits.X_train, self.digits.y_train
        soft = SoftmaxRegression(64, 10)
        parts = partition_shards(y, 4, 2, random_state=0)  # non-IID: a few digits per replica
        return [local_sgd(soft, X, y, executor=self.client, shards=parts, H=H, n_rounds=64 // H, lr=0.3,
                          batch_size=32, random_state=0) for H in (1, 4, 16, 64)]

    @functools.cached_property
    def staleness_runs(self):
        from plsim.models import SoftmaxRegression
        from plsim.training.async_ps import async_sgd, async_sgd_simulated

        X, y = self.digits.X_train, self.digits.y_train
        soft = SoftmaxRegression(64, 10)
        simulated = [async_sgd_simulated(soft, X, y, n_workers=4, worker_speeds=[1, 1, 1, 0.25], staleness_bound=s,
                                         lr=0.05, n_updates=120, batch_size=32, random_state=0) for s in (0, None)]
        real = async_sgd(soft, X, y, executor=self.client, n_updates=40, lr=0.05, batch_size=32, delays=[0.0, 0.01], random_state=0)
        return [*simulated, real]

    @functools.cached_property
    def scaling(self):
        from plsim.models import MLP
        from plsim.training.scaling import measure_scaling, predict_scaling

        X, y = self.digits.X_train, self.digits.y_train
        wide = MLP(64, hidden=(128, 128), n_classes=10)
        measured = (measure_scaling(self.client, wide, X, y, workers=(1, 2), mode="strong", batch_size=len(y),
                                    n_steps=2)
                    + measure_scaling(self.client, wide, X, y, workers=(1, 2), mode="weak", batch_size=len(y) // 2,
                                      n_steps=2))
        t1 = measured[0]["time_per_step_s"]
        workers = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
        predicted = (predict_scaling(workers, compute_seconds=t1, n_bytes=wide.n_params * 8, mode="strong")
                     + predict_scaling(workers, compute_seconds=t1 / 2, n_bytes=wide.n_params * 8, mode="weak"))
        return measured, predicted

    @functools.cached_property
    def exchanges(self):
        from plsim.comm.measure import measure_exchange

        return measure_exchange(executor=self.client, repeats=2)

    @functools.cached_property
    def size_speedup(self):
        from plsim.data import load_dataset
        from plsim.training.scaling import measure_size_speedup

        ds = load_dataset("classification", n_samples=2048, n_features=128, n_classes=10)
        return measure_size_speedup(self.client, ds.X_train, ds.y_train, [(16,), (256,), (512, 512)], replicas=2,
                                    n_steps=2, min_seconds=0.05)

    @functools.cached_property
    def heldout_fit(self):
        from plsim.comm.measure import fit_with_heldout, measure_exchange, split_heldout

        sizes = [1e3, 1e4, 1e5, 3e5, 1e6, 3e6]
        _, heldout = split_heldout(sizes, 2)
        times = measure_exchange(sizes=sizes, algorithms=("send", "ring"), executor=self.client, repeats=2)
        return fit_with_heldout(times, heldout)

    @functools.cached_property
    def compression(self):
        from plsim.models import SoftmaxRegression
        from plsim.training.sync import sync_sgd

        ds = self.digits
        soft = SoftmaxRegression(64, 10)
        out = []
        for label, kw in [("none", {}), ("8-bit", {"compression": "8bit"}),
                          ("top-10%", {"compression": "topk", "topk_ratio": 0.1}),
                          ("top-1%", {"compression": "topk", "topk_ratio": 0.01})]:
            h = sync_sgd(soft, ds.X_train, ds.y_train, n_workers=2, lr=0.3, n_steps=30, batch_size=64, random_state=0,
                         **kw)
            out.append({"label": label, "bytes": h.total_bytes,
                        "accuracy": soft.accuracy(h.params, ds.X_test, ds.y_test)})
        return out


def entries(inp: Inputs) -> list[Entry]:
    """One gallery entry per public plot function."""
    from matplotlib.figure import Figure

    from plsim.comm import LinkModel
    from plsim.data import label_distribution
    from plsim.plots import comm, data, ensembles, federated, scaling, speedup, training
    from plsim.training.pipeline import gpipe_schedule
    from plsim.training.scaling import predict_scaling

    def label_heatmaps() -> Figure:
        ds, _ = inp.fed
        return data.plot_label_distribution(label_distribution(ds.y_train, inp.fed_parts["2 shards per client"],
                                                               ds.n_classes))

    def scaling_out() -> Figure:
        measured, _ = inp.scaling
        strong = [r for r in measured if r["mode"] == "strong"]
        t1 = strong[0]["time_per_step_s"]
        workers = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
        link = LinkModel(alpha=20e-6, beta=1 / 1.25e9)
        curves = {}
        for alg in ("ring", "tree", "parameter_server"):
            rows = predict_scaling(workers, compute_seconds=t1 * 50, n_bytes=20e6, mode="strong", algorithm=alg,
                                   link=link)
            curves[alg.replace("_", " ")] = ([r["workers"] for r in rows], [r["speedup"] for r in rows])
        # The measured point is this machine's real (small) step; the curves assume a 50x bigger one.
        gained = strong[-1]["speedup"]
        label = (f"this machine's {t1 * 1e3:.0f} ms step: "
                 + ("exchange costs more than it saves" if gained < 1 else f"{gained:.2f}x on 2 workers"))
        return scaling.plot_scaling_out(
            curves, {label: ([r["workers"] for r in strong], [r["speedup"] for r in strong])},
            title="Ring all-reduce scales furthest; one parameter server stalls at a few workers")

    model = lambda: inp.ensemble[0]  # noqa: E731
    M, S, P = "measured", "simulated", "predicted"
    return [
        Entry("speedup", "plot_speedup", f"{M} (wall clock, 1-2 workers) + Amdahl fit to them + cost model ({P})",
              "speedup of 8 Python tasks of 80 ms on 1-2 workers, with ideal, Amdahl fit and the cost-model "
              "prediction to 4",
              lambda: speedup.plot_speedup(inp.speedup, extend_to=4)),
        Entry("speedup", "plot_efficiency", f"{M} + {P}",
              "efficiency (speedup / workers) of the same run",
              lambda: speedup.plot_efficiency(inp.speedup, extend_to=4)),
        Entry("speedup", "plot_speedup_efficiency", f"{M} + {P}",
              "speedup and efficiency side by side (notebook 01's first figure)",
              lambda: speedup.plot_speedup_efficiency(inp.speedup, extend_to=4)),
        Entry("speedup", "plot_timeline", M,
              "Gantt chart of 5 tasks on 2 workers from Dask's task stream: busy versus idle",
              lambda: speedup.plot_timeline(inp.timeline)),
        Entry("ensembles", "plot_accuracy_vs_members", M,
              "test accuracy of the first m of 12 bagged trees versus single members",
              lambda: ensembles.plot_accuracy_vs_members(inp.ensemble[2], label="bagged trees")),
        Entry("ensembles", "plot_disagreement", M,
              "pairwise disagreement of the 12 members on the test set",
              lambda: ensembles.plot_disagreement(inp.ensemble[3])),
        Entry("ensembles", "plot_diversity_vs_accuracy", M,
              "each member's accuracy against its mean disagreement, with the ensemble's accuracy",
              lambda: ensembles.plot_diversity_vs_accuracy(inp.ensemble[2].members, inp.ensemble[3],
                                                           ensemble_accuracy=inp.ensemble[2].ensemble[-1])),
        Entry("ensembles", "plot_member_times", M,
              "fit time of each member, coloured by the worker that trained it",
              lambda: ensembles.plot_member_times(model().member_fit_times_, model().member_workers_,
                                                  wall_seconds=inp.ensemble[1])),
        Entry("data", "plot_label_distribution", "counted from the real split",
              "labels held by each of 30 clients under the 2-shards-per-client non-IID split of digits",
              label_heatmaps),
        Entry("federated", "plot_accuracy", f"accuracy {M}, time {S} (virtual clock)",
              "accuracy against simulated seconds: a deadline drops stragglers and shortens every round",
              lambda: federated.plot_accuracy(inp.fed_clock_runs, x="simulated", target=0.9, title=(
                  "A deadline cuts 12 rounds from {:.0f} to {:.0f} simulated seconds".format(
                      *(h.simulated_time[-1] for h in inp.fed_clock_runs.values()))))),
        Entry("federated", "plot_runs", f"{M} (accuracy, bytes counted from payloads)",
              "FedSGD versus FedAvg with 1 and 5 local epochs on IID digits, per round and per megabyte",
              lambda: federated.plot_runs(inp.fed_runs, target=0.9)),
        Entry("federated", "plot_drift", M,
              "client drift (distance of local models from their average): IID, non-IID shards, FedProx",
              lambda: federated.plot_drift(inp.fed_noniid_runs)),
        Entry("federated", "plot_lr_tuning", f"{M} (rounds to target of real runs)",
              "rounds to 85% against the client learning rate for FedSGD and FedAvg E=5 on IID digits, best circled",
              lambda: federated.plot_lr_tuning(inp.fed_lr_tuning)),
        Entry("federated", "plot_simulated_time", f"{S} round time next to {M} wall time",
              "per-round time on the virtual clock (deadline 0.5 s) and on this machine, stragglers circled",
              lambda: federated.plot_simulated_time(inp.fed_clock_runs["deadline 0.5 s, drop stragglers"])),
        Entry("training", "plot_loss_curves", f"{M} (sync, local SGD on the cluster) + {S} (async on the clock)",
              "training loss per update: synchronous, local SGD with H=1 and H=8, asynchronous parameter server",
              lambda: training.plot_loss_curves(inp.training_runs[0], labels=inp.training_runs[1])),
        Entry("training", "plot_loss_costs", f"{M} (loss, bytes counted) + {S} (time: α–β home link)",
              "local SGD with H=1, 4, 16, 64 on non-IID digits: loss per local step, per byte sent and per "
              "simulated second",
              lambda: training.plot_loss_costs(inp.local_sgd_runs, labels=["H=1", "H=4", "H=16", "H=64"],
                                               step_seconds=1e-4, link="home", target=0.45)),
        Entry("training", "plot_staleness", f"{S} (ssp, async) + {M} (async on the cluster)",
              "how stale applied gradients are: bounded (SSP s=0) versus unbounded asynchronous",
              lambda: training.plot_staleness(inp.staleness_runs)),
        Entry("training", "plot_pipeline_timeline", S,
              "GPipe schedule of 4 stages x 8 micro-batches on the virtual clock; grey = bubble",
              lambda: training.plot_pipeline_timeline(gpipe_schedule(4, 8))),
        Entry("training", "plot_scaling", f"{M} (1-2 workers) + {P} (to 1024)",
              "strong and weak scaling of a data-parallel MLP step",
              lambda: training.plot_scaling(*inp.scaling)),
        Entry("comm", "plot_cost_vs_workers", P,
              "alpha-beta cost of one 100 MB gradient exchange versus workers, per algorithm",
              lambda: comm.plot_cost_vs_workers(100e6)),
        Entry("comm", "plot_cost_vs_model_size", P,
              "cost of one exchange on 64 workers versus gradient size, per algorithm",
              lambda: comm.plot_cost_vs_model_size(64)),
        Entry("comm", "plot_exchange_times", f"{M} (wall clock, 2 ranks on 2 workers) + {P} (α–β fitted to them)",
              "parameter-server, tree and ring exchanges of 10 kB to 16 MB timed on the cluster, next to the "
              "alpha-beta model with alpha and beta fitted to them",
              lambda: comm.plot_exchange_times(inp.exchanges)),
        Entry("training", "plot_size_speedup", f"{M} (one step, 2 replicas on 2 workers) + {P} (α–β model)",
              "speedup of one synchronous data-parallel step against model size: communication dominates small "
              "models, compute large ones; the predicted crossover is marked",
              lambda: training.plot_size_speedup(inp.size_speedup)),
        Entry("comm", "plot_heldout_predictions", f"{M} (wall clock) against {P} (α–β fitted without the hollow sizes)",
              "every timed message and ring all-reduce against its α–β prediction; held-out sizes hollow, "
              "the shaded band is 0.8-1.25",
              lambda: comm.plot_heldout_predictions(inp.heldout_fit)),
        Entry("comm", "plot_compression", f"{M} (bytes counted, test accuracy)",
              "bytes sent versus accuracy for no compression, 8-bit and top-k sparsification",
              lambda: comm.plot_compression(inp.compression)),
        Entry("scaling", "plot_scaling_out", f"{P} (cost model to 1024 workers) + {M} (1-2 workers)",
              "predicted speedup of data-parallel training (a 50x bigger step, 20 MB of gradients) with ring / "
              "tree / parameter-server exchange, next to this machine's real small step, measured",
              scaling_out),
    ]


def write_index(out: Path, done: list[tuple[Entry, float]]) -> None:
    lines = ["# Figure gallery", "",
             "One example of every public plot function in `plsim.plots`, generated by "
             "`python docs/make_gallery.py` from small offline inputs (a real 2-worker Dask cluster, "
             "real federated and training runs on the digits data, the virtual clock and the cost models).",
             "Measured numbers are drawn solid, simulated and predicted ones dashed; every legend says which.", "",
             "| figure | function | what it shows | numbers are | taught in |", "|---|---|---|---|---|"]
    for e, _ in done:
        lines.append(f"| [{e.filename}]({e.filename}) | `plsim.plots.{e.module}.{e.function}` | {e.shows} | "
                     f"{e.kind} | `notebooks/{NOTEBOOK[e.module]}.ipynb` |")
    lines += ["", "Measured numbers depend on the machine that ran the script (timings are noisy on a busy one).", ""]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "figures",
                        help="folder for the PNGs and README.md (default: docs/figures)")
    parser.add_argument("--dpi", type=int, default=100)
    args = parser.parse_args(argv)

    import plsim

    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    client = plsim.start_cluster(n_workers=2, threads_per_worker=1, quiet=True)
    done: list[tuple[Entry, float]] = []
    try:
        todo = entries(Inputs(client))
        covered = {(e.module, e.function) for e in todo}
        missing = [f"plsim.plots.{m}.{f}" for m, f in public_plot_functions() if (m, f) not in covered]
        if missing:
            print("no gallery entry for:", ", ".join(missing), file=sys.stderr)
            return 1
        for e in todo:
            t0 = time.perf_counter()
            fig = e.draw()
            fig.savefig(args.out / e.filename, dpi=args.dpi)
            done.append((e, time.perf_counter() - t0))
            print(f"{e.filename:45s} {done[-1][1]:5.1f} s  ({e.kind})", flush=True)
    finally:
        plsim.close_cluster()
    write_index(args.out, done)
    print(f"{len(done)} figures in {args.out} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Distributed-training benchmark: data-parallel speedup, bytes per step, cost model, compression, pipeline bubble.

Run:  python benchmarks/bench_training.py      (PLSIM_SMALL=1 for a quick pass)

Prints (every number says whether it is measured, simulated or predicted):
1. measured wall-clock per epoch of synchronous data-parallel SGD on 1 and 2 Dask
   workers on a compute-heavy wide MLP (target: >= 1.5x with 2 workers);
2. bytes per step per exchange algorithm (counted from payloads / cost model);
3. the alpha-beta cost model's predicted time per step for 2..1024 workers;
4. async vs sync convergence on the virtual clock (updates and simulated time to a target loss),
   notebook 04's own demo (plsim.training.lessons.staleness_race);
5. gradient compression: bytes saved versus accuracy reached;
6. pipeline bubble: measured on the cluster versus the (p-1)/(m+p-1) formula.
Taught in notebooks/04_distributed_training.ipynb and 05_collectives_compression_pipelines.ipynb.
"""

from __future__ import annotations

import time

import numpy as np


def _table(rows: list[list], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).rjust(w) for x, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def main() -> None:
    import plsim
    from plsim.comm import ALGORITHMS, LinkModel, comm_bytes, comm_time, ring_allreduce
    from plsim.data import load_dataset
    from plsim.models import MLP
    from plsim.training.demo import demo_settings
    from plsim.training.pipeline import bubble_fraction, pipeline_gradient
    from plsim.training.sync import sync_sgd

    cfg = demo_settings()
    client = plsim.start_cluster(n_workers=2, quiet=True)
    try:
        # 1. data-parallel speedup (measured) --------------------------------------------------
        ds = load_dataset("classification", n_samples=cfg.bench_samples + cfg.bench_samples // 3,
                          n_features=cfg.bench_features, n_classes=10, test_size=0.25)
        X, y = ds.X_train, ds.y_train
        model = MLP(X.shape[1], hidden=cfg.bench_hidden, n_classes=10)
        print(f"== 1. synchronous data parallelism (measured): MLP {model.layer_sizes}, {model.n_params:,} params, "
              f"{len(y)} rows, one full-batch step = one epoch")
        times = {}
        for k in (1, 2):
            sync_sgd(model, X, y, executor=client, n_workers=k, lr=0.01, n_steps=1, random_state=0)  # warm-up: imports, caches
            t0 = time.perf_counter()
            h = sync_sgd(model, X, y, executor=client, n_workers=k, lr=0.01, n_steps=cfg.bench_steps + 1, lag=1, random_state=0)
            total = time.perf_counter() - t0
            # steady state: time between finished epochs (excludes scattering the shards once)
            times[k] = (h.time[-1] - h.time[0]) / (len(h.time) - 1)
            print(f"  {k} worker(s): {times[k]:.3f} s per epoch (measured; whole run incl. scatter {total:.2f} s)")
        speedup = times[1] / times[2]
        print(f"  speedup with 2 workers: {speedup:.2f}x (measured; target >= 1.5x)")

        # 2. bytes per step --------------------------------------------------------------------
        n_bytes = model.n_params * 8
        print(f"\n== 2. bytes per step for a {n_bytes / 1e6:.2f} MB gradient")
        print(f"  sync DP, 2 workers, all-to-all: {h.bytes_sent[-1] / 1e6:.2f} MB (counted from payloads)")
        ring = ring_allreduce([np.ones(model.n_params), np.zeros(model.n_params)], executor=client, gather=False)
        print(f"  ring all-reduce on the cluster, 2 ranks: {ring.bytes_sent / 1e6:.2f} MB (counted from chunks)")
        rows = [[alg] + [f"{comm_bytes(alg, p, n_bytes)['per_worker'] / 1e6:.2f}" for p in (2, 8, 64, 1024)]
                for alg in ALGORITHMS]
        print(_table(rows, ["MB sent per worker (predicted)", "p=2", "p=8", "p=64", "p=1024"]))

        # 3. cost model -------------------------------------------------------------------------
        link = LinkModel()
        print(f"\n== 3. predicted time per exchange (alpha={link.alpha * 1e6:.0f} us, "
              f"{link.bandwidth * 8 / 1e9:.0f} Gbit/s), {n_bytes / 1e6:.2f} MB gradient")
        ps = [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
        rows = [[p] + [f"{comm_time(alg, p, n_bytes, link) * 1e3:.2f}" for alg in ALGORITHMS] for p in ps]
        print(_table(rows, ["workers"] + [f"{a} (ms, predicted)" for a in ALGORITHMS]))

        # 4. async vs sync (simulated): notebook 04's own race (plsim.training.lessons) --------------
        from plsim.training.lessons import staleness_race

        race = staleness_race(cfg)
        print(f"\n== 4. parameter server on the virtual clock (simulated, notebook 04's demo): "
              f"{cfg.async_workers} workers, speeds {list(race.speeds)}, digits held "
              f"{[list(lab) for lab in race.labels]}, target training loss {race.target}")
        rows = []
        for shards, runs in (("non-IID", race.runs), ("IID", race.iid)):
            for hh in runs.values():
                t = race.seconds(hh)
                rows.append([shards, "sync-equivalent (s=0)" if hh.method == "ssp(s=0)" else hh.method,
                             race.updates(hh), None if t is None else f"{t:.1f}", f"{np.mean(hh.staleness):.2f}",
                             max(hh.staleness), max(hh.clock_gap), f"{hh.loss[-1]:.3f}"])
        print(_table(rows, ["shards", "run", "updates to target", "simulated time to target", "mean staleness",
                            "max staleness (updates)", "max clock gap", "final loss"]))
        print(f"  async / sync: {race.ratio(race.asynchronous, race.sync):.2f}x the updates, "
              f"{race.ratio(race.asynchronous, race.sync, 'seconds'):.2f}x the simulated time (target: >= 1.2 and < 1)")

        # 5. compression -----------------------------------------------------------------------------
        dg = load_dataset("digits")
        print("\n== 5. gradient compression (sync DP, 2 workers, digits MLP, 60 steps; bytes counted from payloads)")
        mlp = MLP(64, hidden=(32,), n_classes=10)
        rows = []
        base = None
        for label, kw in (("none", {}), ("8-bit", {"compression": "8bit"}),
                          ("top-10%", {"compression": "topk", "topk_ratio": 0.1}),
                          ("top-1%", {"compression": "topk", "topk_ratio": 0.01})):
            hc = sync_sgd(mlp, dg.X_train, dg.y_train, n_workers=2, lr=0.3, n_steps=60, batch_size=128, random_state=0,
                          **kw)
            acc = mlp.accuracy(hc.params, dg.X_test, dg.y_test)
            base = base or hc.total_bytes
            rows.append([label, f"{hc.total_bytes / 1e6:.3f}", f"{base / hc.total_bytes:.1f}x", f"{acc:.3f}"])
        print(_table(rows, ["compression", "MB sent", "saved", "test accuracy"]))

        # 6. pipeline bubble ---------------------------------------------------------------------------
        print("\n== 6. pipeline parallelism, 4 stages on 2 workers (measured) vs the GPipe formula")
        pm = MLP(256, hidden=(512, 512, 512), n_classes=10)
        rng = np.random.default_rng(0)
        Xp, yp = rng.normal(size=(2048, 256)), rng.integers(0, 10, 2048)
        w = pm.init_params(0)
        rows = []
        for m in (1, 2, 4, 8):
            pipeline_gradient(pm, w, Xp, yp, n_stages=4, n_micro=m, executor=client)  # warm-up
            r = pipeline_gradient(pm, w, Xp, yp, n_stages=4, n_micro=m, executor=client)
            rows.append([m, f"{r.timeline.bubble_fraction:.2f}", f"{bubble_fraction(4, m):.2f}",
                         f"{r.timeline.makespan:.3f}"])
        print(_table(rows, ["micro-batches", "bubble (measured)", "bubble formula", "makespan s (measured)"]))
        print("  (4 stages share 2 CPUs, so measured stages also wait for a CPU: expect more idle than the formula)")
    finally:
        plsim.close_cluster()


if __name__ == "__main__":
    main()

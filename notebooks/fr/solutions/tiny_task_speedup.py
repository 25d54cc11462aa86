# Solution non traduite : copie de notebooks/solutions/tiny_task_speedup.py, générée par docs/make_french_edition.py.
# Worked solution: predict with the cost model of section 4 before measuring, fed with the
# per-task overhead the calibration measured on this cluster.
tiny_model = sp.CostModel(task_seconds=cfg.tiny_ms / 1e3, n_tasks=cfg.tiny_tasks,
                          overhead_per_task=calibration.overhead_per_task)
prediction = tiny_model.speedup(CPUS)
print(tiny_model.explain(CPUS))
predict("tiny_task_speedup", prediction)

# Solution non traduite : copie de notebooks/solutions/tiny_tasks_best_workers.py, générée par docs/make_french_edition.py.
# Worked solution: the cost model of these tasks, with the overhead measured in section 3.
tiny = CostModel(task_seconds=0.002, n_tasks=200, overhead_per_task=cal.overhead_per_task,
                 bytes_once=10e6, bandwidth=125e6)
for p in [1, 2, 4, 8, 16, 32]:
    print(f"{p:3d} workers: predicted {tiny.parallel_time(p):.3f} s  ({tiny.explain(p)})")
# The work shrinks as ceil(200 / p) x 2 ms, but each worker needs its own 10 MB copy (0.08 s):
# after 2 workers the copies cost more than the work they save. The overhead is the same for every p.
best_workers = min([1, 2, 4, 8, 16, 32], key=tiny.parallel_time)
check("tiny_tasks_best_workers", best_workers, calibration=cal)

# Solution non traduite : copie de notebooks/solutions/tiny_tasks_best_speedup.py, générée par docs/make_french_edition.py.
# Worked solution: the same cost model, at the best worker count.
tiny = CostModel(task_seconds=0.002, n_tasks=200, overhead_per_task=cal.overhead_per_task,
                 bytes_once=10e6, bandwidth=125e6)
best = min([1, 2, 4, 8, 16, 32], key=tiny.parallel_time)
best_speedup = tiny.speedup(best)
print(f"sequential {tiny.sequential_time():.2f} s; best cluster run {tiny.parallel_time(best):.2f} s on {best} "
      f"workers: speedup {best_speedup:.2f}x (predicted)")
# Below 1: even the best cluster run is slower than a plain loop. Do not scale this job out;
# batch the tiny tasks and keep the data where the work is.
check("tiny_tasks_best_speedup", best_speedup, calibration=cal)

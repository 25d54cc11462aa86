# Solution non traduite : copie de notebooks/solutions/task_size_for_speedup.py, générée par docs/make_french_edition.py.
# Worked solution. n tasks of t seconds, overhead o per task, on p = 2 workers, no data, no serial part:
#   T1 = n t,   Tp = n o + (n / 2) t,   S = T1 / Tp = t / (o + t / 2).
# S = 1.5  ->  t = 1.5 o + 0.75 t  ->  t = 6 o.
o = calibration.overhead_per_task
task_ms = 6 * o * 1e3
print(f"overhead {o * 1e3:.2f} ms per task -> tasks of {task_ms:.1f} ms give 1.5x on 2 workers")
print("the cost model agrees:", round(sp.CostModel(task_seconds=task_ms / 1e3, n_tasks=200,
                                                   overhead_per_task=o).speedup(2), 3))
check("task_size_for_speedup", task_ms, calibration=calibration)

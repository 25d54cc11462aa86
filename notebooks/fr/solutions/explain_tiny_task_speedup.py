# Solution non traduite : copie de notebooks/solutions/explain_tiny_task_speedup.py, générée par docs/make_french_edition.py.
# Model answer to the Explain cell of 01_speedup, exercise tiny_task_speedup (instructors' guide, docs/instructors.md).
# One good explanation; a student's should quote the numbers their own run printed above it.
explanation = """
The dominant cost is Dask's per-task overhead: scheduling each task, sending it to a worker and its result
back. Calibrate measured it at a few milliseconds per task, more than the 1 ms of work each task does, and it
is paid for every task whatever the number of workers, so the cluster spends more time on overhead than the
plain loop spends on the whole job: the measured speedup is well below 1x (the table's cost model predicts
about the same). Section 1's tasks were tens of milliseconds long, so there the same overhead was a small
share and the workers paid off.

On 2 CPUs, spreading the work over 2 workers saves only half of the small total work, far less than the
overhead adds. On one CPU (Binder) there is nothing to gain at all, so the cluster only adds its overhead,
which is also larger there because the notebook, scheduler and worker share the CPU.

What to change: batch the work, fewer and bigger Dask tasks (e.g. 50 of the 1 ms pieces per task, as
run_batched in the next exercise does), so the overhead is paid once per batch instead of once per piece.
"""

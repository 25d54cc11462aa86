# Solution non traduite : copie de notebooks/solutions/explain_first_speedup.py, générée par docs/make_french_edition.py.
# Model answer to the Explain cell of 00_start_here, exercise first_speedup (instructors' guide, docs/instructors.md).
# One good explanation; a student's should quote the numbers their own run printed above it.
explanation = """
On 2 usable CPUs (2 workers): the ceiling is 2x, and the 8 tasks of about 0.25 s split evenly into 4 waves
of 2. Calibrate measured what the cluster costs per task (a few milliseconds), about 1-2 % of a 0.25 s task,
so the cost model predicts just under 2x and the run came close to it. A prediction of 4x or more, from the
host's core count, could not come true: only the CPUs the cluster may use count. If the run stayed far below
the prediction, the reading says so ("Suspect", "other programs"): the CPUs were busy with other work, not
Dask being slow, and a rerun on a quieter machine comes closer to 2x.

On one usable CPU (Binder): the ceiling is 1x. The single worker runs the tasks one after another like the
plain loop, plus the cluster's cost per task (larger here, as the notebook, the scheduler and the worker share
the CPU), so the measured speedup sits just below 1x, about where the cost model expects it. The speedups
printed for 2, 4 and 8 CPUs are predicted from that measured cost, not measured. A value above 1x on one CPU
is not parallelism: other programs slowed the plain loop.
"""

# Solution non traduite : copie de notebooks/solutions/explain_dp_step_speedup.py, générée par docs/make_french_edition.py.
# Model answer to the Explain cell of 04_distributed_training, exercise dp_step_speedup (instructors' guide,
# docs/instructors.md). One good explanation; a student's should quote the numbers their own run printed above it.
explanation = """
The measured speedup of one step is far below 1x: a data-parallel step took tens of milliseconds on the
cluster, a step in one process a fraction of a millisecond. For this small MLP (2,410 parameters) the whole
gradient computation and update is that fraction of a millisecond, so splitting it over 2 replicas could save
at most half of it. Each data-parallel step instead adds Dask tasks to schedule, parameters and gradients to
move between processes (the bytes counted above, every step) and a wait for the slower replica; those fixed
costs are many times the compute they split (compare the two times printed).

On 2 CPUs the replicas do run at the same time, but the added costs still dominate. On one CPU (Binder) the 2
replicas also take turns, so no step could be faster than one process doing all the work, whatever the model.
Either way the result is the same trajectory as large-batch SGD (the parameters agree to rounding).

Data parallelism pays off when the compute per step (big models, big batches) dwarfs the fixed cost of
synchronising: the next section measures from which model size that happens.
"""

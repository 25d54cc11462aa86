# A worked explanation (your own words are what counts). The numbers are in the outputs above.
explanation = """
One data-parallel step splits only the gradient computation; it adds scheduling the tasks,
sending parameters and gradients between processes and waiting for the slowest replica.
For this small MLP on a batch of 128 rows the gradient takes a fraction of a millisecond,
the scheduling and the exchange about a millisecond or more, so the step is slower than in one
process (speedup below 1). With fewer CPUs than replicas they also take turns.
Data parallelism pays off when the compute per step dwarfs the exchange: a big model or batch.
"""

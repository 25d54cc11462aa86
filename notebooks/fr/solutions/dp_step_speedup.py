# Solution non traduite : copie de notebooks/solutions/dp_step_speedup.py, générée par docs/make_french_edition.py.
# A worked explanation (your own words are what counts); the numbers are in the outputs above.
explanation = """
The one-process step is the whole computation: one gradient on the batch and the update.
Data parallelism splits only that gradient over the replicas, so it can save at most that time.
What it adds, every step: scheduling the replicas' tasks, sending each replica's gradient to the
others, applying the update on every replica, and waiting for the slowest one. For a model this
small the added time is far larger than the compute it splits, so one step is slower on the
cluster (a speedup below 1). With fewer CPUs than replicas they also take turns.
Data parallelism pays off when the compute per step (a big model, a big batch) dwarfs that fixed cost;
the next section measures from which model size.
"""

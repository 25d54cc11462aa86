# Solution non traduite : copie de notebooks/solutions/explain_ensemble_peak_workers.py, générée par docs/make_french_edition.py.
# Model answer to the Explain cell of 06_scaling_out, exercise ensemble_peak_workers (instructors' guide,
# docs/instructors.md). The outcome is predicted by the cost model, so it is the same on 2 CPUs and on one.
explanation = """
The predicted speedup peaks at 32 workers (about 17.6x). The cost that grows with the workers is data
transfer: every worker needs its own copy of the 10 MB of training data, 0.08 s per worker at 1 Gbit/s, so
32 workers spend 2.56 s receiving it. Going from 32 to 64 workers saves 2 s of the members' work but adds
another 2.56 s of transfer, so the job gets slower. Past 256 workers there is not even one member per worker
(granularity), and the per-task overhead measured on this cluster is the same for any number of workers, so it
does not move the peak.

The peak moves to the right with less data per worker or a faster way to get it there (a faster network,
broadcasting along a tree, reading from shared storage instead of copying from the client), and with more or
longer tasks (a bigger ensemble, slower members), which give the extra workers work worth the copy.
"""

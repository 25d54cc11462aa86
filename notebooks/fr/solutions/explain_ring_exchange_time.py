# Solution non traduite : copie de notebooks/solutions/explain_ring_exchange_time.py, générée par docs/make_french_edition.py.
# Model answer to the Explain cell of 05_collectives_compression_pipelines, exercise ring_exchange_time
# (instructors' guide, docs/instructors.md). One good explanation; a student's should quote their run's numbers.
explanation = """
The α–β model, fitted to the send and ring exchanges measured above, predicts one ring all-reduce of 8 MB per
rank as 2(p - 1) messages of n/p bytes: 2(p - 1) α plus 2 (p - 1)/p n β. The feedback prints how far the
measurement was from it (measured / model). A good prediction starts from the model and adjusts it by the ring's
measured/predicted ratios at the nearby sizes printed above; it then misses by about as much as the model does.

On this cluster a "message" is a Dask task: its α is mostly the scheduler's and worker's cost of running one
task (milliseconds, not a network's microseconds), and each of the ring's steps waits for the scheduler, so a
busy moment of the machine slows every step: the measured exchange is then slower than the model. One α and one
β are also a compromise over messages and rings of every size, so a single size can sit above or below the line.

With 2 workers (2 CPUs) the bytes cross the loopback network between two processes. With one worker (Binder)
every rank lives in the same process: a message copies nothing, so β measures adding and copying memory, not a
network, and the model fitted to messages and rings together fits neither kind well.
"""

# Solution non traduite : copie de notebooks/solutions/threads_speedup.py, générée par docs/make_french_edition.py.
# Worked solution. The task is pure Python, so it holds CPython's Global Interpreter Lock while it
# runs: the two threads of the one worker process take turns. The run takes about as long as the
# sequential loop plus the cluster's overhead: a speedup a little below 1, on any number of CPUs.
prediction = 0.95
predict("threads_speedup", prediction)

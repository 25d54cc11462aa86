# Solution non traduite : copie de notebooks/solutions/async_staleness.py, générée par docs/make_french_edition.py.
# Worker 0 pulls version v. While it computes, the 3 other (equally fast) workers each push
# one gradient, so when worker 0 pushes the server is at version v + 3: every gradient after
# the first round is 3 updates old -- n_workers - 1, with no straggler at all.
staleness_answer = 3
check("async_staleness", staleness_answer)

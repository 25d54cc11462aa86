# Solution non traduite : copie de notebooks/solutions/async_ps.py, générée par docs/make_french_edition.py.
from dask.distributed import as_completed


def my_parameter_server(client, model, shards, w0, lr, n_updates):
    """Asynchronous parameter server: returns (w, log), log[k] = (worker, version its gradient read)."""
    w = w0.copy()                    # the server's parameters (never change the caller's w0)
    # each shard shipped once; hash=False: a fresh key, so a re-run cannot collide with this run's copies being released
    data = [(client.scatter(X_i, hash=False), client.scatter(y_i, hash=False)) for X_i, y_i in shards]
    version = 0                      # gradients applied so far
    reads = {}                       # future -> (worker, version of the parameters it was sent)
    log = []
    done = as_completed()
    for i, (X_i, y_i) in enumerate(data):      # every worker starts from the initial parameters
        future = client.submit(model.gradient, w, X_i, y_i, pure=False)
        reads[future] = (i, version)
        done.add(future)
    for future in done:                        # in the order the cluster finishes them
        i, read = reads.pop(future)
        w = w - lr * future.result()           # applied to the server's CURRENT parameters
        log.append((i, read))                  # its staleness is len(log) - 1 - read
        version += 1
        if version == n_updates:
            break
        again = client.submit(model.gradient, w, *data[i], pure=False)  # worker i pulls the new w at once
        reads[again] = (i, version)
        done.add(again)
    for future in reads:                       # gradients still running are not needed any more
        future.cancel()
    return w, log


check_code("async_ps", my_parameter_server, client=client, model=soft, X=X, y=y)

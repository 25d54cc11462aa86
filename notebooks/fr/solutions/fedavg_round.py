# Solution non traduite : copie de notebooks/solutions/fedavg_round.py, générée par docs/make_french_edition.py.
def fedavg_round(dask_client, model, w_global, parties, *, local_epochs, batch_size, lr, random_state, round_index=1):
    """One FedAvg round in which every party trains: return the new global weights."""
    # Each party's data goes to the cluster ONCE; the tasks below refer to it by future.
    data_futures = dask_client.scatter(list(parties))
    model_future = dask_client.scatter(model, broadcast=True)

    def train(model, w, party, seed):
        return F.local_update(model, w, party.X, party.y, algorithm="fedavg", local_epochs=local_epochs,
                              batch_size=batch_size, lr=lr, seed=seed)

    # One local-training task per party, each seeded by (random_state, round, party): any worker, same result.
    futures = [dask_client.submit(train, model_future, w_global, data_f,
                                  F.client_seed(random_state, round_index, party.client_id))
               for party, data_f in zip(parties, data_futures)]
    results = dask_client.gather(futures)
    # The server: average the updates weighted by each party's sample count, then step.
    avg_delta = F.weighted_average([r.delta for r in results], [r.n_samples for r in results])
    return w_global - avg_delta


check_code("fedavg_round", fedavg_round, dask_client=dask_client)

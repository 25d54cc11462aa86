# Solution non traduite : copie de notebooks/solutions/batched_tasks.py, générée par docs/make_french_edition.py.
# Worked solution: one Dask task per batch instead of one per task.
def run_batched(client, func, tasks, batch_size):
    """Run func(task) for every task, batch_size tasks per Dask task; return the results in task order."""
    tasks = list(tasks)
    batches = [tasks[i:i + batch_size] for i in range(0, len(tasks), batch_size)]

    def run_batch(batch):
        # Runs on a worker: the whole batch for the price of one task's overhead.
        return [func(task) for task in batch]

    futures = client.map(run_batch, batches)  # one future per batch
    results = []
    for batch_results in client.gather(futures):  # gather keeps the order of the futures
        results.extend(batch_results)
    return results


check_code("batched_tasks", run_batched, client=client)

# Solution non traduite : copie de notebooks/solutions/speedup_ceiling.py, générée par docs/make_french_edition.py.
# Worked solution. Two limits: the worker threads (how many tasks Dask runs at once) and the CPUs
# this machine lets you use (not os.cpu_count(), which counts the host's cores). The smaller wins.
threads = sum(client.nthreads().values())
ceiling = min(threads, resources.cpus)
print(f"{threads} worker thread(s) on {resources.cpus} usable CPU(s): at most {ceiling}x")
check("speedup_ceiling", ceiling, client=client)

# Solution non traduite : copie de notebooks/solutions/ring_allreduce_by_hand.py, générée par docs/make_french_edition.py.
def add(mine, incoming):
    return mine + incoming


def replace(incoming):
    return incoming


def my_ring_allreduce(client, chunks, where):
    """chunks[r][c]: future of rank r's chunk c on worker where[r]; returns the same table holding the sums."""
    p = len(chunks)
    chunks = [list(row) for row in chunks]           # a copy of the table; the caller's stays as it was
    # Reduce-scatter: in step s, rank r sends chunk (r - s) mod p to rank r + 1, which adds its own copy.
    # After p - 1 steps rank r holds the full sum of chunk (r + 1) mod p.
    for s in range(p - 1):
        moved = {}
        for r in range(p):
            dst, c = (r + 1) % p, (r - s) % p
            moved[dst, c] = client.submit(add, chunks[dst][c], chunks[r][c], workers=[where[dst]], pure=False)
        for (dst, c), future in moved.items():       # every send of a step happens at once
            chunks[dst][c] = future
    # All-gather: in step s, rank r forwards its finished chunk (r + 1 - s) mod p to rank r + 1.
    for s in range(p - 1):
        moved = {}
        for r in range(p):
            dst, c = (r + 1) % p, (r + 1 - s) % p
            moved[dst, c] = client.submit(replace, chunks[r][c], workers=[where[dst]], pure=False)
        for (dst, c), future in moved.items():
            chunks[dst][c] = future
    return chunks


check_code("ring_allreduce_by_hand", my_ring_allreduce, client=client)

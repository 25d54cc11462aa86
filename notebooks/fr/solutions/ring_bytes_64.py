# Solution non traduite : copie de notebooks/solutions/ring_bytes_64.py, générée par docs/make_french_edition.py.
n = ring.values[0].nbytes                 # bytes of one rank's vector
p = 64
answer = 2 * (p - 1) * n / p              # 2 (p - 1) chunks of n / p bytes each
print(f"{answer:.0f} bytes per rank with 64 ranks; counted with 4 ranks: {ring.bytes_per_rank}")
check("ring_bytes_64", answer, ring=ring)

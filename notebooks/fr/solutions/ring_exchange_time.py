# Solution non traduite : copie de notebooks/solutions/ring_exchange_time.py, générée par docs/make_french_edition.py.
# A worked prediction, written BEFORE the measurement: start from the fitted model for 8 MB per rank, then
# scale it by how far the measured ring was from the model at the sizes measured above (ring_ratios:
# measured/predicted of every ring exchange, fitted and held-out sizes alike).
model_ms = comm_time("ring", exchanges.n_ranks, 8e6, here) * 1e3
prediction = model_ms * float(np.median(ring_ratios))
print(f"fitted model: {model_ms:.1f} ms; adjusted by the ring's measured/predicted ratios: {prediction:.1f} ms")
predict("ring_exchange_time", prediction)

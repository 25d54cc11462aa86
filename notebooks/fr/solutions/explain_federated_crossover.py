# Solution non traduite : copie de notebooks/solutions/explain_federated_crossover.py, générée par docs/make_french_edition.py.
# Model answer to the Explain cell of 06_scaling_out, exercise federated_crossover (instructors' guide,
# docs/instructors.md). The outcome is predicted by the cost model, so it is the same on 2 CPUs and on one.
explanation = """
The server does talk to all clients at once, so the latency is paid once per direction: 2 x 50 ms = 0.1 s per
round whatever the number of clients K. What does not overlap is the bytes. Every client's 4 MB update comes in
and the 4 MB model goes out through the server's one 1 Gbit/s link, 2 x 4 MB / 125 MB/s = 0.064 s per client,
so communication is 0.1 s + 0.064 s x K. From 30 clients per round on it exceeds the 2 s of local training
(predicted), and at 1,000 clients it is 97 % of a round. This is incast: the link, not the latency, limits a
round. Sharding the model over 10 servers divides the bytes per link by 10 and moves the crossover to 297
clients; sampling fewer clients, compressing updates and aggregating in tiers help the same way.
"""

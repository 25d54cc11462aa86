# Solution non traduite : copie de notebooks/solutions/federated_crossover.py, générée par docs/make_french_edition.py.
# Worked solution. Per round, latency costs 2 x 50 ms = 0.1 s whatever the number of clients K (the
# server talks to all of them at once). Every client's 4 MB update in, and the 4 MB model out, pass
# through the server's one 1 Gbit/s (125 MB/s) link: 2 x 4e6 / 125e6 = 0.064 s per client.
# Communication outlasts the 2 s of local training when 0.1 + 0.064 K > 2, that is K > 29.7.
import math

prediction = math.floor((2.0 - 2 * 50e-3) / (2 * 4e6 / 125e6)) + 1
print(f"communication outlasts local training from {prediction} clients per round")
predict("federated_crossover", prediction)

# Solution non traduite : copie de notebooks/solutions/first_speedup.py, générée par docs/make_french_edition.py.
# Worked solution: a reasoned prediction, written down before the measurement.
# At most min(worker threads, usable CPUs) tasks run at once, so the 8 tasks of 0.25 s run in
# ceil(8 / that) waves. Each task costs the cluster a few milliseconds (send it, run it, send the
# result back), small next to 0.25 s: take a few percent off the ideal.
import math

at_once = min(sum(client.nthreads().values()), resources.cpus)
waves = math.ceil(8 / at_once)
prediction = 0.95 * 8 / waves
print(f"{at_once} task(s) at once, {waves} waves: predicting {prediction:.2f}x")
predict("first_speedup", prediction)

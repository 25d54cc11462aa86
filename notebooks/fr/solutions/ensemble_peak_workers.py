# Solution non traduite : copie de notebooks/solutions/ensemble_peak_workers.py, générée par docs/make_french_edition.py.
# Worked solution: reason with the terms of the cost model before running it.
# * the work shrinks: ceil(256 / p) waves of 0.5 s;
# * shipping the 10 MB of data to every worker grows: p x 10 MB / 125 MB/s = 0.08 s per worker;
# * the per-task overhead, 256 x o, is the same for every p, so it does not move the peak.
# Their sum is smallest where 128 / p is about 0.08 p, p about 40: among the counts, 32 or 64.
import math

candidates = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
prediction = min(candidates, key=lambda p: math.ceil(256 / p) * 0.5 + p * 10e6 / 125e6)
print(f"work + data transfer is smallest at {prediction} workers")
predict("ensemble_peak_workers", prediction)

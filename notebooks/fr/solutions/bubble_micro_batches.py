# Solution non traduite : copie de notebooks/solutions/bubble_micro_batches.py, générée par docs/make_french_edition.py.
# (p - 1) / (m + p - 1) <= 0.10  <=>  m >= 9 (p - 1); with p = 4 stages:
answer = next(m for m in range(1, 1000) if bubble_fraction(4, m) <= 0.10)
print("micro-batches:", answer, " bubble:", round(bubble_fraction(4, answer), 3))
check("bubble_micro_batches", answer)

# Solution non traduite : copie de notebooks/solutions/secagg_max_dropouts.py, générée par docs/make_french_edition.py.
# The server unmasks only if at least `threshold` participants sent their vectors,
# so up to len(participants) - threshold of them may drop out.
answer = len(sec.participants) - sec.threshold
check("secagg_max_dropouts", answer, agg=sec)

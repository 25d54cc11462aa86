# Solution non traduite : copie de notebooks/solutions/amdahl_from_run.py, générée par docs/make_french_edition.py.
# Worked solution: Amdahl's law S(p) = 1 / (f + (1 - f) / p) with the serial fraction section 2
# printed for this run (fitted to the measured speedups, or on one worker to the cost model's).
f = f_fit if f_fit is not None else f_model
speedup_on_8 = sp.amdahl_speedup(f, 8)
print(f"serial fraction {f:.3f} -> {speedup_on_8:.2f}x on 8 workers (predicted by Amdahl's law), "
      f"at most {1 / f:.0f}x on any number" if f > 0 else f"serial fraction 0 -> {speedup_on_8:.2f}x")
check("amdahl_from_run", speedup_on_8, result=result)

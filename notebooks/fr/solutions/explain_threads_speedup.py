# Solution non traduite : copie de notebooks/solutions/explain_threads_speedup.py, générée par docs/make_french_edition.py.
# Model answer to the Explain cell of 01_speedup, exercise threads_speedup (instructors' guide, docs/instructors.md).
# One good explanation; a student's should quote the numbers their own run printed above it.
explanation = """
The task is pure Python, and CPython lets only one thread of a process run Python code at a time (the Global
Interpreter Lock). The worker's two threads therefore take turns and the measured speedup stays near 1x.
Worker processes each have their own interpreter and lock, which is why plsim starts one single-threaded
process per CPU.

On 2 CPUs the comparison printed above shows it: processes come closer to 2x than the threads do. If the two
sets of runs overlap (the notebook then says it cannot tell them apart), the machine was busy and a rerun on a
quieter machine separates them. On one CPU (Binder) neither threads nor processes can beat 1x, since both take
turns on the one CPU, so this run says nothing about the GIL; the lesson holds from 2 CPUs on.

Two threads do speed up work that releases the GIL: NumPy and BLAS operations on large arrays, scikit-learn's
compiled code, and waiting for I/O (reading files, downloads), during which another thread can run.
"""

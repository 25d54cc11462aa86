# Solution non traduite : copie de notebooks/solutions/waves.py, générée par docs/make_french_edition.py.
# Worked solution. A task cannot be split between CPUs, so at most 3 run at the same time:
# waves of 3, 3, 3 and then 1 task. Four waves of 1 s each -- not 10 / 3 s: the last wave
# keeps one CPU busy while the other two wait (task granularity).
import math

answer = math.ceil(10 / 3) * 1.0
print(f"{math.ceil(10 / 3)} waves of 1 s: {answer:g} s")
check("waves", answer)

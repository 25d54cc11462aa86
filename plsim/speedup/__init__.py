"""Measure and predict the speedup of independent tasks: sequential versus k workers.

* **Measure**: :func:`measure_speedup` runs the same tasks in this process one
  after another (the baseline) and on 1..k workers of a Dask client (data
  scattered once, or deliberately shipped with every task), with a warm-up
  run, several repeats and the median. :func:`time_call` times any callable
  the same way (``plsim bench`` uses it for whole ensemble fits).
* **Summarise**: speedup ``S = T1 / Tp``, efficiency ``S / p``, the serial
  fraction of Amdahl's law fitted by least squares (:func:`fit_amdahl`) and the
  Karp-Flatt metric (:func:`karp_flatt`); :func:`gustafson_speedup` for scaled
  problems.
* **Predict**: :class:`CostModel` = serial part + per-task scheduling overhead
  + bytes moved / bandwidth + the work spread over ``p`` workers in
  ``ceil(n_tasks / p)`` waves. With no overhead and no data it is exactly
  Amdahl's law. :meth:`CostModel.explain` names the term that eats the gain
  when the predicted or measured speedup is below 1.
* **Calibrate**: :func:`calibrate` measures the per-task overhead (empty
  tasks) and the bandwidth once; 00, 01 and 06 all predict from it.
* **Compare**: :func:`compare_paired` says whether one way of doing the work
  (plsim, say) is measurably faster than another (joblib) from interleaved,
  paired runs, with a two-sided sign test instead of two medians that flip
  with noise; :func:`time_paired` times two callables that way, after a
  warm-up and in a random order per pair, so order and warm-up do not bias it.
* **Judge**: :func:`read_speedup` reads a measured speedup against the CPUs
  the workers really shared (:func:`cluster_cpus`) and the prediction, and says
  when it cannot show a speedup (one CPU) or is implausible (above the ideal);
  :func:`read_serial_fraction` does the same for the Amdahl fit and the
  Karp-Flatt metric (a value above 1 is a slowdown, not a serial part).
* **Demo sizes**: :func:`demo_settings` gives the notebook's sizes as one
  :class:`SpeedupDemo` (smaller under ``PLSIM_SMALL=1``).
* **See**: :func:`record_timeline` turns Dask's task stream into
  ``(worker, start, stop, key)`` records for the Gantt chart in
  :mod:`plsim.plots.speedup`.

Every number is labelled *measured* (wall clock on the real cluster) or
*predicted* (cost model). Taught in ``notebooks/01_speedup.ipynb``.
"""

from __future__ import annotations

from plsim.speedup.compare import PairedComparison, compare_paired, time_paired
from plsim.speedup.cost_model import CostModel
from plsim.speedup.demo import SpeedupDemo, demo_settings
from plsim.speedup.judge import SerialFractionReading, SpeedupReading, cluster_cpus, read_serial_fraction, read_speedup
from plsim.speedup.laws import amdahl_speedup, fit_amdahl, gustafson_speedup, ideal_speedup, karp_flatt
from plsim.speedup.measure import (
    Calibration,
    Timing,
    calibrate,
    python_work,
    python_work_iterations,
    run_parallel,
    run_sequential,
    time_call,
)
from plsim.speedup.result import SpeedupResult, measure_speedup
from plsim.speedup.timeline import TaskRecord, record_timeline, timeline_from_task_stream

__all__ = [
    "Timing",
    "time_call",
    "amdahl_speedup",
    "gustafson_speedup",
    "ideal_speedup",
    "fit_amdahl",
    "karp_flatt",
    "CostModel",
    "Calibration",
    "calibrate",
    "python_work",
    "python_work_iterations",
    "run_sequential",
    "run_parallel",
    "SpeedupResult",
    "SpeedupReading",
    "read_speedup",
    "SerialFractionReading",
    "read_serial_fraction",
    "cluster_cpus",
    "measure_speedup",
    "PairedComparison",
    "compare_paired",
    "time_paired",
    "TaskRecord",
    "record_timeline",
    "timeline_from_task_stream",
    "SpeedupDemo",
    "demo_settings",
]

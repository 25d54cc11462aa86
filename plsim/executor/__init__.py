"""Who runs what where, and the guards every run lives in: one layer under all three topics.

* :mod:`plsim.executor.core` -- the executors (:class:`Sequential`, :class:`Dask`,
  :class:`Joblib`) and :func:`resolve_executor`, called once at the top of each run.
* :mod:`plsim.executor.client` -- the Dask client as the executor meets it.
* :mod:`plsim.executor.memory` -- data refused before it is sent; a worker lost to its memory limit explained.
* :mod:`plsim.executor.interrupt` -- an interrupted run cancels its tasks; the cluster survives.
* :mod:`plsim.executor.run` -- :class:`Run`, the one context every fit, ``run_*`` and measurement lives in.

Nothing here starts or connects a cluster: that is :mod:`plsim.cluster`, below.
Taught in ``notebooks/01_speedup.ipynb`` and ``notebooks/02_ensembles.ipynb``.
"""

from plsim.executor.client import check_client, worker_threads
from plsim.executor.core import LOCAL, Dask, Done, Executor, Joblib, Sequential, TaskResult, resolve_executor
from plsim.executor.interrupt import cancel_on_interrupt
from plsim.executor.memory import DataTooLargeError, check_data_fits, explain_worker_loss, memory_guard
from plsim.executor.run import Run

__all__ = ["Executor", "Sequential", "Dask", "Joblib", "TaskResult", "Done", "resolve_executor", "LOCAL",
           "check_client", "worker_threads", "cancel_on_interrupt", "DataTooLargeError", "check_data_fits",
           "explain_worker_loss", "memory_guard", "Run"]

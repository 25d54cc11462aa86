"""Run notebooks as Binder gives them: one CPU, 2 GiB, the environment ``binder/start`` sets.

Each notebook is executed top to bottom by ``jupyter nbconvert --execute`` started
through the repository's own ``binder/start`` (so ``PLSIM_SMALL=1`` and the proxied
dashboard link come from the real script), with

* the CPU affinity pinned to one CPU (inherited by the kernel and every Dask worker
  it starts, so two worker processes really share one core), and ``CPU_LIMIT=1``;
* ``MEM_LIMIT=2147483648`` (plsim sizes the workers' memory limits from it);

while the resident memory of the kernel and all its children (Dask scheduler
threads live in the kernel; nannies and workers are children) is sampled every
0.2 s. The figure is a sum of RSS, an upper bound on what the container is
charged (shared pages count once per process).

Used by ``tests/test_binder_profile.py``; also a script that prints the table
the README quotes::

    python tests/_binder_profile.py [--output-dir DIR] notebooks/*.ipynb notebooks/assignments/source/*/*.ipynb

With ``--output-dir`` the executed copies are kept there, stamped with the source they ran from (as the test
suite writes ``build/executed/``, see ``tests/_executed.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
BINDER_START = ROOT / "binder" / "start"
MEM_LIMIT = 2 * 2**30

__all__ = ["ProfileRun", "binder_environment", "run_notebook", "run_sampled", "MEM_LIMIT"]


@dataclass
class ProfileRun:
    notebook: str
    seconds: float
    peak_bytes: int
    returncode: int
    cpu: int
    error: str
    # The executed notebook (nbformat JSON as a dict), or None if it did not finish.
    executed: dict | None = field(default=None, repr=False)

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / 2**20


def binder_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The variables Binder's container sets (``binder/start`` adds its own on top)."""
    env = dict(os.environ if base is None else base)
    env.update(CPU_LIMIT="1", MEM_LIMIT=str(MEM_LIMIT), JUPYTERHUB_SERVICE_PREFIX="/user/student/",
               MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    return env


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    try:
        procs = root.children(recursive=True)
    except psutil.Error:
        return 0
    for proc in procs:  # the kernel, the workers, their nannies; not nbconvert itself
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_sampled(command: list[str], *, cwd: str | os.PathLike, env: dict[str, str], timeout: float,
                preexec_fn=None) -> tuple[int, str, float, int]:
    """Run ``command``, sampling the summed RSS of all its descendants every 0.2 s.

    Returns ``(returncode, stderr, seconds, peak_bytes)``; after ``timeout + 60`` s the command and its
    descendants are killed. Also used by ``benchmarks/bench_hub.py`` (several students at once).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=preexec_fn)
    peak = 0
    stop = threading.Event()
    watched = psutil.Process(proc.pid)

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(watched))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, stderr = proc.communicate(timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        for child in watched.children(recursive=True):
            child.kill()
        proc.kill()
        _, stderr = proc.communicate()
    finally:
        stop.set()
        sampler.join()
    return proc.returncode, stderr, time.perf_counter() - start, peak


def run_notebook(path: str | os.PathLike, *, timeout: float = 900.0, cpu: int | None = None,
                 output_dir: str | os.PathLike | None = None) -> ProfileRun:
    """Execute one notebook under the Binder profile.

    The executed copy goes to ``output_dir`` (to read its outputs as a student
    would), or to a temporary folder that is removed afterwards.
    """
    path = Path(path).resolve()
    cpu = sorted(os.sched_getaffinity(0))[0] if cpu is None else cpu
    with tempfile.TemporaryDirectory(prefix="plsim-binder-") as tmp:
        out = tmp if output_dir is None else str(output_dir)
        command = [str(BINDER_START), sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook",
                   "--execute", f"--ExecutePreprocessor.timeout={int(timeout)}",
                   "--output-dir", out, str(path)]
        returncode, stderr, seconds, peak = run_sampled(
            command, cwd=path.parent, env=binder_environment(), timeout=timeout,
            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
        done = Path(out) / path.name
        executed = json.loads(done.read_text()) if returncode == 0 and done.exists() else None
    error = "" if returncode == 0 else stderr[-4000:]
    return ProfileRun(str(path.relative_to(ROOT)), seconds, peak, returncode, cpu, error, executed)


def main(argv: list[str]) -> int:
    keep = None
    if argv[:1] == ["--output-dir"]:
        keep, argv = argv[1], argv[2:]
    runs = [run_notebook(arg, output_dir=keep) for arg in argv]
    if keep is not None:  # stamped as the test suite stamps build/executed/ (what it ran, from which source)
        from _executed import stamp

        for arg, run in zip(argv, runs):
            if run.executed is not None:
                done = Path(keep) / Path(arg).name
                done.write_text(json.dumps(stamp(run.executed, Path(arg)), indent=1, ensure_ascii=False) + "\n")
    print(f"{'notebook':55s} {'wall s':>7s} {'peak MiB':>9s}  result")
    for r in runs:
        print(f"{r.notebook:55s} {r.seconds:7.1f} {r.peak_mib:9.0f}  {'ok' if r.returncode == 0 else 'FAILED'}")
        if r.returncode:
            print(r.error)
    print(json.dumps([{k: v for k, v in asdict(r).items() if k != "executed"} for r in runs]))
    return 0 if all(r.returncode == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

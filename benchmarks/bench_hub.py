"""Hub sizing: k students at once on one machine, each running the course's notebooks in its own allowance.

Run:  python benchmarks/bench_hub.py [--k 1 2 4] [--notebooks notebooks/0*.ipynb] [--cpus-per-student 1]
                                     [--mem-per-student 2GiB] [--small] [--pin] [--json]

Each *student* is a thread that executes the notebooks one after another with ``jupyter nbconvert --execute``
(in ``notebooks/``, so ``%load solutions/...`` resolves), in the environment a course hub gives a pod:
``CPU_LIMIT`` and ``MEM_LIMIT`` (plsim sizes its cluster from them), ``PLSIM_SESSION_CLUSTER=1`` with a Jupyter
runtime directory of the student's own (so students never share a session cluster), the proxied dashboard link,
and ``PLSIM_SMALL=1`` with ``--small``. The k students of one round start together. ``--pin`` also gives each
student ``cpus-per-student`` CPUs of its own by affinity (round robin, so on 2 CPUs students 1 and 3 share one):
a hub that enforces CPU limits with a cgroup quota lets the pods float over the node's cores instead, which is
the default here; ``CPU_LIMIT`` alone does not cap what a student uses, it sizes the cluster.

For each notebook and student it reports the wall-clock seconds, the peak memory (sum of the RSS of the kernel
and all its children, the session cluster included, sampled every 0.2 s by ``tests/_binder_profile.py``'s
sampler: an upper bound on what a pod is charged), and how many times the executed notebook's outputs carry the
flags plsim prints when a measurement was distorted by load or by one CPU ("Suspect: ...", "Implausible: ...",
"other programs used the CPUs", "a noisy machine", ...): a notebook with no flag still reads true. The load
average before and after each round is printed too: on a machine shared with other jobs the figures measure
that as well. The table summarises each notebook over the k students (median and slowest time, highest peak,
the flags of all of them); ``--json`` prints every run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from _binder_profile import run_sampled  # noqa: E402  (the Binder profile's memory sampler, one definition)

# The sentences plsim and the notebooks print when a measured number cannot be read as the lesson reads it
# (plsim/speedup/judge.py, plsim/exercises/speedup.py, plsim/speedup/cost_model.py, the notebooks' own checks).
FLAGS: dict[str, re.Pattern[str]] = {
    "suspect": re.compile(r"\bSuspect\b"),
    "implausible": re.compile(r"\bImplausible\b"),
    "other programs": re.compile(r"other programs", re.IGNORECASE),
    "noisy machine": re.compile(r"noisy machine", re.IGNORECASE),
    "CPUs busy": re.compile(r"were the CPUs busy|CPUs were (?:probably )?busy|busy machine", re.IGNORECASE),
}
_TAG = re.compile(r"<[^>]+>")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


@dataclass
class NotebookRun:
    """One student's execution of one notebook."""

    k: int
    student: int
    notebook: str
    seconds: float
    peak_bytes: int
    returncode: int
    flags: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.errors == 0


@dataclass(frozen=True)
class Row:
    """One notebook at one k, summarised over its students."""

    k: int
    notebook: str
    students: int
    failed: int
    median_seconds: float
    max_seconds: float
    peak_mib: float
    flags: dict[str, int]


def parse_size(text: str) -> int:
    """Bytes from ``"2GiB"``, ``"1.5G"``, ``"512MiB"`` or a plain number of bytes.

    Raises
    ------
    ValueError
        When ``text`` is not a positive size.
    """
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError(f"size={text!r} is not a size: expected e.g. 2GiB, 1536MiB or a number of bytes")
    value = float(m.group(1)) * _UNITS[(m.group(2) or "")[:1].lower()]
    if value < 1:
        raise ValueError(f"size={text!r} must be at least 1 byte")
    return int(value)


def _output_texts(output: Mapping) -> list[str]:
    """The readable representations of one cell output (each one a whole rendering of it)."""
    if output.get("output_type") == "stream":
        text = output.get("text", "")
        return ["".join(text) if isinstance(text, list) else text]
    data = output.get("data") or {}
    texts = []
    for mime in ("text/plain", "text/markdown", "text/html"):
        if mime in data:
            value = data[mime]
            value = "".join(value) if isinstance(value, list) else str(value)
            texts.append(_TAG.sub(" ", value) if mime == "text/html" else value)
    return texts


def count_flags(executed: Mapping) -> tuple[dict[str, int], int]:
    """``(flag -> occurrences, error outputs)`` in an executed notebook's outputs (nbformat JSON as a dict).

    Only outputs are read, never the cells' source or markdown (which quote the flags to explain them). An
    output shown in several representations (plain text, markdown, HTML) counts once: its largest count.
    """
    counts = dict.fromkeys(FLAGS, 0)
    errors = 0
    for cell in executed.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if output.get("output_type") == "error":
                errors += 1
                continue
            texts = _output_texts(output)
            for name, pattern in FLAGS.items():
                counts[name] += max((len(pattern.findall(t)) for t in texts), default=0)
    return {name: n for name, n in counts.items() if n}, errors


def summarize(runs: Sequence[NotebookRun]) -> list[Row]:
    """One row per (k, notebook), in the order first run; flags summed over the students."""
    groups: dict[tuple[int, str], list[NotebookRun]] = {}
    for run in runs:
        groups.setdefault((run.k, run.notebook), []).append(run)
    rows = []
    for (k, notebook), group in groups.items():
        flags: dict[str, int] = {}
        for run in group:
            for name, n in run.flags.items():
                flags[name] = flags.get(name, 0) + n
        seconds = [r.seconds for r in group]
        rows.append(Row(k, notebook, len(group), sum(not r.ok for r in group), statistics.median(seconds),
                        max(seconds), max(r.peak_bytes for r in group) / 2**20, flags))
    return rows


def format_flags(flags: Mapping[str, int]) -> str:
    """``"none"`` or ``"suspect 2, other programs 1"`` (in FLAGS' order)."""
    parts = [f"{name} {flags[name]}" for name in FLAGS if flags.get(name)]
    return ", ".join(parts) if parts else "none"


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table, as the instructors' guide quotes it."""
    lines = ["| students at once | notebook | ran (failed) | time s, median / slowest | peak MiB, highest | "
             "distortion flags (all students) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.k} | `{Path(r.notebook).stem}` | {r.students} ({r.failed}) | {r.median_seconds:.0f} / "
                     f"{r.max_seconds:.0f} | {r.peak_mib:.0f} | {format_flags(r.flags)} |")
    return "\n".join(lines)


def student_environment(*, cpus: int, mem_bytes: int, small: bool, runtime_dir: Path,
                        base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a hub pod sets for one student (as the guide's deployment section lists them)."""
    env = dict(os.environ if base is None else base)
    env.pop("PLSIM_SMALL", None)
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    env.update(CPU_LIMIT=str(cpus), MEM_LIMIT=str(mem_bytes), PLSIM_SESSION_CLUSTER="1",
               JUPYTER_RUNTIME_DIR=str(runtime_dir), JUPYTERHUB_SERVICE_PREFIX="/user/student/",
               DASK_DISTRIBUTED__DASHBOARD__LINK="/user/student/proxy/{port}/status",
               MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    if small:
        env["PLSIM_SMALL"] = "1"
    return env


def _wait_for_session_end(runtime_dir: Path, timeout: float = 90.0) -> None:
    """Wait until the notebook's session cluster has gone (it outlives nbconvert by a few seconds)."""
    deadline = time.monotonic() + timeout
    while any(runtime_dir.glob("plsim-session-*")) and time.monotonic() < deadline:
        time.sleep(0.5)


def run_one(notebook: Path, *, k: int, student: int, env: Mapping[str, str], out_dir: Path, timeout: float,
            cpus: set[int] | None) -> NotebookRun:
    """Execute one notebook as one student, sampling the memory of everything it starts."""
    command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
               f"--ExecutePreprocessor.timeout={int(timeout)}", "--output-dir", str(out_dir), str(notebook)]
    preexec = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
    returncode, stderr, seconds, peak = run_sampled(command, cwd=notebook.parent, env=dict(env), timeout=timeout,
                                                    preexec_fn=preexec)
    done = out_dir / notebook.name
    flags, errors = {}, 0
    if returncode == 0 and done.exists():
        flags, errors = count_flags(json.loads(done.read_text()))
    return NotebookRun(k, student, str(notebook.relative_to(ROOT)) if notebook.is_relative_to(ROOT)
                       else str(notebook), seconds, peak, returncode, flags, errors,
                       "" if returncode == 0 else stderr[-2000:])


def run_round(k: int, notebooks: Sequence[Path], *, cpus: int, mem_bytes: int, small: bool, pin: bool,
              timeout: float, keep: Path | None) -> list[NotebookRun]:
    """k students at once, each running every notebook in order; returns all their runs."""
    available = sorted(os.sched_getaffinity(0))
    runs: list[NotebookRun] = []
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(prefix=f"plsim-hub-k{k}-") as tmp:
        def student(i: int) -> None:
            home = (keep or Path(tmp)) / f"k{k}" / f"student{i}"
            runtime = Path(tmp) / f"runtime{i}"
            home.mkdir(parents=True, exist_ok=True)
            runtime.mkdir(parents=True, exist_ok=True)
            env = student_environment(cpus=cpus, mem_bytes=mem_bytes, small=small, runtime_dir=runtime)
            mine = ({available[(i * cpus + j) % len(available)] for j in range(cpus)} if pin else None)
            for nb in notebooks:
                run = run_one(nb, k=k, student=i, env=env, out_dir=home, timeout=timeout, cpus=mine)
                with lock:
                    runs.append(run)
                _wait_for_session_end(runtime)

        threads = [threading.Thread(target=student, args=(i,)) for i in range(k)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    order = {str(nb): i for i, nb in enumerate(notebooks)}
    runs.sort(key=lambda r: (order.get(str(ROOT / r.notebook), order.get(r.notebook, 0)), r.student))
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 4], help="students at once (default 1 2 4)")
    parser.add_argument("--notebooks", nargs="+", type=Path,
                        default=sorted((ROOT / "notebooks").glob("0*.ipynb")),
                        help="notebooks each student runs, in order (default notebooks/0*.ipynb)")
    parser.add_argument("--cpus-per-student", type=int, default=1, help="CPU_LIMIT of each student (default 1)")
    parser.add_argument("--mem-per-student", type=parse_size, default=2 * 2**30,
                        help="MEM_LIMIT of each student, e.g. 2GiB (default)")
    parser.add_argument("--small", action="store_true", help="PLSIM_SMALL=1 (the Binder demo sizes)")
    parser.add_argument("--pin", action="store_true", help="pin each student to cpus-per-student CPUs")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per cell (default 900)")
    parser.add_argument("--keep", type=Path, help="keep the executed notebooks in this folder")
    parser.add_argument("--json", action="store_true", help="also print every run as JSON")
    args = parser.parse_args(argv)
    if any(k < 1 for k in args.k):
        parser.error(f"--k {args.k}: every k must be >= 1")
    if args.cpus_per_student < 1:
        parser.error(f"--cpus-per-student {args.cpus_per_student}: must be >= 1")
    notebooks = [p.resolve() for p in args.notebooks]
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        parser.error(f"--notebooks: no such file {missing}")
    print(f"{os.cpu_count()} CPUs here; per student CPU_LIMIT={args.cpus_per_student}, "
          f"MEM_LIMIT={args.mem_per_student / 2**30:.2f} GiB, PLSIM_SMALL={'1' if args.small else 'unset'}, "
          f"{'pinned' if args.pin else 'not pinned'}")
    runs: list[NotebookRun] = []
    for k in args.k:
        before = os.getloadavg()[0]
        start = time.perf_counter()
        got = run_round(k, notebooks, cpus=args.cpus_per_student, mem_bytes=args.mem_per_student,
                        small=args.small, pin=args.pin, timeout=args.timeout, keep=args.keep)
        print(f"k={k}: {time.perf_counter() - start:.0f} s for the round; load average {before:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after", flush=True)
        for r in got:
            if r.returncode:
                print(f"  student {r.student} {r.notebook} FAILED:\n{r.error}")
        runs += got
    print(format_table(summarize(runs)))
    if args.json:
        print(json.dumps([asdict(r) for r in runs]))
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())

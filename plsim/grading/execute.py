"""nbgrader's Execute step, run in a sandbox: :class:`SandboxedExecute` (``c.Autograde.autograde_preprocessors``).

For each submission nbgrader autogrades, this preprocessor

1. draws the cases of every graded cell's registered check (:mod:`plsim.grading.checks`) from a seed made now;
2. makes a :class:`~plsim.grading.sandbox.Sandbox` (a folder outside the course, two user ids of its own,
   resource limits) holding a copy of the submission's other files and the cases;
3. starts the submission's Dask cluster itself (:mod:`plsim.grading.cluster_host`) when the notebook calls
   ``plsim.start_cluster(``, and gives the kernel its address (``DASK_SCHEDULER_ADDRESS``);
4. runs the cells in a kernel started as the sandbox's kernel user, one at a time with a time limit each.
   A cell that overruns is interrupted; if the kernel does not answer within ``interrupt_grace`` seconds
   (SIGINT ignored) or died, every process of the kernel's user is killed, a new kernel replays the cells
   that had run (not the hung one, not the graded tests) and grading goes on. The rest of that cell's
   question (grade ids ``q<N>-...`` and the unlabelled cells after them) is skipped: only it is lost;
5. reads the scheduler's record, kills everything the sandbox's users started and removes the sandbox.

What the grader keeps for :class:`~plsim.grading.scoring.GraderChecks` goes into
``resources["plsim_grading"]``: the cases, the cell windows, the record, the lost questions.
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from traitlets import Any as TraitAny
from traitlets import Bool, Dict, Float, Integer, List, Unicode

from nbgrader import utils
from nbgrader.preprocessors import Execute
from plsim.grading.checks import load_checks
from plsim.grading.protocol import CASES_ENV
from plsim.grading.record import RecordedRun
from plsim.grading.sandbox import Limits, Sandbox

__all__ = ["SandboxedExecute", "ClusterHost", "question_of", "uses_cluster"]

QUESTION = re.compile(r"^(q\d+)-")
# Bytes of output one cell may produce before the rest is dropped (the grader keeps outputs in memory).
MAX_CELL_OUTPUT = 1_000_000


def question_of(cells: list[NotebookNode]) -> list[str | None]:
    """The question (``"q4"``) each cell belongs to: that of the latest ``q<N>-`` grade id at or above it."""
    current: str | None = None
    out = []
    for cell in cells:
        match = QUESTION.match(cell.metadata.get("nbgrader", {}).get("grade_id", ""))
        if match:
            current = match.group(1)
        out.append(current)
    return out


def uses_cluster(cells: list[NotebookNode]) -> bool:
    return any(c.cell_type == "code" and "plsim.start_cluster(" in c.source for c in cells)


def graded_code_cells(cells: list[NotebookNode]) -> list[NotebookNode]:
    return [c for c in cells if c.cell_type == "code" and utils.is_grade(c) and not utils.is_solution(c)]


class ClusterHost:
    """The submission's Dask cluster, in a process of the sandbox's cluster user (see cluster_host.py)."""

    def __init__(self, sandbox: Sandbox, log_file: Any, startup_timeout: float = 60.0) -> None:
        read_fd, write_fd = os.pipe()
        self._reader = os.fdopen(read_fd, "rb")
        env = sandbox.environment(sandbox.cluster_uid)
        uid = sandbox.cluster_uid
        self.process = subprocess.Popen(
            sandbox.command(uid, [sys.executable, "-m", "plsim.grading.cluster_host", str(write_fd)]),
            stdin=subprocess.PIPE, stdout=log_file, stderr=log_file, env=env, pass_fds=(write_fd,),
            **sandbox.popen_kwargs(uid))
        os.close(write_fd)
        hello = json.loads(self._read(startup_timeout))
        if not isinstance(hello, dict) or not str(hello.get("address", "")).startswith("tcp://127.0.0.1:"):
            raise RuntimeError(f"the grading cluster did not start: {hello!r}")
        self.address: str = hello["address"]

    def _read(self, timeout: float) -> bytes:
        import select
        line = b""
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._reader], [], [], left)[0]:
                raise TimeoutError(f"no answer from the grading cluster within {timeout:.0f} s")
            chunk = os.read(self._reader.fileno(), 1 << 20)
            if not chunk:
                raise RuntimeError("the grading cluster exited")
            line += chunk
            if len(line) > 64 << 20:
                raise RuntimeError("the grading cluster's record is too large")
        return line.split(b"\n", 1)[0]

    def record(self, timeout: float = 60.0) -> RecordedRun | None:
        """The scheduler's record of the run, as JSON from the host (None if the cluster is gone)."""
        if self.process.poll() is not None:
            return None
        try:
            self.process.stdin.write(b"record\n")
            self.process.stdin.flush()
            return RecordedRun.from_json(self._read(timeout))
        except (OSError, RuntimeError, TimeoutError, ValueError, KeyError, TypeError):
            return None

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                self.process.stdin.write(b"close\n")
                self.process.stdin.flush()
                self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
        finally:
            self._reader.close()


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel as the sandbox's kernel user, in its folder, with its environment and limits."""

    sandbox = TraitAny(allow_none=True)
    sandbox_env = Dict()

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        box: Sandbox = self.sandbox
        os.chown(self.connection_file, box.kernel_uid, box.gid)
        os.chmod(self.connection_file, 0o600)
        kw.update(box.popen_kwargs(box.kernel_uid))
        kw["env"] = dict(self.sandbox_env)
        return await super()._async_launch_kernel(box.command(box.kernel_uid, kernel_cmd), **kw)


class SandboxedExecute(Execute):
    """nbgrader's Execute, with the submission in a sandbox and a time limit that costs only its question."""

    timeout = Integer(60, help="Seconds one cell may run before it is interrupted (its question is lost).",
                      allow_none=True).tag(config=True)
    interrupt_grace = Float(5.0, help="Seconds an interrupted kernel has to answer before it is killed and "
                            "replaced.").tag(config=True)
    submission_timeout = Integer(900, help="Seconds the whole submission may take; later cells are skipped."
                                 ).tag(config=True)
    switch_user = Bool(True, help="Run the submission as throw-away user ids (needs root; without root it "
                       "runs as the grader's user and the log says so).").tag(config=True)
    cpu_seconds = Integer(900, help="CPU seconds per sandboxed process (RLIMIT_CPU).").tag(config=True)
    memory_bytes = Integer(6 * 2**30, help="Address space per sandboxed process (RLIMIT_AS).").tag(config=True)
    processes = Integer(1024, help="Processes and threads per sandbox user (RLIMIT_NPROC).").tag(config=True)
    file_bytes = Integer(256 * 2**20, help="Largest file a sandboxed process may write.").tag(config=True)
    hidden_paths = List(Unicode(), help="More folders the submission must not see (the course folder, the "
                        "exchange and the grader's home are hidden anyway).").tag(config=True)
    seed = Integer(None, allow_none=True, help="Seed of the cases (default: a fresh one per submission, drawn "
                   "with `secrets`; set it only to reproduce a grading).").tag(config=True)

    # -- nbgrader entry point ------------------------------------------------------------------------------

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        from nbclient import NotebookClient
        NotebookClient.__init__(self, nb, None)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._output_bytes: dict[int, int] = {}
        assignment = resources["nbgrader"]["assignment"]
        checks = load_checks(assignment)
        graded = graded_code_cells(nb.cells)
        unchecked = [c.metadata.nbgrader["grade_id"] for c in graded if c.metadata.nbgrader["grade_id"] not in checks]
        if unchecked:
            raise ValueError(f"graded cells {unchecked} of {assignment} have no grader-side check: register one in "
                             f"plsim.grading.{assignment}_checks (see docs/instructors.md); a cell cannot be "
                             "scored by the absence of an error")
        seed = self.seed if self.seed is not None else secrets.randbits(64)
        rng = np.random.default_rng(seed)
        cases = {gid: check.draw(rng) for gid, check in checks.items()}
        state = {"seed": seed, "cases": cases, "windows": {}, "lost": {}, "record": None, "switched_user":
                 False, "restarts": 0}
        resources["plsim_grading"] = state
        limits = Limits(self.cpu_seconds, self.memory_bytes, self.processes, self.file_bytes)
        switch = self.switch_user and os.geteuid() == 0
        if not switch:
            self.log.warning("Not running as root: the submission runs as this user and can read what it can "
                             "read (no sandbox user). Grade as root, or in a container per submission.")
        with Sandbox(limits, switch_user=switch, hidden=self._hidden_paths(resources)) as box:
            state["switched_user"] = switch
            self.log.info("Sandbox %s, kernel uid %s, cluster uid %s", box.root, box.kernel_uid, box.cluster_uid)
            box.check()  # the jail works here (a clear error now rather than a kernel that never starts)
            folder = Path(resources.get("metadata", {}).get("path") or ".")
            box.add_files((p, str(p.relative_to(folder))) for p in sorted(folder.rglob("*"))
                          if p.is_file() and p.suffix != ".ipynb")
            cases_file = box.write_private("cases.json", json.dumps(cases))
            env = {CASES_ENV: str(cases_file), "NBGRADER_EXECUTION": "autograde"}
            cluster = None
            log_file = open(box.root / "cluster.log", "wb")
            try:
                if uses_cluster(nb.cells):
                    cluster = ClusterHost(box, log_file)
                    env["DASK_SCHEDULER_ADDRESS"] = cluster.address
                    self.log.info("Grading cluster at %s", cluster.address)
                self._box, self._env = box, box.environment(box.kernel_uid, env)
                run_sync(self._grade_all)()
                if cluster is not None:
                    state["record"] = cluster.record()
                    cpu = box.cpu_seconds(box.cluster_uid)
                    if cpu is not None:
                        self.log.info("CPU time of the grading cluster: %.1f s", cpu)
            finally:
                if cluster is not None:
                    cluster.close()
                log_file.close()
                self._log_tail(box.root / "cluster.log", "cluster")
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _hidden_paths(self, resources: dict) -> list[Path]:
        """The course folder (found from the notebook's folder or the gradebook), the exchange, and extras."""
        hidden = [Path(p) for p in self.hidden_paths]
        db_url = resources["nbgrader"].get("db_url", "")
        if db_url.startswith("sqlite:///"):
            hidden.append(Path(db_url[len("sqlite:///"):]).parent)
        folder = Path(resources.get("metadata", {}).get("path") or ".").resolve()
        for parent in [folder, *folder.parents]:
            if (parent / "nbgrader_config.py").is_file() or (parent / "gradebook.db").is_file():
                hidden.append(parent)
                break
        exchange = self.config.get("Exchange", {}).get("root", "/srv/nbgrader/exchange")
        hidden.append(Path(exchange))
        # A checkout of plsim (an editable install, as in development) holds the instructor's copies too, in
        # both editions: grading the English course must not leave the French sources readable, and back.
        import plsim
        notebooks = Path(plsim.__file__).resolve().parents[1] / "notebooks"
        hidden += [notebooks / "assignments" / "source", notebooks / "fr" / "assignments" / "source"]
        return [p for p in hidden if p.is_dir() and p.resolve() != Path("/")]

    def _log_tail(self, path: Path, what: str) -> None:
        try:
            text = path.read_bytes()[-4000:].decode(errors="replace").strip()
        except OSError:
            return
        if text:
            self.log.info("Last lines of the %s's log:\n%s", what, text)

    # -- the kernel ----------------------------------------------------------------------------------------

    async def _start_kernel(self) -> None:
        kernel_name = self.kernel_name or self.nb.metadata.get("kernelspec", {}).get("name", "python3")
        # IPC transport: the kernel's sockets are files in its own folder, which no other sandbox can reach
        # (TCP ports on 127.0.0.1 would be open to every process on the machine).
        self.km = SandboxedKernelManager(kernel_name=kernel_name, sandbox=self._box, sandbox_env=self._env,
                                         connection_file=str(self._box.root / "kernel.json"), transport="ipc",
                                         ip=str(self._box.home / ".kernel"), config=self.config)
        await self.async_start_new_kernel(cwd=str(self._box.home))
        await self.async_start_new_kernel_client()

    async def _stop_kernel(self) -> None:
        try:
            if self.km is not None:
                await self._async_cleanup_kernel()
        except Exception as exc:  # a dead or stuck kernel: killed below anyway
            self.log.warning("Kernel shutdown: %s", exc)
        finally:
            self.km, self.kc = None, None
            self._box.kill([self._box.kernel_uid])

    async def _responsive(self) -> bool:
        """The kernel answers a kernel_info request within the grace period."""
        try:
            msg_id = self.kc.kernel_info()
            deadline = time.monotonic() + self.interrupt_grace
            while time.monotonic() < deadline:
                msg = await self.kc.shell_channel.get_msg(timeout=max(0.1, deadline - time.monotonic()))
                if msg["parent_header"].get("msg_id") == msg_id:
                    return True
        except Exception:
            return False
        return False

    # -- the cells -----------------------------------------------------------------------------------------

    async def _run_cell(self, cell: NotebookNode, index: int) -> str:
        """Run one cell: "ok", "timeout" (interrupted, kernel fine) or "stuck" (kernel must be replaced)."""
        try:
            await self.async_execute_cell(cell, index, store_history=True)
        except (CellTimeoutError, DeadKernelError) as exc:
            cell.outputs.append(_error("CellTimeoutError" if isinstance(exc, CellTimeoutError) else "KernelDied",
                                       f"the kernel did not finish this cell within {self.timeout} s and did not "
                                       "stop when interrupted" if isinstance(exc, CellTimeoutError) else
                                       "the kernel died while running this cell"))
            return "stuck"
        if any(o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError" for o in cell.outputs):
            return "timeout" if await self._responsive() else "stuck"
        return "ok"

    async def _grade_all(self) -> None:
        state = self.resources["plsim_grading"]
        questions = question_of(self.nb.cells)
        deadline = time.monotonic() + self.submission_timeout
        ran: list[int] = []  # cells a replacement kernel replays (ran fine, not graded tests)
        started = time.perf_counter()
        await self._start_kernel()
        try:
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                question = questions[index]
                if question is not None and question in state["lost"]:
                    cell.outputs = [_error("Skipped", f"not run: {question.upper()} already ran out of time")]
                    continue
                if time.monotonic() > deadline:
                    cell.outputs = [_error("Skipped", f"not run: the submission's {self.submission_timeout} s "
                                                      "were used up")]
                    continue
                start = time.time()
                outcome = await self._run_cell(cell, index)
                self.log.debug("Cell %d ran for %.2f s: %s", index, time.time() - start, outcome)
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                if grade_id:
                    state["windows"][grade_id] = (start, time.time())
                if outcome != "ok":
                    state["lost"][question or f"cell {index}"] = outcome
                    self.log.warning("Cell %d (%s) %s; %s lost", index, grade_id or "unlabelled",
                                     "ran out of time" if outcome == "timeout" else "hung or killed its kernel",
                                     question or "only it is")
                if outcome == "stuck":
                    state["restarts"] += 1
                    await self._replace_kernel(ran, deadline)
                elif outcome == "ok" and not (utils.is_grade(cell) and not utils.is_solution(cell)):
                    ran.append(index)
        finally:
            cpu = self._box.cpu_seconds(self._box.kernel_uid)
            if cpu is not None:
                self.log.info("CPU time of the kernel: %.1f s", cpu)
            await self._stop_kernel()
            self.log.info("Ran the notebook in %.1f s (%d kernel restart(s); questions lost to time: %s)",
                          time.perf_counter() - started, state["restarts"], ", ".join(state["lost"]) or "none")

    async def _replace_kernel(self, ran: list[int], deadline: float) -> None:
        """Kill the kernel's user's processes, start a new kernel, replay ``ran`` (dropping cells that hang)."""
        for _ in range(3):
            await self._stop_kernel()
            await self._start_kernel()
            for index in list(ran):
                if time.monotonic() > deadline:
                    return
                replay = copy.deepcopy(self.nb.cells[index])
                outcome = await self._run_cell(replay, index)
                if outcome == "stuck":
                    ran.remove(index)
                    break
            else:
                return

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> NotebookNode | None:
        # Cap what one cell may make the grader hold in memory.
        used = self._output_bytes.get(cell_index, 0) + len(json.dumps(msg.get("content", {})))
        self._output_bytes[cell_index] = used
        if used > MAX_CELL_OUTPUT:
            if used - len(json.dumps(msg.get("content", {}))) <= MAX_CELL_OUTPUT:
                outs.append(NotebookNode(output_type="stream", name="stdout",
                                         text="... output truncated by the grader ...\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])

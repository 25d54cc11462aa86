"""A throw-away place to run one submission: its own folder outside the course, its own unprivileged user ids,
limits on CPU time, memory, processes and file sizes, and nothing left running afterwards.

Layout (``root`` is made under the system's temporary folder, never inside the course folder)::

    root/            owned by the grader, mode 0711: the sandbox users can enter it but not list it
      cases.json     the grader's cases (read-only to the kernel; the grader keeps its own copy)
      kernel.json    the kernel's connection file (readable by the kernel's user only)
      home/          the kernel's user: cwd, HOME, TMPDIR; a copy of the submission's other files
      cluster/       the cluster's user: the Dask scheduler's and workers' folders

Two user ids per submission (one for the kernel, one for its Dask cluster) that no account and no file on the
machine has, so "every process of this uid" is exactly what this submission started, detached or not: a
process cannot give up its uid, so :meth:`Sandbox.kill` finds and kills them all (repeatedly, until none is
left, so a fork between two scans is caught too). Running as another user needs root; without it the
submission runs as the grader's own user, and the grader says so in its log.
"""

from __future__ import annotations

import ctypes
import dataclasses
import itertools
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = ["Limits", "Sandbox", "can_switch_user", "processes_of"]


# Sandbox user ids: UID_BASE + 2 * (pid * 16 + n) and + 1 (kernel, cluster). No account has them
# (accounts live far below), and two graders alive at once never share one (their pids differ).
UID_BASE = 2_000_000_000
_SLOTS = itertools.count()
_SLOT_LOCK = threading.Lock()
_PR_SET_NO_NEW_PRIVS = 38
# Environment variables passed through to the submission (everything else, including the grader's secrets
# and DASK_* settings, stays out).
PASS_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "PLSIM_SMALL", "CPU_LIMIT", "MEM_LIMIT", "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONHASHSEED")


@dataclass(frozen=True)
class Limits:
    """Per-process resource limits of everything a submission runs (``resource.setrlimit``).

    ``cpu_seconds`` is CPU time per process (the kernel is killed by the kernel's SIGXCPU/SIGKILL past it),
    ``memory_bytes`` the address space per process, ``processes`` the processes and threads of one sandbox
    user together, ``file_bytes`` the largest file it may write. Wall time is the grader's: per cell.
    """

    cpu_seconds: int = 900
    memory_bytes: int = 6 * 2**30
    processes: int = 1024
    file_bytes: int = 256 * 2**20
    open_files: int = 4096

    def apply(self) -> None:
        """Set the limits on the calling process (in the child, after it switched user)."""
        for name, value in ((resource.RLIMIT_CPU, self.cpu_seconds), (resource.RLIMIT_AS, self.memory_bytes),
                            (resource.RLIMIT_NPROC, self.processes), (resource.RLIMIT_FSIZE, self.file_bytes),
                            (resource.RLIMIT_NOFILE, self.open_files), (resource.RLIMIT_CORE, 0)):
            soft, hard = resource.getrlimit(name)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(name, (value, value))


def can_switch_user() -> bool:
    """Whether this process may run submissions as other users (root with CAP_SETUID, POSIX)."""
    return sys.platform.startswith("linux") and os.geteuid() == 0


def _no_new_privileges() -> None:
    # A setuid program (su, sudo, ping) could otherwise give the submission back some privilege.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def processes_of(uid: int) -> list[psutil.Process]:
    """Every live process whose real or effective uid is ``uid`` (zombies are dead: only reaped, not listed)."""
    found = []
    for proc in psutil.process_iter(["uids", "status"]):
        try:
            uids = proc.info["uids"]
            if uids is None or uid not in (uids.real, uids.effective):
                continue
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                if proc.ppid() == os.getpid():
                    os.waitpid(proc.pid, os.WNOHANG)  # our own child (the kernel, the cluster host): reap it
                continue
            found.append(proc)
        except (psutil.Error, ChildProcessError):
            continue
    return found


class Sandbox:
    """One submission's throw-away folder and user ids. Use as a context manager; :meth:`close` kills and removes."""

    def __init__(self, limits: Limits | None = None, *, switch_user: bool | None = None,
                 hidden: Iterable[str | os.PathLike] = (), parent: str | os.PathLike | None = None) -> None:
        self.limits = limits or Limits()
        # Folders the submission must not see at all (the course folder, the grader's home), whatever
        # their permissions: covered by empty ones in the sandbox's own mount namespace (see jail.py).
        self.hidden = sorted({Path(p).resolve() for p in [*hidden, Path.home()]})
        # Files read as empty in the sandbox: the grader's reference checks (and their bytecode).
        self.blanked = _reference_files()
        self.switch_user = can_switch_user() if switch_user is None else switch_user
        if self.switch_user and not can_switch_user():
            raise PermissionError("running submissions as another user needs root (POSIX); run the grader as "
                                  "root or pass switch_user=False")
        with _SLOT_LOCK:
            slot = next(_SLOTS) % 16
        base = UID_BASE + 2 * (os.getpid() * 16 + slot)
        self.kernel_uid, self.cluster_uid = (base, base + 1) if self.switch_user else (os.getuid(), os.getuid())
        self.gid = base if self.switch_user else os.getgid()
        self.root = Path(tempfile.mkdtemp(prefix="plsim-grade-", dir=parent))
        self.home = self.root / "home"
        self.cluster_dir = self.root / "cluster"
        self.closed = False
        if self.switch_user:
            self.kill()  # leftovers of a crashed grader that had the same pid: not ours to keep
        os.chmod(self.root, 0o711)
        for folder, uid in ((self.home, self.kernel_uid), (self.cluster_dir, self.cluster_uid)):
            folder.mkdir(mode=0o700)
            (folder / "tmp").mkdir(mode=0o700)
            os.chown(folder, uid, self.gid)
            os.chown(folder / "tmp", uid, self.gid)

    # -- files ---------------------------------------------------------------------------------------------

    def add_files(self, files: Iterable[tuple[Path, str]]) -> None:
        """Copy ``(source, relative name)`` pairs into the kernel's folder, owned by the kernel's user."""
        for source, name in files:
            target = (self.home / name).resolve()
            if not target.is_relative_to(self.home):
                raise ValueError(f"{name!r} would land outside the sandbox")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            for path in [target, *[p for p in target.parents if p.is_relative_to(self.home) and p != self.home]]:
                os.chown(path, self.kernel_uid, self.gid)

    def write_private(self, name: str, text: str, *, owner: int | None = None, mode: int = 0o644) -> Path:
        """A file in ``root`` (which the sandbox users cannot list or change), readable as ``mode`` says."""
        path = self.root / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        if owner is not None:
            os.chown(path, owner, self.gid)
        os.chmod(path, mode)
        return path

    # -- processes -----------------------------------------------------------------------------------------

    def environment(self, uid: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A clean environment for a process of this sandbox (the grader's own variables stay out)."""
        home = self.home if uid == self.kernel_uid else self.cluster_dir
        env = {key: os.environ[key] for key in PASS_ENV if key in os.environ}
        path = os.pathsep.join(dict.fromkeys([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin",
                                              "/bin"]))
        env.update({"PATH": path, "HOME": str(home), "USER": "plsim-sandbox", "LOGNAME": "plsim-sandbox",
                    "TMPDIR": str(home / "tmp"), "MPLCONFIGDIR": str(home / "tmp"), "MPLBACKEND": "agg",
                    "IPYTHONDIR": str(home / ".ipython"), "JUPYTER_RUNTIME_DIR": str(home / "tmp"),
                    "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
                    "DASK_TEMPORARY_DIRECTORY": str(home / "tmp"), "DASK_DISTRIBUTED__WORKER__DAEMON": "False"})
        env.update(extra or {})
        return env

    def command(self, uid: int, command: list[str]) -> list[str]:
        """``command`` started through :mod:`plsim.grading.jail` as ``uid``: hidden folders, limits, no privileges.

        Without root the command runs as is (the grader's user), with only the resource limits.
        """
        if not self.switch_user:
            return list(command)
        jail = [sys.executable, "-m", "plsim.grading.jail", "--uid", str(uid), "--gid", str(self.gid),
                "--limits", json.dumps(dataclasses.asdict(self.limits)), "--staging", str(self._staging())]
        for path in self.hidden:
            jail += ["--hide", str(path)]
        for path in self.blanked:
            jail += ["--blank", str(path)]
        for path in _python_installation():
            if any(path.is_relative_to(h) for h in self.hidden) and not any(h.is_relative_to(path)
                                                                          for h in self.hidden):
                jail += ["--keep", str(path)]
        return jail + ["--", *command]

    def check(self) -> None:
        """Start a trivial process through the jail; RuntimeError with the jail's reason if it refuses."""
        if not self.switch_user:
            return
        import subprocess
        uid = self.kernel_uid
        run = subprocess.run(self.command(uid, [sys.executable, "-c", "pass"]), env=self.environment(uid),
                             capture_output=True, text=True, timeout=60, **self.popen_kwargs(uid))
        if run.returncode != 0:
            raise RuntimeError(f"the sandbox cannot start a process: {run.stderr.strip()[-2000:]}")

    def _staging(self) -> Path:
        staging = self.root / f"staging-{next(_SLOTS)}"
        staging.mkdir(mode=0o700)
        return staging

    def popen_kwargs(self, uid: int) -> dict:
        """``subprocess.Popen`` arguments for a process of this sandbox (its own session, its folder)."""
        folder = self.home if uid == self.kernel_uid else self.cluster_dir
        kwargs: dict = {"start_new_session": True, "cwd": str(folder)}
        if not self.switch_user:
            limits = self.limits
            kwargs["preexec_fn"] = lambda: (limits.apply(), _no_new_privileges())
        return kwargs

    def cpu_seconds(self, uid: int) -> float | None:
        """CPU time (user + system, with reaped children) of the live processes of ``uid``; None without own uids."""
        if not self.switch_user:
            return None
        total = 0.0
        for proc in processes_of(uid):
            try:
                t = proc.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                continue
        return total

    def kill(self, uids: Iterable[int] | None = None, *, rounds: int = 50) -> int:
        """SIGKILL every process of the sandbox's users (or of ``uids``) until none is left; returns how many."""
        if not self.switch_user:
            return 0  # as the grader's own user there is no telling its processes apart: see Sandbox.processes
        uids = list(uids) if uids is not None else [self.kernel_uid, self.cluster_uid]
        killed = 0
        for _ in range(rounds):
            procs = [p for uid in uids for p in processes_of(uid)]
            if not procs:
                return killed
            for proc in procs:
                try:
                    proc.send_signal(signal.SIGKILL)
                    killed += 1
                except psutil.Error:
                    pass
            psutil.wait_procs(procs, timeout=1)
        left = [p.pid for uid in uids for p in processes_of(uid)]
        if left:
            raise RuntimeError(f"processes {left} of the sandbox survived {rounds} rounds of SIGKILL")
        return killed

    def close(self) -> None:
        """Kill everything the submission started and remove its files (also those it left in /tmp)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.kill()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            if self.switch_user:
                _remove_files_of({self.kernel_uid, self.cluster_uid})

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reference_files() -> list[Path]:
    """``plsim/grading/*_checks.py`` and their cached bytecode: the references a kernel must not import."""
    folder = Path(__file__).resolve().parent
    files = sorted(folder.glob("*_checks.py"))
    return files + sorted(p for f in files for p in (folder / "__pycache__").glob(f"{f.stem}.*.pyc"))


def _python_installation() -> list[Path]:
    """The folders this interpreter and its packages live in (bound back if they lie in a hidden folder)."""
    import site
    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable)),
             *site.getsitepackages()}
    return sorted({Path(p).resolve() for p in paths if p and os.path.isdir(p)})


def _remove_files_of(uids: set[int], folders: Iterable[str] = ("/tmp", "/var/tmp", "/dev/shm")) -> None:
    """Remove what the sandbox users left in the world-writable folders (a later grading must not find it)."""
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid in uids:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
            except OSError:
                continue

"""The sandbox a submission runs in: its own user ids, hidden folders, limits, and nothing left behind.

These start real processes through :meth:`plsim.grading.sandbox.Sandbox.command` (``plsim.grading.jail``), as the
grader starts the kernel and the Dask cluster of a submission; they need root (the grader's sandbox users).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from plsim.grading.sandbox import Limits, Sandbox, can_switch_user, processes_of

needs_root = pytest.mark.skipif(not can_switch_user(), reason="running as another user needs root")

PROBE = r"""
import json, os, resource, sys
out = {"uid": os.getuid(), "euid": os.geteuid(), "groups": os.getgroups(), "cwd": os.getcwd(),
       "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0], "cpu": resource.getrlimit(resource.RLIMIT_CPU)[0]}
def attempt(what, fn):
    try:
        fn()
        out[what] = "ok"
    except Exception as exc:
        out[what] = type(exc).__name__
attempt("read_course", lambda: os.listdir(sys.argv[1]))
attempt("read_secret", lambda: open(os.path.join(sys.argv[1], "secret.txt")).read())
attempt("write_course", lambda: open(os.path.join(sys.argv[1], "new.txt"), "w").write("x"))
attempt("import_checks", lambda: __import__("plsim.grading.a2_checks"))
attempt("import_numpy", lambda: __import__("numpy"))
attempt("write_home", lambda: open(os.path.expanduser("~/mine.txt"), "w").write("x"))
print(json.dumps(out))
"""


def _run(box: Sandbox, code: str, *args: str) -> dict:
    uid = box.kernel_uid
    run = subprocess.run(box.command(uid, [sys.executable, "-c", code, *args]), env=box.environment(uid),
                         capture_output=True, text=True, timeout=120, **box.popen_kwargs(uid))
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture
def open_course():
    """A course folder everyone could read and write (its parents too): hiding must not rely on permissions."""
    parent = Path(tempfile.mkdtemp(prefix="plsim-open-course-", dir="/tmp"))
    course = parent / "course"
    course.mkdir()
    (course / "secret.txt").write_text("the solutions")
    os.chmod(parent, 0o755)
    os.chmod(course, 0o777)
    os.chmod(course / "secret.txt", 0o666)
    yield course
    shutil.rmtree(parent)


@needs_root
def test_a_submission_runs_as_a_user_of_its_own_and_cannot_see_the_course(open_course):
    course = open_course
    with Sandbox(Limits(cpu_seconds=60, processes=300), hidden=[course]) as box:
        got = _run(box, PROBE, str(course))
        assert got["uid"] == got["euid"] == box.kernel_uid and got["uid"] >= 2_000_000_000
        assert got["groups"] == [] and Path(got["cwd"]) == box.home
        assert (got["nproc"], got["cpu"]) == (300, 60)
        assert got["read_course"] == "ok" and got["read_secret"] == "FileNotFoundError"  # an empty folder
        assert got["write_course"] in ("OSError", "PermissionError")
        assert got["import_checks"] == "ModuleNotFoundError"  # the grader's references read as empty
        assert got["import_numpy"] == "ok" and got["write_home"] == "ok"
    assert (course / "secret.txt").read_text() == "the solutions" and not (course / "new.txt").exists()


@needs_root
def test_nothing_it_starts_outlives_the_sandbox(tmp_path):
    code = r"""
import os, subprocess, sys, time
marker = sys.argv[1]
loop = "import time\nwhile True: time.sleep(0.05)"
subprocess.Popen([sys.executable, "-c", loop], start_new_session=True, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
if os.fork() == 0:                      # a double fork: its parent exits, it is nobody's child
    os.setsid()
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execv(sys.executable, [sys.executable, "-c", loop])
    os._exit(0)
open("/tmp/" + marker, "w").write("left behind")
print("{}")
"""
    marker = f"plsim-sandbox-test-{os.getpid()}"
    box = Sandbox()
    try:
        _run(box, code, marker)
        deadline = time.monotonic() + 10
        while len(processes_of(box.kernel_uid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(processes_of(box.kernel_uid)) == 2
        assert (Path("/tmp") / marker).exists()
    finally:
        box.close()
    assert processes_of(box.kernel_uid) == []
    assert not (Path("/tmp") / marker).exists() and not box.root.exists()


def test_without_root_the_submission_runs_as_the_grader_with_its_limits(tmp_path):
    with Sandbox(Limits(cpu_seconds=77), switch_user=False) as box:
        assert box.command(box.kernel_uid, ["x"]) == ["x"]  # no jail
        code = "import resource; print(resource.getrlimit(resource.RLIMIT_CPU)[0])"
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ,
                             **box.popen_kwargs(box.kernel_uid))
        assert run.stdout.strip() == "77"


@needs_root
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) drops a capability for the test")
def test_without_mount_namespaces_the_jail_relies_on_permissions_or_refuses(open_course):
    """In a default Docker container (no CAP_SYS_ADMIN) nothing can be hidden by mounting: the jail then starts
    the submission only if the course folder is unreadable to its user anyway."""
    jail = ["setpriv", "--bounding-set", "-sys_admin", sys.executable, "-m", "plsim.grading.jail",
            "--uid", "2100000000", "--gid", "2100000000", "--hide", str(open_course), "--", "/usr/bin/id", "-u"]
    refused = subprocess.run(jail, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 3 and "chmod o-rwx" in refused.stderr and str(open_course) in refused.stderr
    os.chmod(open_course, 0o700)
    started = subprocess.run(jail, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0 and started.stdout.strip() == "2100000000"


def test_grading_either_edition_hides_both_editions_assignment_sources(tmp_path):
    """The French course (notebooks/fr/assignments) holds solutions too: no submission may read either."""
    from plsim.grading.execute import SandboxedExecute

    root = Path(__file__).resolve().parents[1] / "notebooks"
    hidden = SandboxedExecute()._hidden_paths({"nbgrader": {}, "metadata": {"path": str(tmp_path)}})
    for source in (root / "assignments" / "source", root / "fr" / "assignments" / "source"):
        assert source.is_dir() and source in hidden, (source, hidden)

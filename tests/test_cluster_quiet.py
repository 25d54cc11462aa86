"""Quiet, clear failures: no Dask 'Compute Failed' block for an error the caller gets anyway, and a
script without the ``__main__`` guard is told what to add (issue: survive the classroom)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import psutil
import pytest

pytestmark = pytest.mark.slow


def _run_script(tmp_path, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "student_script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180,
                          cwd=tmp_path)


def _survivors(tmp_path) -> list[psutil.Process]:
    left = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            if proc.info["cwd"] == str(tmp_path) and proc.pid != psutil.Process().pid:
                left.append(proc)
        except psutil.Error:
            pass
    return left


def test_a_failing_task_reaches_the_caller_without_a_compute_failed_block(tmp_path):
    done = _run_script(tmp_path, """
        import plsim

        def boom(x):
            raise ValueError("member 3 could not be fitted")

        if __name__ == "__main__":
            with plsim.start_cluster(n_workers=1, quiet=True) as client:
                try:
                    client.submit(boom, 1).result()
                except ValueError as exc:
                    print("caught:", exc)
    """)
    assert done.returncode == 0, done.stderr
    assert "caught: member 3 could not be fitted" in done.stdout
    assert "Compute Failed" not in done.stderr


def test_a_script_without_the_main_guard_is_told_what_to_add(tmp_path):
    done = _run_script(tmp_path, """
        import plsim

        client = plsim.start_cluster(n_workers=1, quiet=True)
        print("never reached")
    """)
    assert done.returncode != 0
    assert "never reached" not in done.stdout
    last = done.stderr.strip().splitlines()
    # The last words the student reads name the fix.
    assert any('if __name__ == "__main__":' in line for line in last[-8:]), done.stderr[-2000:]
    assert "Notebooks need no guard" in last[-1]
    assert not _survivors(tmp_path)

"""``python -m plsim.grading.jail [options] -- COMMAND...``: start COMMAND as a sandbox user, with folders hidden.

Run as root by the grader (:class:`plsim.grading.sandbox.Sandbox`) in front of the kernel and the Dask cluster
of a submission. In this order it

1. enters a mount namespace of its own (Linux ``unshare(CLONE_NEWNS)``; nothing it mounts is seen outside);
2. mounts an empty read-only folder over every ``--hide`` path (the course folder: ``source/``, the gradebook,
   the other submissions; the grader's home), binding back any ``--keep`` path that lies inside one (the
   Python installation when it lives in ``/root``, as pyenv puts it), so hiding does not depend on the
   course folder's permissions; and makes every ``--blank`` file read as empty (the grader's reference
   checks, ``plsim/grading/*_checks.py`` and their bytecode);
3. sets the resource limits (``--limits`` JSON of :class:`~plsim.grading.sandbox.Limits`), drops every
   supplementary group, switches to ``--gid`` and ``--uid`` (real, effective and saved), sets no_new_privs so
   no setuid program can give a privilege back,
4. and replaces itself by COMMAND (same pid: the kernel manager's process is COMMAND's).

Where no mount namespace may be made (no CAP_SYS_ADMIN, as in a default Docker container) step 2 is skipped, and
the jail refuses to start COMMAND (exit status 3, the reason on stderr) if the sandbox user could read a ``--hide``
path: then only permissions protect it, and they must.

Nothing here imports more than the standard library (it runs before every kernel start).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import sys
from pathlib import Path

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _call(name: str, *args: object) -> None:
    if getattr(_libc, name)(*args) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{name}{tuple(a.decode() if isinstance(a, bytes) else a for a in args)}: "
                             f"{os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    _call("mount", enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))


def hide(paths: list[Path], keep: list[Path], staging: Path) -> None:
    """In a new mount namespace: empty read-only folders over ``paths``, with ``keep`` paths bound back."""
    _call("unshare", CLONE_NEWNS)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for i, hidden in enumerate(paths):
        if not hidden.is_dir():
            continue
        inside = [k for k in keep if k != hidden and k.is_relative_to(hidden) and k.exists()]
        staged = []
        for j, kept in enumerate(inside):  # park the kept trees outside before covering their parent
            park = staging / f"keep-{i}-{j}"
            park.mkdir(mode=0o700)
            _mount(str(kept), str(park), None, MS_BIND | MS_REC)
            staged.append((park, kept))
        _mount("tmpfs", str(hidden), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
        for park, kept in staged:
            target = hidden / kept.relative_to(hidden)
            target.mkdir(parents=True, exist_ok=True)
            _mount(str(park), str(target), None, MS_BIND | MS_REC)
            _call("umount2", str(park).encode(), MNT_DETACH)
        _mount(None, str(hidden), None, MS_BIND | MS_RDONLY | 0x20)  # MS_REMOUNT(32): the empty folder read-only


def blank(files: list[Path]) -> None:
    """Make each file read as empty (``/dev/null`` bound over it) in this mount namespace."""
    for path in files:
        if path.is_file():
            _mount("/dev/null", str(path), None, MS_BIND)


def drop(uid: int, gid: int, limits: dict) -> None:
    """Limits, then no groups, then the sandbox gid and uid for good, then no new privileges."""
    import resource
    names = {"cpu_seconds": resource.RLIMIT_CPU, "memory_bytes": resource.RLIMIT_AS,
             "processes": resource.RLIMIT_NPROC, "file_bytes": resource.RLIMIT_FSIZE,
             "open_files": resource.RLIMIT_NOFILE}
    for key, which in names.items():
        if key in limits:
            value = int(limits[key])
            _soft, hard = resource.getrlimit(which)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise OSError(f"could not switch to uid {uid}")
    _call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        print("usage: python -m plsim.grading.jail [options] -- COMMAND...", file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m plsim.grading.jail")
    parser.add_argument("--uid", type=int, required=True)
    parser.add_argument("--gid", type=int, required=True)
    parser.add_argument("--hide", action="append", default=[], help="folder to cover with an empty one")
    parser.add_argument("--keep", action="append", default=[], help="folder inside a hidden one to bind back")
    parser.add_argument("--blank", action="append", default=[], help="file to make read as empty")
    parser.add_argument("--staging", help="an empty folder for parking kept trees (needed with --keep)")
    parser.add_argument("--limits", default="{}", help="JSON of resource limits")
    parser.add_argument("--cwd")
    args = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    if not command:
        parser.error("no command after --")
    hidden = [Path(p) for p in args.hide]
    mounted = True
    if hidden or args.blank:
        try:
            hide(hidden, [Path(p) for p in args.keep], Path(args.staging or "/nonexistent"))
            blank([Path(p) for p in args.blank])
        except PermissionError:  # no CAP_SYS_ADMIN (a default Docker container): rely on permissions instead
            mounted = False
    drop(args.uid, args.gid, json.loads(args.limits))
    if not mounted:
        readable = [str(p) for p in hidden if p.exists() and (os.access(p, os.R_OK) or os.access(p, os.X_OK))]
        if readable:
            print(f"plsim.grading.jail: this system allows no mount namespace (CAP_SYS_ADMIN), so the sandbox "
                  f"cannot hide {', '.join(readable)}, which its user can read: make them unreadable to other "
                  "users (chmod o-rwx) or give the grader CAP_SYS_ADMIN", file=sys.stderr)
            return 3
    if args.cwd:
        os.chdir(args.cwd)
    os.execvp(command[0], command)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())

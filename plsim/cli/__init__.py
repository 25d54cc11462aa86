"""The ``plsim`` command (also ``python -m plsim``): the command-line layer.

Each subcommand lives in its own module of this package (:mod:`plsim.cli.info`,
:mod:`plsim.cli.bench`, :mod:`plsim.cli.assign`) exposing ``add_arguments(parser)``
and ``run(args) -> int``; it is imported only when chosen, so ``plsim --help``
stays instant. The work itself is done by the library below this layer
(``plsim bench`` runs :func:`plsim.benchmark.run_bench`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from collections.abc import Collection
from pathlib import Path

__all__ = ["main", "build_parser", "check_output_file", "check_output_location", "EXIT_STATUS"]

# subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "info": ("plsim.cli.info", "versions, CPUs and memory seen, and whether a cluster starts"),
    "bench": ("plsim.cli.bench", "measure sequential versus parallel ensemble training (the main job)"),
    "assign": ("plsim.cli.assign", "release and grade the assignments with nbgrader (needs the instructor extra)"),
}


# What main() returns; shown under "exit status" in `plsim --help`.
EXIT_STATUS = """exit status:
  0    success
  1    the work ran but failed: `plsim info` could not start or reach a cluster, or a file
       could not be written after the work was done (one line on stderr)
  2    usage error: a bad option or value, an output path that cannot be written (checked
       before any work starts), or a `plsim bench --address` no scheduler answers at
  130  interrupted (Ctrl-C)"""


def build_parser() -> argparse.ArgumentParser:
    from plsim import __version__

    parser = argparse.ArgumentParser(
        prog="plsim",
        description="Parallel learning on a real Dask cluster: ensembles, federated learning, "
        "distributed training.",
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"plsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.set_defaults(_module=module_name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Find the subcommand first, then let its module add its own arguments.
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in SUBCOMMANDS:
        module = importlib.import_module(SUBCOMMANDS[command][0])
        sub_parser = parser._subparsers._group_actions[0].choices[command]  # noqa: SLF001
        module.add_arguments(sub_parser)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, ConnectionError) as exc:
        # Bad input: one clear line, no traceback.
        print(f"plsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # The work ran, then the system refused (disk full, a file vanished): one line, no traceback.
        print(f"plsim {args.command}: error: {exc}", file=sys.stderr)
        return 1


def _probe_write(option: str, value: str, target: Path) -> None:
    """Raise ValueError unless ``target`` (an existing file, or a folder to create a file in) can be written."""
    try:
        if target.is_dir():
            with tempfile.TemporaryFile(dir=target):
                pass
        else:
            with target.open("ab"):  # appends nothing: an existing file is left as it was
                pass
    except OSError as exc:
        kind = "folder" if target.is_dir() else "file"
        raise ValueError(f"{option} {value!r}: the {kind} {str(target)!r} cannot be written "
                         f"({exc.strerror or exc}); give a path you may write to") from None


def check_output_file(option: str, value: str, *, default_name: str,
                      formats: Collection[str] | None = None, format_owner: str = "") -> Path:
    """The file an output option such as ``--plot`` will write, checked before any work starts.

    Parameters
    ----------
    option : str
        The option's name (``"--plot"``), quoted in the error.
    value : str
        What the user gave: a file path, or an existing folder to write ``default_name`` into.
    default_name : str
        The file written inside ``value`` when ``value`` is an existing folder.
    formats : collection of str, optional
        The allowed extensions without the dot (``{"png", "pdf"}``); ``None`` allows any.
    format_owner : str
        Who can write those formats (``"matplotlib"``), for the error message.

    Returns
    -------
    Path
        The file that will be written (the real one, to report after writing).

    Raises
    ------
    ValueError
        The folder does not exist or cannot be written, the file cannot be written, or the
        extension is not allowed; the message names the option, the value and what is allowed.
        :func:`main` prints it as one line and returns exit status 2.
    """
    path = Path(value).expanduser()
    if path.is_dir():
        path = path / default_name
    folder = path.parent
    if not folder.exists():
        raise ValueError(f"{option} {value!r}: the folder {str(folder)!r} does not exist; "
                         "give a file in an existing folder, or an existing folder")
    if not folder.is_dir():
        raise ValueError(f"{option} {value!r}: {str(folder)!r} is a file, not a folder")
    if formats is not None and path.suffix.lower().lstrip(".") not in formats:
        got = f"the extension {path.suffix!r}" if path.suffix else "no extension"
        owner = f" {format_owner}" if format_owner else ""
        raise ValueError(f"{option} {value!r}: {got} is not a format{owner} can write; end the file name in one of "
                         f"{', '.join('.' + f for f in sorted(formats))}, or give an existing folder")
    _probe_write(option, value, path if path.exists() else folder)
    return path


def check_output_location(option: str, value: str) -> Path:
    """A path that will be created (with any missing parent folders), checked before any work starts.

    The nearest part of ``value`` that exists must be a folder (or the file itself) that can be
    written; raises ValueError like :func:`check_output_file`.
    """
    path = Path(value).expanduser()
    existing = next(p for p in (path, *path.absolute().parents) if p.exists())
    if existing != path and not existing.is_dir():
        raise ValueError(f"{option} {value!r}: {str(existing)!r} is a file, so no folder can be made inside it")
    _probe_write(option, value, existing)
    return path

"""The ``plsim`` command (also ``python -m plsim``).

Each subcommand lives in its own module exposing ``add_arguments(parser)``
and ``run(args) -> int``; it is imported only when chosen, so ``plsim --help``
stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "build_parser"]

# subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "info": ("plsim.info", "versions, CPUs and memory seen, and whether a cluster starts"),
    "bench": ("plsim.bench", "measure sequential versus parallel ensemble training (the main job)"),
    "assign": ("plsim.assign", "release student copies of the assignments and grade submissions"),
}


def build_parser() -> argparse.ArgumentParser:
    from plsim import __version__

    parser = argparse.ArgumentParser(
        prog="plsim",
        description="Parallel learning on a real Dask cluster: ensembles, federated learning, "
        "distributed training.",
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

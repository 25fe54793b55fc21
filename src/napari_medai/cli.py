"""``napari-medai`` command line: a thin argparse layer over the core.

Each subcommand lives in ``napari_medai.commands.<module>`` and exposes ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Errors the core raises on purpose
(:class:`~napari_medai.core.errors.MedaiError`) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "info",
    "demo",
    "evaluate",
    "train",
    "brain_tumour",
    "stroke",
    "cac",
    "cac_agreement",
    "simulate_low_dose",
    "denoise",
    "alzheimer",
    "batch",
    "deidentify",
    "classify",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-medai",
        description="Run, train and audit medical-imaging AI; measure it against expert labels.",
    )
    parser.add_argument("--version", action="version", version=f"napari-medai {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for modname in COMMAND_MODULES:
        mod = importlib.import_module(f"napari_medai.commands.{modname}")
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .core.errors import MedaiError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except MedaiError as exc:
        print(f"napari-medai {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"napari-medai {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `napari-medai info | head -1`: the reader stopped listening
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The `poet` command: parse arguments, call the Python API, print. Nothing else lives here."""

from __future__ import annotations

import argparse
import sys

from .errors import PoetError


def add_common(p: argparse.ArgumentParser) -> None:
    """Options every command understands: where data, cache and books come from."""
    p.add_argument("--root", help="data root for models (default: $POET_HOME or the user data dir)")
    p.add_argument("--cache", help="cache dir for catalog and books (default: $POET_CACHE or the user cache dir)")
    p.add_argument(
        "--mirror",
        help="Gutenberg source: URL or local directory (default: $POET_GUTENBERG_URL or https://www.gutenberg.org/)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poet",
        description="Train character-level LSTMs on Project Gutenberg books, generate text, "
        "and see which passages were copied verbatim from which book.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


# Each entry adds one subcommand (with `set_defaults(func=...)`); kept in the order `poet --help` lists them.
COMMANDS: list = []


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except PoetError as e:
        print(f"poet: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("poet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `poet show 1342 | head` closes the pipe early; that is not an error.
        sys.stderr.close()
        return 0

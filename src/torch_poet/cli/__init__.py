"""The `poet` command: parse arguments, call the Python API, print. Nothing else lives here: each module
holds a few commands (`register_*` adds one to the parser, `cmd_*` runs it)."""

from __future__ import annotations

import argparse
import errno
import os
import sys
import warnings

from ..config import DEFAULT_MODEL, DEFAULT_PROJECT
from ..errors import PoetError, UnknownCharacters, say
from .args import Parser, add_command, number
from .library import register_download, register_search, register_show
from .dialog import register_chat
from .text import register_generate, register_highlight
from .train import register_models, register_plot, register_train, without_option

__all__ = ["main", "build_parser", "without_option"]


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings reach users as one line each, without source locations."""
    print(f"poet: warning: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="poet",
        description="Train character-level LSTMs on Project Gutenberg books, generate text, "
        "and see which passages were copied verbatim from which book.",
        epilog="a five-minute tour:\n  poet search --author austen --language en\n"
        "  poet train --project austen --author 'jane austen' --minutes 5\n"
        "  poet generate --project austen --temperature 0.6 0.8\n  poet chat --project austen\n\n"
        "`poet COMMAND --help` shows each command's options and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


def cmd_serve(args: argparse.Namespace) -> int:
    from ..serve import serve

    serve(args.host, args.port, args.root, args.cache, args.mirror, args.project, args.model, args.allow_training)
    return 0


def register_serve(sub) -> None:
    p = add_command(
        sub,
        "serve",
        cmd_serve,
        help="a local web app: write, check and chat with highlighted quotes, train and follow training, search",
        description="Serve a web page (and a JSON API under /api/, described at /openapi.json) to generate and chat\n"
        "with your models, their quotes highlighted as the text streams in, check any text for quotes, start,\n"
        "follow, compare and stop training, and search the catalog. Works offline. There is no authentication:\n"
        "it listens on 127.0.0.1 unless --host says otherwise, and then the page may train only with\n"
        "--allow-training.",
        epilog="examples:\n  poet serve                      # then open http://127.0.0.1:8000/\n"
        "  poet serve --project austen --model big --port 8080\n"
        "  poet serve --host 0.0.0.0       # reachable from other machines: anyone there can use it\n"
        "  poet serve --host 0.0.0.0 --allow-training   # ... and start training processes here",
    )
    p.add_argument("--project", default=None, help=f"the model the page starts with (default: {DEFAULT_PROJECT} or the "
                   "first)")  # fmt: skip
    p.add_argument("--model", default=None, help=f"model name within --project (default: {DEFAULT_MODEL})")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=number(int, "--port", ge=0, le=65535), default=8000,
                   help="port to listen on; 0 picks a free one (default: 8000)")
    p.add_argument("--allow-training", action="store_true", help="off loopback, let the page start and stop "
                   "`poet train` processes on this machine (always allowed on 127.0.0.1)")  # fmt: skip


# Each entry adds one subcommand (with `add_command`); kept in the order `poet --help` lists them.
COMMANDS: list = [register_search, register_download, register_show, register_train, register_plot, register_models]
COMMANDS += [register_generate, register_highlight, register_chat, register_serve]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.command == "train" and not {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(os.environ):
        # Idle OpenMP threads sleep instead of spinning: on cores shared with other work, spinning threads
        # made a training step several times slower (BENCHMARKS.md). Read when torch loads, so before that.
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    warnings.showwarning = show_warning
    speaks = os.environ.get("RANK", "0") == "0"  # under torchrun, rank 0 speaks for all
    try:
        if sys.stdout is None:
            raise PoetError("standard output is closed: send it somewhere, e.g. > out.txt (or > /dev/null)")
        code = args.func(args) or 0
        sys.stdout.flush()  # a full disk shows here, while there is still time to say so
        return code
    except PoetError as e:
        if isinstance(e, UnknownCharacters):
            e = e.said("add --skip-unknown")
        if "POET_LAUNCHED" in os.environ:  # a worker of `poet train --nproc`: its launcher says it, once
            from ..train.workers import hand_over

            if hand_over(str(e)):
                return 2
        if speaks:
            say(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        if speaks:
            say("interrupted")
        return 130
    except BrokenPipeError:  # `poet show 1342 | head` closes the pipe early; that is not an error
        discard_output()
        return 0
    except OSError as e:  # files are written by atomic_write, which says what fails: this is the output
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
            raise
        discard_output()
        say(f"error: cannot write the output ({e.strerror}): free some space where it goes, or send it elsewhere")
        return 1


def discard_output() -> None:
    """What is left for standard output goes to /dev/null: the interpreter's last flush has nowhere to fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)

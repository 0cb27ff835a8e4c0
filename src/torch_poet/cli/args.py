"""What the commands share: the common flags, flags made from the config dataclasses, loading a model,
writing a file."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from ..config import DEFAULT_MODEL, DEFAULT_PROJECT, MIN_QUOTE, checked, kinds
from ..errors import PoetError, say


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors are one line as every other error of the command is."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"^argument (\S+): (?=\1 )", "", message)  # "--port must be ..." says the flag itself
        say(f"error: {message} (see `{self.prog} --help`)")
        sys.exit(2)


def number(kind: type, flag: str, **bounds: float) -> Callable[[str], Any]:
    """An argparse type for a number outside the configs, checked by their rule (`config.checked`)."""

    def parse(text: str) -> Any:
        try:
            return checked(kind(text), kind, flag, **bounds)
        except (ValueError, PoetError) as e:
            raise argparse.ArgumentTypeError(str(e) if isinstance(e, PoetError) else f"not a number: {text!r}") from None

    parse.__name__ = kind.__name__  # what argparse and its readers call the type
    return parse


def add_command(sub, name: str, func, **texts) -> argparse.ArgumentParser:
    """A subcommand that runs `func(args)`, its help texts shown as written, with the common options."""
    p = sub.add_parser(name, formatter_class=argparse.RawDescriptionHelpFormatter, **texts)
    add_common(p)
    p.set_defaults(func=func)
    return p


def add_common(p: argparse.ArgumentParser) -> None:
    """Options every command understands: where data, cache and books come from."""
    p.add_argument("--root", help="data root for models (default: $POET_HOME or the user data dir)")
    p.add_argument("--cache", help="cache dir for catalog and books (default: $POET_CACHE or the user cache dir)")
    p.add_argument(
        "--mirror",
        help="Gutenberg source: URL or local directory (default: $POET_GUTENBERG_URL or https://www.gutenberg.org/)",
    )


def add_model_args(p: argparse.ArgumentParser, weights: bool = False) -> None:
    """Which model a command works on: $POET_HOME/projects/<project>/<model>; with `weights`, which of its
    snapshots and on what device."""
    p.add_argument("--project", default=DEFAULT_PROJECT, help=f"project name (default: {DEFAULT_PROJECT})")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name within the project (default: {DEFAULT_MODEL})")
    if weights:
        p.add_argument("--snapshot", choices=("best", "last"), default="best", help="which snapshot (default: best)")
        p.add_argument("--device", default=None, help="cpu, cuda, cuda:1... (default: cuda if available, else cpu)")


def add_dataclass_args(
    p: argparse.ArgumentParser, cls, skip: tuple[str, ...] = (), sized: tuple[str, ...] = (), many: tuple[str, ...] = ()
) -> None:
    """One `--field-name` flag per config field (default None = keep the saved or default value); the
    `sized` fields default to what the sizing rule picks for a new model, the `many` fields take one or more
    values. cls may be an instance, whose values are then the defaults shown."""
    kind_of = kinds(cls if isinstance(cls, type) else type(cls))
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        kind = kind_of[f.name]
        default = "sized to the device and --minutes" if f.name in sized else getattr(cls, f.name, f.default)
        if default is None and f.metadata["unset"]:
            default = f.metadata["unset"]  # what leaving it unset means: "until stopped", "random"
        flag = "--" + f.name.replace("_", "-")
        text = f.metadata["help"]
        if kind.many:
            shown = " ".join(map(str, default))
            p.add_argument(flag, type=kind.base, nargs="+", default=None, help=f"{text} (default: {shown})")
        elif kind.base is bool:
            p.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=f"{text} (default: {default})"
            )
        else:
            shown = "" if default is None or "default" in text else f" (default: {default})"
            nargs = {"nargs": "+", "help": f"{text}; one or more{shown}"} if f.name in many else {"help": text + shown}
            p.add_argument(flag, type=kind.base, default=None, **nargs)


def overrides(args: argparse.Namespace, cls) -> dict:
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if getattr(args, f.name, None) is not None}


def add_library_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("library (any mix; none = the model's saved library, or the default women_writers)")
    g.add_argument("--author", action="append", default=[], help="Gutenberg search by author (repeatable, OR'ed)")
    g.add_argument("--title", action="append", default=[], help="... by title")
    g.add_argument("--language", action="append", default=[], help="... by language name or code")
    g.add_argument("--subject", action="append", default=[], help="... by subject")
    g.add_argument("--book", action="append", type=int, default=[], dest="books", help="a Gutenberg id (repeatable)")
    g.add_argument("--file", action="append", default=[], dest="files", help="a local UTF-8 text file (repeatable)")
    g.add_argument("--dir", action="append", default=[], dest="dirs", help="a folder of .txt files (repeatable)")
    g.add_argument("--all-editions", action="store_true", help="keep every edition a search finds of one work")


def add_min_quote(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-quote", type=number(int, "--min-quote", **MIN_QUOTE), default=None, metavar="N",
                   help="shortest verbatim match counted as a quote (default: the length unseen text reaches by chance)")


def add_output_args(p: argparse.ArgumentParser) -> None:
    add_min_quote(p)
    p.add_argument("--phrases", action="store_true", help="also show shorter matches (common phrases), faintly")
    p.add_argument("--no-color", action="store_true", help="mark quotes «like this»[1] instead of colouring them")
    p.add_argument("--html", metavar="FILE", help="also write the highlighted text as an HTML page (hover for sources)")
    p.add_argument("--json", action="store_true", help="print JSON (text, quotes and their sources) instead")


def load_poet(args: argparse.Namespace, weights: bool = True):
    from ..poet import Poet

    return Poet.load(project=args.project, model=args.model, root=args.root, which=getattr(args, "snapshot", "best"),
                     device=getattr(args, "device", None), source=args.mirror, cache=args.cache, weights=weights)  # fmt: skip


def use_color(args: argparse.Namespace) -> bool:
    from ..render import no_color

    return sys.stdout.isatty() and not args.no_color and not no_color()


def write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise PoetError(f"cannot write {path}: {e.strerror}") from None
    say(f"wrote {path}")

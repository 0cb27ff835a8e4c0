"""`poet chat`: a dialog in the terminal. You type, the model answers with a few sentences continuing your words,
quotes from its books highlighted; the dialog's state is a `chat.Conversation`. Works interactively (line editing
and history through readline where available) and with stdin from a pipe, for scripted sessions."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from typing import TYPE_CHECKING, TextIO

from ..chat import CHAT_SAMPLING, MAX_SENTENCES, SENTENCES, Conversation, check_sentences
from ..config import SampleConfig
from ..errors import PoetError, say
from .args import (
    add_command,
    add_dataclass_args,
    add_min_quote,
    add_model_args,
    load_poet,
    number,
    overrides,
    use_color,
)

if TYPE_CHECKING:  # loaded with the model (torch), not with the parser
    from ..poet import Poet

HELP = """commands:
  bye                leave (Ctrl-D too)
  reset              forget the conversation and start afresh
  temperature=0.7    how adventurous the answers are (0 = always the likeliest character)
  sentences=3        how many sentences an answer has at most
  help               this text
anything else is your turn; an empty line lets the poet go on."""

_SETTING = re.compile(r"^\s*(temperature|temp|sentences)\s*[=:]?\s*(\S+)\s*$", re.IGNORECASE)


class Chat:
    """The dialog loop, separated from the terminal for testing: `handle(line)` returns what to print,
    or None to leave."""

    def __init__(
        self,
        poet: Poet,
        conversation: Conversation,
        sentences: int = SENTENCES,
        min_quote: int | None = None,
        color: bool = True,
    ):
        self.poet = poet
        self.conversation = conversation
        self.sentences = check_sentences(sentences)
        self.min_quote = min_quote
        self.color = color
        self.highlighting = True
        self.warning: str | None = None

    def handle(self, line: str) -> str | None:
        words = line.strip()
        command = words.lower()
        if command in ("bye", "exit", "quit", "/bye", "/exit", "/quit"):
            return None
        if command in ("help", "?", "/help"):
            return HELP
        if command in ("reset", "/reset"):
            self.conversation.reset()
            return "(the conversation starts afresh)"
        m = _SETTING.match(words)
        if m and (m.group(1).lower() != "sentences" or m.group(2).isdigit()):
            return self._set(m.group(1).lower(), m.group(2))
        try:
            answer = self.conversation.turn(line.rstrip("\r\n"), self.sentences)
        except PoetError as e:
            return f"poet: {e}"
        return self.render(answer)

    def _set(self, name: str, value: str) -> str:
        try:
            if name.startswith("temp"):
                t = _number(value)
                self.conversation.sampling = dataclasses.replace(self.conversation.sampling, temperature=t)
                return f"(temperature {t:g})"
            n = self.sentences = check_sentences(int(value))
        except PoetError as e:
            return f"poet: {e}"
        return f"(up to {n} sentence{'s' if n > 1 else ''} per answer)"

    def render(self, answer: str) -> str:
        if not self.highlighting or not answer:
            return answer
        try:
            highlighted = self.poet.highlight(answer, self.min_quote)
        except PoetError as e:
            self.highlighting = False
            self.warning = f"warning: quotes will not be highlighted: {e}"
            return answer
        from ..render import ansi_parts

        body, legend = ansi_parts(highlighted.spans, color=self.color)  # the rule was said once, at the start
        if not highlighted.summary.quotes:
            return body
        return body + "\n" + "\n".join("  " + line for line in legend.split("\n"))


def _number(value: str) -> float | str:
    """value as a number where it is one (else as it is, for SampleConfig to refuse by name)."""
    try:
        return float(value)
    except ValueError:
        return value


def repl(
    poet: Poet,
    sampling: SampleConfig = CHAT_SAMPLING,
    sentences: int = SENTENCES,
    min_quote: int | None = None,
    color: bool | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Run a dialog with poet until `bye` or end of input."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty() and stdout.isatty()
    if color is None:
        color = stdout.isatty()
    chat = Chat(poet, Conversation(poet, sampling), sentences, min_quote, color)
    if interactive:
        try:
            import readline  # noqa: F401  (line editing and history for input())
        except ImportError:
            pass
        print(f"Talking with {poet!r}. Type help for commands, bye to leave.", file=stdout, flush=True)
    # build the index before the first turn, so the first answer does not stall (and to warn early)
    try:
        say(poet.index(log=say).rule(min_quote).describe())
    except PoetError as e:
        chat.highlighting = False
        say(f"warning: quotes will not be highlighted: {e}")
    while True:
        try:
            line = _read(stdin, stdout, interactive)
        except KeyboardInterrupt:
            print(file=stdout, flush=True)
            continue
        if line is None:  # end of input
            if interactive:
                print(file=stdout, flush=True)
            return 0
        try:
            reply = chat.handle(line)
        except KeyboardInterrupt:
            print("(interrupted)", file=stdout, flush=True)
            continue
        if chat.warning:
            say(chat.warning)
            chat.warning = None
        if reply is None:
            return 0
        print(reply, file=stdout, flush=True)
        if interactive:
            print(file=stdout, flush=True)


def _read(stdin: TextIO, stdout: TextIO, interactive: bool) -> str | None:
    if interactive and stdin is sys.stdin and stdout is sys.stdout:
        try:
            return input("you> ")
        except EOFError:
            return None
    if interactive:
        stdout.write("you> ")
        stdout.flush()
    line = stdin.readline()
    return None if line == "" else line.rstrip("\n")


def cmd_chat(args: argparse.Namespace) -> int:
    sampling = dataclasses.replace(CHAT_SAMPLING, **overrides(args, SampleConfig))  # refused before the model loads
    if sys.stdin is None:
        raise PoetError("standard input is closed: run it in a terminal, or pipe a script in")
    return repl(load_poet(args), sampling, args.sentences, args.min_quote, color=use_color(args))


def register_chat(sub) -> None:
    p = add_command(
        sub,
        "chat",
        cmd_chat,
        help="talk with a model: it answers with a few sentences continuing your words",
        description="A dialog: you type, the model answers with up to --sentences sentences continuing from your "
        "words, quotes from its books highlighted. Its state carries over between turns. Commands: bye (or Ctrl-D), "
        "reset, temperature=0.7, sentences=3, help. Reads a script from a pipe as well.",
        epilog="examples:\n  poet chat\n  poet chat --project austen --temperature 0.5 --sentences 2\n"
        "  printf 'Who is she?\\nreset\\nbye\\n' | poet chat --seed 1",
    )
    add_model_args(p, weights=True)
    p.add_argument("--sentences", type=number(int, "--sentences", ge=1, le=MAX_SENTENCES), default=SENTENCES,
                   help=f"sentences per answer at most (default: {SENTENCES})")
    add_dataclass_args(p.add_argument_group("sampling"), CHAT_SAMPLING, skip=("length", "num"))
    add_min_quote(p)
    p.add_argument("--no-color", action="store_true", help="mark quotes «like this»[1] instead of colouring them")

"""`poet chat`: talk with a model. You type, it answers with a few sentences continuing your words,
quotes from its books highlighted. The conversation is one text the model keeps reading and writing,
so its state carries over from turn to turn until `reset`.

Works interactively (line editing and history through readline where available) and with stdin from a
pipe, for scripted sessions.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

from .errors import PoetError
from .sample import check

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
        self, poet, sentences: int = 3, temperature: float = 0.7, min_quote: int | None = None, color: bool = True
    ):
        check(temperature)
        if sentences < 1:
            raise PoetError(f"--sentences must be at least 1, not {sentences}")
        self.poet = poet
        self.sentences = sentences
        self.temperature = temperature
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
            self.poet.reset()
            return "(the conversation starts afresh)"
        m = _SETTING.match(words)
        if m and (m.group(1).lower() != "sentences" or m.group(2).isdigit()):
            return self._set(m.group(1).lower(), m.group(2))
        try:
            answer = self.poet.chat_turn(line.rstrip("\r\n"), self.sentences, self.temperature)
        except PoetError as e:
            return f"poet: {e}"
        return self.render(answer)

    def _set(self, name: str, value: str) -> str:
        if name.startswith("temp"):
            try:
                t = float(value)
                check(t)
            except (ValueError, PoetError):
                return f"poet: temperature must be a number >= 0, not {value!r}"
            self.temperature = t
            return f"(temperature {t:g})"
        n = int(value)
        if n < 1:
            return "poet: sentences must be at least 1"
        self.sentences = n
        return f"(up to {n} sentence{'s' if n > 1 else ''} per answer)"

    def render(self, answer: str) -> str:
        if not self.highlighting or not answer:
            return answer
        try:
            highlighted = self.poet.highlight(answer, self.min_quote)
        except PoetError as e:
            self.highlighting = False
            self.warning = f"poet: warning: quotes will not be highlighted: {e}"
            return answer
        from .render import ansi_parts

        body, legend = ansi_parts(highlighted.spans, color=self.color)  # the rule was said once, at the start
        if not highlighted.summary.quotes:
            return body
        return body + "\n" + "\n".join("  " + line for line in legend.split("\n"))


def repl(
    poet,
    sentences: int = 3,
    temperature: float = 0.7,
    min_quote: int | None = None,
    color: bool | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Run the dialog until `bye` or end of input."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty() and stdout.isatty()
    if color is None:
        color = stdout.isatty()
    chat = Chat(poet, sentences, temperature, min_quote, color)
    if interactive:
        try:
            import readline  # noqa: F401  (line editing and history for input())
        except ImportError:
            pass
        print(f"Talking with {poet!r}. Type help for commands, bye to leave.", file=stdout, flush=True)
    # build the index before the first turn, so the first answer does not stall (and to warn early)
    try:
        rule = poet.index(log=lambda m: print(f"poet: {m}", file=sys.stderr, flush=True)).rule(min_quote)
        print(f"poet: {rule.describe()}", file=sys.stderr, flush=True)
    except PoetError as e:
        chat.highlighting = False
        print(f"poet: warning: quotes will not be highlighted: {e}", file=sys.stderr, flush=True)
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
            print(chat.warning, file=sys.stderr, flush=True)
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

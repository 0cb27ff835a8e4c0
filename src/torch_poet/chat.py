"""A dialog with a model: `Conversation` keeps its state (the model's context after the text so far, the
transcript, the seeds of the turns), and `poet chat` runs one in the terminal. You type, the model answers with
a few sentences continuing your words, quotes from its books highlighted. The conversation is one text the model
keeps reading and writing, so its state carries over from turn to turn until `reset`.

The REPL works interactively (line editing and history through readline where available) and with stdin from
a pipe, for scripted sessions.
"""

from __future__ import annotations

import random
import re
import sys
import threading
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any, TextIO

from .config import DEFAULT_PROMPT, SampleConfig
from .errors import PoetError, say

if TYPE_CHECKING:
    from .generate import Context
    from .poet import Poet

CHAT_SAMPLING = SampleConfig(temperature=0.7)  # answers a little more cautious than generate's texts
SENTENCES = 3  # an answer's length: at most this many sentences
MAX_CHARS = 1000  # ... and at most this many characters
SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]_]*$")
# words whose full stop does not end a sentence
ABBREVIATIONS = frozenset(
    ["mr", "mrs", "ms", "dr", "st", "messrs", "mme", "mlle", "sr", "jr", "capt", "col", "gen", "lt", "rev", "hon", "esq"]
    + ["no", "vol", "ch", "viz", "etc"]
)  # fmt: skip


def check_sentences(sentences: int) -> int:
    if isinstance(sentences, bool) or not isinstance(sentences, int) or sentences < 1:
        raise PoetError(f"sentences must be a whole number >= 1, not {sentences!r}")
    return sentences


class Conversation:
    """A dialog with a Poet: the whole dialog is one text the model reads and writes, so its state carries over
    from turn to turn. `sampling` holds the answers' options; its seed (if set) makes the dialog reproducible,
    each turn drawing its own seed from it."""

    def __init__(self, poet: Poet, sampling: SampleConfig = CHAT_SAMPLING):
        self.poet = poet
        self.sampling = sampling
        self.seeds = random.Random(sampling.seed)
        self.context: Context | None = None  # the model after the conversation so far
        self.transcript = ""  # the conversation as the model read and wrote it

    def seed(self, seed: int | None) -> None:
        """Make the turns that follow reproducible (each turn draws its seed from this one)."""
        self.seeds.seed(seed)

    def reset(self) -> None:
        """Forget the conversation: the next turn starts from a fresh state."""
        self.context = None
        self.transcript = ""

    def turn(
        self,
        user_text: str,
        sentences: int = SENTENCES,
        *,
        max_chars: int = MAX_CHARS,
        stop: threading.Event | None = None,
        **options: Any,
    ) -> str:
        """The model's answer: up to `sentences` sentences continuing the conversation after user_text.

        options: SampleConfig's fields for this turn, over `sampling`'s; seed is this turn's seed (default:
        drawn from the dialog's). An empty user_text lets the model go on where it stopped. Characters the
        model never saw are dropped with a warning. Once `stop` is set (its asker has gone), the turn ends at
        once, answers "" and leaves the conversation as it was."""
        check_sentences(sentences)
        options.setdefault("seed", None)  # this turn's seed, not the dialog's
        config = replace(self.sampling, **options, length=None, num=1)
        text = user_text
        if text and self.transcript and not self.transcript[-1].isspace() and not text[0].isspace():
            text = " " + text
        if self.context is None and not text:
            text = DEFAULT_PROMPT
        if config.seed is None:
            config = replace(config, seed=self.seeds.randrange(2**31))
        s = self.poet.stream_samples(text, **asdict(config), skip_unknown=True, context=self.context)
        counter = SentenceCounter()
        answer = []
        for _ in range(max_chars):
            if stop is not None and stop.is_set():
                return ""
            c = s.read(1)[0]
            answer.append(c)
            if counter.feed(c) >= sentences:
                break
        self.context = s.context
        full = "".join(answer)
        self.transcript += "".join(c for c in text if c in self.poet.vocab) + full
        return full.strip()


class SentenceCounter:
    """Counts sentence ends in a text fed one character at a time: . ! or ? (and closing quotes or
    brackets) followed by white space, except after common abbreviations (Mr. Mrs. Dr. ...)."""

    def __init__(self) -> None:
        self.text = ""
        self.count = 0

    def feed(self, chars: str) -> int:
        for c in chars:
            if c.isspace() and self.text and not self.text[-1].isspace():
                m = SENTENCE_END.search(self.text[-20:])
                if m:
                    word = re.findall(r"[A-Za-z]+$", self.text[-20:][: m.start()])
                    if not (m.group().startswith(".") and word and word[0].lower() in ABBREVIATIONS):
                        self.count += 1
            self.text = (self.text + c)[-40:]
        return self.count


# --- `poet chat` ---------------------------------------------------------------------------------------------------

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
        self, conversation: Conversation, sentences: int = SENTENCES, min_quote: int | None = None, color: bool = True
    ):
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
                self.conversation.sampling = replace(self.conversation.sampling, temperature=t)
                return f"(temperature {t:g})"
            n = self.sentences = check_sentences(int(value))
        except PoetError as e:
            return f"poet: {e}"
        return f"(up to {n} sentence{'s' if n > 1 else ''} per answer)"

    def render(self, answer: str) -> str:
        if not self.highlighting or not answer:
            return answer
        try:
            highlighted = self.conversation.poet.highlight(answer, self.min_quote)
        except PoetError as e:
            self.highlighting = False
            self.warning = f"warning: quotes will not be highlighted: {e}"
            return answer
        from .render import ansi_parts

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
    conversation: Conversation,
    sentences: int = SENTENCES,
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
    chat = Chat(conversation, sentences, min_quote, color)
    poet = conversation.poet
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

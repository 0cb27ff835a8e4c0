"""A dialog with a model: `Conversation` keeps its state (the model's context after the text so far, the
transcript, the seeds of the turns). You write, the model answers with a few sentences continuing your words.
The conversation is one text the model keeps reading and writing, so its state carries over from turn to turn
until `reset`. `Conversation(poet)` is the one way to hold a dialog: `poet chat` (cli/dialog.py), the web app
and Python callers each keep their own.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from .config import DEFAULT_PROMPT, SampleConfig, checked

if TYPE_CHECKING:  # torch is loaded with the model, not with the `poet` command's parser
    from .generate import Context, Generation

CHAT_SAMPLING = SampleConfig(temperature=0.7)  # answers a little more cautious than generate's texts
SENTENCES = 3  # an answer's length: at most this many sentences
MAX_SENTENCES = 20  # ... which a user may raise to this
MAX_CHARS = 1000  # ... and at most this many characters
WORD_SLACK = 40  # ... then up to this many more, to finish the word under way
SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]_]*$")
# words whose full stop does not end a sentence
ABBREVIATIONS = frozenset(
    ["mr", "mrs", "ms", "dr", "st", "messrs", "mme", "mlle", "sr", "jr", "capt", "col", "gen", "lt", "rev", "hon", "esq"]
    + ["no", "vol", "ch", "viz", "etc"]
)  # fmt: skip


def check_sentences(sentences: int) -> int:
    return checked(sentences, int, "sentences", ge=1, le=MAX_SENTENCES)


class Streams(Protocol):
    """What a conversation needs of its model (a `Poet`): the characters it knows and a stream continuing text."""

    vocab: str

    def stream(
        self, prompt: str, sampling: SampleConfig, *, state: Context | None, skip_unknown: bool
    ) -> Generation: ...


class Conversation:
    """A dialog with a Poet: the whole dialog is one text the model reads and writes, so its state carries over
    from turn to turn. `sampling` holds the answers' options; its seed (if set) makes the dialog reproducible,
    each turn drawing its own seed from it."""

    def __init__(self, poet: Streams, sampling: SampleConfig = CHAT_SAMPLING):
        self.poet = poet
        self.sampling = sampling
        self.seeds = random.Random(sampling.seed)
        self.context: Context | None = None  # the model after the conversation so far
        self.transcript = ""  # the conversation as the model read and wrote it

    def reset(self) -> None:
        """Forget the conversation: the next turn starts from a fresh state."""
        self.context = None
        self.transcript = ""

    def turn(
        self,
        user_text: str,
        sentences: int = SENTENCES,
        sampling: SampleConfig | None = None,
        *,
        max_chars: int = MAX_CHARS,
        stop: threading.Event | None = None,
    ) -> str:
        """The model's answer: up to `sentences` sentences continuing the conversation after user_text.

        sampling: this turn's options (default: the dialog's); its seed is this turn's (unset: drawn from the
        dialog's); its length and num do not apply. An empty user_text lets the model go on where it stopped.
        Characters the model never saw are dropped with a warning. At max_chars the word under way is finished
        first (up to WORD_SLACK more), so that no turn ends in half a word. Once `stop` is set (its asker has
        gone), the turn ends at once, answers "" and leaves the conversation as it was."""
        check_sentences(sentences)
        seed = sampling.seed if sampling is not None and sampling.seed is not None else self.seeds.randrange(2**31)
        config = replace(self.sampling if sampling is None else sampling, length=None, num=1, seed=seed)
        text = user_text
        if text and self.transcript and not self.transcript[-1].isspace() and not text[0].isspace():
            text = " " + text
        if self.context is None and not text:
            text = DEFAULT_PROMPT
        s = self.poet.stream(text, config, state=self.context, skip_unknown=True)
        counter = SentenceCounter()
        answer = []
        for n in range(1, max_chars + WORD_SLACK + 1):
            if stop is not None and stop.is_set():
                return ""
            c = s.read(1)[0]
            answer.append(c)
            if counter.feed(c) >= sentences or (n >= max_chars and c.isspace()):
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

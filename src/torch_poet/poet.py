"""`Poet`: a trained model as one object: generate, stream, highlight quotes, chat.

    from torch_poet.poet import Poet
    poet = Poet.load(project="women_writers", model="default")
    text = poet.generate(". ", 700, temperature=0.7, seed=1)
    poet.highlight(text)            # prints in colour; in Jupyter it shows as HTML with hover tooltips
    poet.show(". ", 700)            # both at once: a `Highlighted` for Jupyter
    for chunk in poet.stream(". ", 700): print(chunk, end="")
    poet.chat_turn("It is a truth universally acknowledged")

The attribution index (which passages are verbatim quotes from the training books) is built on first use
from the model's library (re-read from the book cache and local files named in config.json) and kept in
<model dir>/index/, rebuilt when the library changes.
"""

from __future__ import annotations

import os
import random
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from . import paths
from .checkpoint import load_model, read_config
from .errors import PoetError
from .hardware import pick_device
from .sample import CHUNK, Context, Sampler, Stream

DEFAULT_PROMPT = ". "
SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]_]*$")
# words whose full stop does not end a sentence
ABBREVIATIONS = frozenset(
    ["mr", "mrs", "ms", "dr", "st", "messrs", "mme", "mlle", "sr", "jr", "capt", "col", "gen", "lt", "rev", "hon", "esq"]
    + ["no", "vol", "ch", "viz", "etc"]
)


class Poet:
    """A trained model, its vocabulary and (lazily) its library and attribution index."""

    def __init__(
        self,
        model: torch.nn.Module,
        config: dict,
        meta: dict | None = None,
        model_dir: str | os.PathLike | None = None,
        source: str | None = None,
        cache: str | os.PathLike | None = None,
    ):
        self.model = model
        self.config = config
        self.meta = meta or {}
        self.dir = Path(model_dir) if model_dir is not None else None
        self.vocab: str = config["vocab"]
        self._sampler = Sampler(model, self.vocab) if model is not None else None
        self.source, self.cache = source, cache
        self._library = None
        self._index = None
        self._context: Context | None = None  # the model after the conversation so far (chat)
        self.transcript = ""  # the conversation as the model read and wrote it (chat)
        self._seeds = random.Random()
        self.chat_temperature = 0.7

    @classmethod
    def load(
        cls,
        model_dir: str | os.PathLike | None = None,
        *,
        project: str | None = None,
        model: str | None = None,
        root: str | os.PathLike | None = None,
        which: str = "best",
        device: str | torch.device | None = None,
        source: str | None = None,
        cache: str | os.PathLike | None = None,
        weights: bool = True,
    ) -> Poet:
        """A model directory, or $POET_HOME/projects/<project>/<model>; `which` snapshot: best or last.

        source/cache: where the library's books come from when highlighting (mirror, book cache).
        weights=False reads only config.json: enough to highlight, not to generate."""
        if which not in ("best", "last"):
            raise PoetError(f"snapshot must be best or last, not {which!r}")
        if model_dir is None:
            project = "women_writers" if project is None else project  # an empty name is an error, not the default
            model_dir = paths.model_dir(project, "default" if model is None else model, root)
        if not weights:
            if not (Path(model_dir) / "config.json").exists():
                raise PoetError(f"no model in {model_dir}: train one with `poet train` or check --project/--model")
            return cls(None, read_config(Path(model_dir)), None, model_dir, source, cache)
        try:
            device = torch.device(device or pick_device(mps=False))
        except RuntimeError:
            raise PoetError(f"unknown device {device!r}: use cpu, cuda, cuda:1, mps...") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise PoetError(f"device {device}: no CUDA GPU is available here; use --device cpu")
        net, config, meta = load_model(model_dir, which, device)
        return cls(net, config, meta, model_dir, source, cache)

    @property
    def sampler(self) -> Sampler:
        if self._sampler is None:
            raise PoetError("this Poet was loaded without weights (weights=False): it can highlight, not generate")
        return self._sampler

    def __repr__(self) -> str:
        if self.model is None:
            return f"<Poet (library only) from {self.dir}>"
        c = self.model.config
        where = f" from {self.dir}" if self.dir else ""
        return f"<Poet {c.layers}x{c.hidden} {c.cell.upper()}, {len(self.vocab)} chars{where}>"

    # --- generation -----------------------------------------------------------------------------------------

    def stream_samples(
        self,
        prompt: str = DEFAULT_PROMPT,
        length: int | None = 700,
        temperature: float = 0.8,
        top_k: int | None = None,
        top_p: float | None = None,
        num: int = 1,
        seed: int | None = None,
        skip_unknown: bool = False,
        context: Context | None = None,
        chunk: int = CHUNK,
    ) -> Stream:
        """The `sample.Stream` itself: chunks as lists (one string per sample), `.texts`, `.seed`, `.context`."""
        return self.sampler.stream(prompt, length, temperature, top_k, top_p, num, seed, context, skip_unknown, chunk)

    def generate(self, prompt: str = DEFAULT_PROMPT, length: int = 700, **options: Any) -> str | list[str]:
        """length characters continuing prompt (the prompt not included); a list when num > 1. Options as
        for `stream_samples`: temperature (0 is greedy), top_k, top_p, num, seed (sample i of a batch uses
        seed + i), skip_unknown."""
        texts = self.stream_samples(prompt, length, **options).read_all()
        return texts[0] if options.get("num", 1) == 1 else texts

    def stream(self, prompt: str = DEFAULT_PROMPT, length: int = 700, **options: Any) -> Iterator[str | list[str]]:
        """Chunks of text as they are generated: strings when num == 1, else lists of num strings."""
        single = options.get("num", 1) == 1
        for part in self.stream_samples(prompt, length, **options):
            yield part[0] if single else part

    def show(self, prompt: str = DEFAULT_PROMPT, length: int = 700, min_quote: int | None = None, **kwargs: Any):
        """generate + highlight: a `Highlighted` (or a list of them when num > 1), rich in Jupyter."""
        out = self.generate(prompt, length, **kwargs)
        return self.highlight(out, min_quote) if isinstance(out, str) else [self.highlight(t, min_quote) for t in out]

    # --- attribution ------------------------------------------------------------------------------------------

    def library(self):
        """The texts the model was trained on, re-read from the book cache and local files."""
        if self._library is None:
            from .library import reload

            record = self.config.get("library", {}).get("texts")
            if not record:
                raise PoetError("this model's config.json names no training texts, so quotes cannot be traced")
            try:
                self._library = reload(record, self.vocab, self.source, self.cache)
            except PoetError as e:
                raise PoetError(f"cannot re-read the model's library ({e})") from None
        return self._library

    def readability(self, text: str) -> float:
        """Share of the words of `text` that occur as words in the model's library (library.readability)."""
        from .library import readability

        return readability(text, self.library().words)

    def index(self, log=None):
        """The attribution index over the library, cached in <model dir>/index/ (built on first use)."""
        if self._index is None:
            from .attribution import Index

            texts = self.library().texts
            self._index = Index.build(texts) if self.dir is None else Index.cached(self.dir / "index", texts, log)
        return self._index

    def highlight(self, text: str, min_quote: int | None = None, phrases: bool = False):
        """Which parts of text are verbatim quotes of the library, and from which book: a `Highlighted`
        (str() is coloured terminal text with a legend; Jupyter shows HTML with hover tooltips).

        min_quote: the shortest quote; by default the length this library reaches by chance in unseen
        text, so that a quote means something. phrases: show shorter matches faintly."""
        from .render import Highlighted

        index = self.index()
        return Highlighted.from_spans(index.segment(text, min_quote, phrases), index.rule(min_quote))

    def live(self, min_quote: int | None = None, phrases: bool = False):
        """An `attribution.Segmenter`: segment a text while it is being generated."""
        from .attribution import Segmenter

        return Segmenter(self.index(), min_quote, phrases)

    # --- dialog ---------------------------------------------------------------------------------------------------

    def seed(self, seed: int | None) -> None:
        """Make the chat turns that follow reproducible (each turn draws its seed from this one)."""
        self._seeds.seed(seed)

    def reset(self) -> None:
        """Forget the conversation: the next chat turn starts from a fresh state."""
        self._context = None
        self.transcript = ""

    def chat_turn(
        self,
        user_text: str,
        sentences: int = 3,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        max_chars: int = 1000,
        stop: threading.Event | None = None,
    ) -> str:
        """The model's answer: up to `sentences` sentences continuing the conversation after user_text.

        The model's state carries over from turn to turn (the whole dialog is one text it reads and
        writes); `reset()` forgets it. An empty user_text lets the model go on where it stopped.
        Characters the model never saw are dropped with a warning. Once `stop` is set (its asker has gone), the
        turn ends at once, answers "" and leaves the conversation as it was."""
        if sentences < 1:
            raise PoetError(f"sentences must be at least 1, not {sentences}")
        temperature = self.chat_temperature if temperature is None else temperature
        text = user_text
        if text and self.transcript and not self.transcript[-1].isspace() and not text[0].isspace():
            text = " " + text
        if self._context is None and not text:
            text = DEFAULT_PROMPT
        seed = self._seeds.randrange(2**31) if seed is None else seed
        s = self.stream_samples(text, None, temperature, top_k, top_p, 1, seed, skip_unknown=True, context=self._context)
        counter = SentenceCounter()
        answer = []
        for _ in range(max_chars):
            if stop is not None and stop.is_set():
                return ""
            c = s.read(1)[0]
            answer.append(c)
            if counter.feed(c) >= sentences:
                break
        self._context = s.context
        full = "".join(answer)
        self.transcript += "".join(c for c in text if c in self.vocab) + full
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

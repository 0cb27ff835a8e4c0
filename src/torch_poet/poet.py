"""`Poet`: a trained model as one object: generate, stream (with the quotes as they become final), highlight.

    from torch_poet.poet import Poet
    poet = Poet.load()              # $POET_HOME/projects/women_writers/default
    text = poet.generate(". ", 700, temperature=0.7, seed=1)
    poet.highlight(text)            # prints in colour; in Jupyter it shows as HTML with hover tooltips
    poet.show(". ", 700)            # both at once: a `Highlighted` for Jupyter
    for chunk, spans in poet.stream_highlighted(". ", SampleConfig(700)): ...   # text and its quotes as they come
    Conversation(poet).turn("It is a truth")   # a dialog (torch_poet.chat), its state its own

The attribution index (which passages are verbatim quotes from the training books) is built on first use
beside the model's prepared library (prepared again from the book cache and local files named in config.json
if it is gone). Highlighting needs no weights: `Poet.load(weights=False)` imports no torch, so that
`poet highlight` starts in a fraction of a second.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import paths
from .config import CHUNK, DEFAULT_MODEL, DEFAULT_PROJECT, DEFAULT_PROMPT, SampleConfig
from .disk import config_json
from .errors import PoetError

if TYPE_CHECKING:
    import torch

    from .attribution import Span
    from .generate import Context, Generation, Sampler


class Poet:
    """A trained model, its vocabulary and (lazily) its library and attribution index. A dialog with it is a
    `chat.Conversation(poet)`."""

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
        self._sampler = None
        if model is not None:
            from .generate import Sampler

            self._sampler = Sampler(model, self.vocab)
        self.source, self.cache = source, cache
        self._library = None
        self._index = None

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
            project = DEFAULT_PROJECT if project is None else project  # an empty name is an error, not the default
            model_dir = paths.model_dir(project, DEFAULT_MODEL if model is None else model, root)
        if not weights:
            if not config_json.exists(Path(model_dir)):
                raise PoetError(f"no model in {model_dir}: train one with `poet train` or check --project/--model")
            return cls(None, config_json.read(Path(model_dir)), None, model_dir, source, cache)
        import torch

        from .disk.snapshots import load_model
        from .hardware import pick_device

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

    def stream(
        self,
        prompt: str,
        sampling: SampleConfig,
        *,
        state: Context | None = None,
        skip_unknown: bool = False,
        chunk: int = CHUNK,
    ) -> Generation:
        """Text as it is generated, as `sampling` says: a `generate.Generation` (iterate for chunks, one string
        per sample; `.texts`, `.seed`, and `.context` to go on from, as `state` of a later stream)."""
        return self.sampler.stream(prompt, sampling, state=state, skip_unknown=skip_unknown, chunk=chunk)

    def generate(
        self,
        prompt: str = DEFAULT_PROMPT,
        length: int = SampleConfig.length,
        *,
        skip_unknown: bool = False,
        **options: Any,
    ) -> str | list[str]:
        """length characters continuing prompt (the prompt not included); a list when num > 1. options: the
        other fields of `config.SampleConfig` (temperature, 0 greedy; top_k, top_p, min_p, num, seed: sample i of
        a batch uses seed + i), made into one here, where Python callers enter."""
        texts = self.sampler.generate(prompt, SampleConfig(length=length, **options), skip_unknown=skip_unknown)
        return texts[0] if len(texts) == 1 else texts

    def show(
        self,
        prompt: str = DEFAULT_PROMPT,
        length: int = SampleConfig.length,
        min_quote: int | None = None,
        **options: Any,
    ):
        """generate + highlight: a `Highlighted` (or a list of them when num > 1), rich in Jupyter."""
        out = self.generate(prompt, length, **options)
        return self.highlight(out, min_quote) if isinstance(out, str) else [self.highlight(t, min_quote) for t in out]

    # --- attribution ------------------------------------------------------------------------------------------

    def library(self):
        """The library the model was trained on: its prepared files, prepared again from the book cache and local
        files if they are gone (`library.reopen`)."""
        if self._library is None:
            from .library import reopen

            library = self.config.get("library", {})
            if not library.get("texts"):
                raise PoetError("this model's config.json names no training texts, so quotes cannot be traced")
            try:
                self._library = reopen(library["texts"], library.get("fingerprint"), None, self.source, self.cache)
            except PoetError as e:
                raise PoetError(f"cannot re-read the model's library ({e})") from None
        return self._library

    def readability(self, text: str) -> float:
        """Share of the words of `text` that occur as words in the model's library (library.readability)."""
        from .library import readability

        return readability(text, self.library().words)

    def index(self, log=None):
        """The attribution index over the library, kept beside the prepared library (built on first use)."""
        if self._index is None:
            from .attribution import Index

            self._index = Index.cached(self.library(), log)
        return self._index

    def highlight(self, text: str, min_quote: int | None = None, phrases: bool = False):
        """Which parts of text are verbatim quotes of the library, and from which book: a `Highlighted`
        (str() is coloured terminal text with a legend; Jupyter shows HTML with hover tooltips).

        min_quote: the shortest quote; by default the length this library reaches by chance in unseen
        text, so that a quote means something. phrases: show shorter matches faintly."""
        from .render import Highlighted

        index = self.index()
        return Highlighted.from_spans(index.segment(text, min_quote, phrases), index.rule(min_quote))

    def stream_highlighted(self, prompt: str, sampling: SampleConfig, min_quote: int | None = None, phrases: bool = False,
                           *, skip_unknown: bool = False, quotes: bool = True) -> Iterator[tuple[str, list[Span]]]:  # fmt: skip
        """One sample streamed with its quotes: each chunk of text with the spans that became final with it,
        then ("", the rest) (`attribution.segment_stream`). quotes=False streams the text alone (no spans).
        The prompt is read and the index loaded here, so bad input is refused before the first chunk."""
        from .attribution import segment_stream

        if sampling.num != 1:
            raise PoetError(f"one sample at a time streams with its quotes, not num={sampling.num}")
        segmenter = self.index().segmenter(min_quote, phrases) if quotes else None
        generation = self.sampler.stream(prompt, sampling, skip_unknown=skip_unknown)
        return segment_stream((part[0] for part in generation), segmenter)

"""Generation: `Sampler` (a model and its vocabulary, ready to generate) and `generate`; a `Generation` is
one in progress. The options (temperature, top-k, top-p, min-p, length, seed, num) arrive as one
`config.SampleConfig`, built and checked where they entered.

How a text is made. The prompt runs once through `CharRNN.forward` (oneDNN/cuDNN, all characters in one call);
that leaves the recurrent state and the logits of the next character (a `Context`, context.py). From there one
character at a time: pick it from the logits (pick.py: the filters and the Gumbel noise), feed it, get the next
logits. The state is carried from step to step and never recomputed. The steps run in TorchScript loops
(kernels.py) on weights rearranged once, driven by a decoder (decoders.py); `fast=False` decodes with the plain
`model.step` instead, the reference the tests compare the lean loops against. BENCHMARKS.md has the figures.

Sample i of a batch uses seed + i and is exactly the text generated alone with that seed; a fixed seed gives
the same text streamed or not. (Batched and single products may round differently in the last bit, which could
only matter on an exact tie.)
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator
import torch

from ..config import CHUNK, SampleConfig
from ..errors import PoetError
from ..model import CharRNN, State
from .context import Context, device_of, encode, full_precision, prime
from .decoders import Decoder, GruDecoder, GruWeights, LstmDecoder, LstmWeights, ReferenceDecoder
from .pick import Noise, filters

__all__ = ["CHUNK", "Context", "Generation", "Sampler", "encode", "generate", "prime"]


class Sampler:
    """A model and its vocabulary, ready to generate. Prepared weights are cached and rebuilt when the
    model's parameters change (e.g. between training steps)."""

    def __init__(self, model: CharRNN, vocab: str, fast: bool = True):
        model = getattr(model, "_orig_mod", model)  # torch.compile's wrapper
        model = getattr(model, "module", model)  # DistributedDataParallel's
        if len(vocab) != model.config.vocab_size:
            raise PoetError(f"the vocabulary has {len(vocab)} characters but the model {model.config.vocab_size}")
        self.model = model
        self.vocab = vocab
        self.fast = fast
        self._weights: tuple[tuple, LstmWeights | GruWeights] | None = None

    @property
    def device(self) -> torch.device:
        return device_of(self.model)

    def stream(
        self,
        prompt: str,
        sampling: SampleConfig,
        *,
        state: Context | State | None = None,
        skip_unknown: bool = False,
        chunk: int = CHUNK,
    ) -> Generation:
        """A `Generation` continuing prompt (read on top of `state` when given), as `sampling` says."""
        context = self.prime(prompt, state, skip_unknown).expand(sampling.num)
        with full_precision(self.device):
            decoder = self.decoder(context, float(sampling.temperature))
        return Generation(decoder, self.vocab, sampling, self.device, chunk)

    def generate(
        self, prompt: str, sampling: SampleConfig, *, state: Context | State | None = None, skip_unknown: bool = False
    ) -> list[str]:
        """num continuations of prompt (the prompt itself not included), sampling.length characters each."""
        return self.stream(prompt, sampling, state=state, skip_unknown=skip_unknown).read_all()

    def encode(self, text: str, skip_unknown: bool = False) -> list[int]:
        return encode(self.vocab, text, skip_unknown)

    def prime(self, prompt: str, context: Context | State | None = None, skip_unknown: bool = False) -> Context:
        return prime(self.model, self.encode(prompt, skip_unknown), context)

    def decoder(self, context: Context, temperature: float) -> Decoder:
        if not self.fast or self.model.head.weight.dtype != torch.float32:
            return ReferenceDecoder(self.model, context, temperature)
        if self.model.config.cell == "lstm":
            return LstmDecoder(self.model, self._prepared(), context, temperature)
        return GruDecoder(self.model, self._prepared(), context, temperature)

    def _prepared(self) -> LstmWeights | GruWeights:
        """The rearranged weights, rebuilt when a parameter was replaced or changed in place."""
        version = tuple((id(p), p._version) for p in self.model.parameters())
        if self._weights is None or self._weights[0] != version:
            kind = LstmWeights if self.model.config.cell == "lstm" else GruWeights
            self._weights = (version, kind(self.model))
        return self._weights[1]


class Generation:
    """Generation in progress. Iterate for chunks (a list with one string per sample, CHUNK steps at a
    time), or `read(n)` for exactly the next n characters of every sample. `texts` holds everything
    generated so far, `context` where the samples stand now (to continue them later), `seed` the seed of
    sample 0 (sample i uses seed + i)."""

    def __init__(self, decoder: Decoder, vocab: str, config: SampleConfig, device: torch.device, chunk: int = CHUNK):
        self.decoder = decoder
        self.vocab = vocab
        self.device = device
        self.chunk = chunk
        self.num = config.num
        self.remaining = math.inf if config.length is None else config.length
        self.seed = config.seed if config.seed is not None else secrets.randbelow(2**31)
        self.filters = filters(config)
        self.noise = None if config.greedy else Noise([self.seed + i for i in range(self.num)], len(vocab), device)
        self._parts: list[list[str]] = [[] for _ in range(self.num)]

    def __iter__(self) -> Iterator[list[str]]:
        return self

    def __next__(self) -> list[str]:
        if self.remaining <= 0:
            raise StopIteration
        return self.read(self.chunk)

    @torch.no_grad()
    def read(self, n: int) -> list[str]:
        """The next n characters of every sample (fewer when the length is reached)."""
        n = int(min(n, self.remaining))
        if n <= 0:
            return [""] * self.num
        noise = self.noise.take(n) if self.noise is not None else None
        with full_precision(self.device):
            tokens = self.decoder.run(n, noise, self.filters)
        self.remaining -= n
        chars = self.vocab
        texts = ["".join(map(chars.__getitem__, row)) for row in tokens.t().tolist()]
        for parts, text in zip(self._parts, texts):
            parts.append(text)
        return texts

    def read_all(self) -> list[str]:
        if math.isinf(self.remaining):
            raise PoetError("this stream has no length: read it in chunks")
        for _ in self:
            pass
        return self.texts

    @property
    def texts(self) -> list[str]:
        return ["".join(p) for p in self._parts]

    @property
    def context(self) -> Context:
        with torch.no_grad(), full_precision(self.device):
            return self.decoder.context()


def generate(model: CharRNN, vocab: str, prompt: str, sampling: SampleConfig, fast: bool = True) -> list[str]:
    """num continuations of prompt by a model that is not (yet) a Poet, as the training samples are made."""
    return Sampler(model, vocab, fast).generate(prompt, sampling)

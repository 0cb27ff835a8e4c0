"""Where a text stands: the prompt as token ids, run once through the model, leaves a `Context` (the
recurrent state and the logits of the next character) that generation continues from."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import PoetError, UnknownCharacters
from ..model import CharRNN, State

PIECE = 1 << 12  # prompt characters run through the model at a time: memory follows this, not the prompt


def encode(vocab: str, text: str, skip_unknown: bool = False) -> list[int]:
    """Token ids of text; characters outside the vocabulary are an error, or dropped with a warning."""
    index = {c: i for i, c in enumerate(vocab)}
    missing = sorted({c for c in text if c not in index})
    if missing:
        shown = " ".join(repr(c) for c in missing[:20]) + (" ..." if len(missing) > 20 else "")
        if not skip_unknown:
            raise UnknownCharacters(shown)
        warnings.warn(f"dropping characters the model never saw: {shown}", stacklevel=3)
        text = "".join(c for c in text if c in index)
    return [index[c] for c in text]


@dataclass
class Context:
    """The model after reading a text: its recurrent state and the logits of the next character.

    state: per layer (h, c) for LSTM, (h,) for GRU, each [B, H]; logits: [B, V] (before temperature).
    """

    state: State
    logits: Tensor

    @property
    def batch(self) -> int:
        return self.logits.size(0)

    def expand(self, n: int) -> Context:
        """n rows; a context of one row is repeated."""
        if self.batch == n:
            return self
        if self.batch != 1:
            raise PoetError(f"a context of {self.batch} samples cannot continue as {n} samples")
        return Context(
            [tuple(t.expand(n, -1).contiguous() for t in s) for s in self.state], self.logits.expand(n, -1).contiguous()
        )


def device_of(model: CharRNN) -> torch.device:
    return next(model.parameters()).device


def full_precision(device: torch.device):
    """Generation computes in the weights' precision even when called inside a trainer's autocast block."""
    return torch.autocast(device.type, enabled=False)


@torch.no_grad()
def prime(model: CharRNN, ids: Sequence[int], context: Context | State | None = None) -> Context:
    """Run the prompt once through the model from context or a zero state: all its characters in one forward,
    or a long prompt (a pasted book) in pieces of PIECE characters, the state carried from piece to piece."""
    if isinstance(context, list):  # a bare model state: the prompt supplies the logits
        context = Context(context, None)  # type: ignore[arg-type]
    if not ids:
        if context is None or context.logits is None:
            raise PoetError("the prompt is empty: give at least one character, e.g. --prompt '. '")
        return context
    batch = context.logits.size(0) if context is not None and context.logits is not None else 1
    if context is not None and context.logits is None:
        batch = context.state[0][0].size(0)
    device, state = device_of(model), context.state if context is not None else None
    was_training = model.training
    model.eval()  # no dropout while generating, even from a model in the middle of training
    try:
        with full_precision(device):
            for at in range(0, len(ids), PIECE):
                idx = torch.tensor([list(ids[at : at + PIECE])], dtype=torch.long, device=device).expand(batch, -1)
                logits, state = model(idx, state)
    finally:
        model.train(was_training)
    return Context([tuple(t.float().contiguous() for t in s) for s in state], logits[:, -1].float().contiguous())

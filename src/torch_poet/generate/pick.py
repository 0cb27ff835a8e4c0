"""Picking a character: the filters (top-k, top-p, min-p) and the Gumbel noise of sampling.

Characters are drawn with the Gumbel-max trick: argmax(logits / T + G) with G = -log(-log U) is a sample of
softmax(logits / T). Every sample of a batch has its own `torch.Generator`, seeded with seed + i, and draws its
uniforms in fixed blocks of NOISE_BLOCK steps whatever the batch and chunk sizes; so sample i of a batch is
exactly the text generated alone with seed + i, and a fixed seed gives the same text streamed or not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import List, Optional

import torch
from torch import Tensor

from ..config import SampleConfig
from .jit import script

NOISE_BLOCK = 64  # steps of random numbers each sample draws at a time (fixed, so results never depend on chunking)


def filters(config: SampleConfig) -> list[float]:
    """The filters as the kernels take them, [top_k, top_p, min_p] with 0, 1 and 0 for off; [] when none is on,
    or when greedy (the likeliest character passes every filter)."""
    top_k, top_p, min_p = config.top_k or 0, 1.0 if config.top_p is None else config.top_p, config.min_p or 0.0
    if config.greedy or (top_k == 0 and top_p >= 1.0 and min_p == 0.0):
        return []
    return [float(top_k), float(top_p), float(min_p)]


@script
def filter_scores(scores: Tensor, filters: List[float]) -> Tensor:
    """Set every character a filter drops to -inf (scores are logits / T)."""
    top_k, top_p, min_p = int(filters[0]), filters[1], filters[2]
    if 0 < top_k < scores.size(1):
        kth = torch.topk(scores, top_k, 1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p < 1.0:
        ordered, order = torch.sort(scores, 1, descending=True)
        probs = torch.softmax(ordered, 1)
        before = torch.cumsum(probs, 1) - probs  # probability of the characters ranked above; 0 for the first
        drop = before >= top_p
        scores = scores.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    if min_p > 0.0:  # p >= min_p * p_max, that is score >= max score + log(min_p)
        floor = torch.amax(scores, 1, True) + math.log(min_p)
        scores = scores.masked_fill(scores < floor, float("-inf"))
    return scores


@script
def pick(logits: Tensor, noise: Optional[Tensor], filters: List[float], buffer: Tensor, out: Tensor) -> Tensor:
    """One character per row: argmax of the (filtered) scores, plus Gumbel noise (summed into `buffer`, so
    the decode loops allocate nothing per step) when sampling."""
    scores = logits
    if len(filters) > 0:
        scores = filter_scores(scores, filters)
    if noise is not None:
        scores = torch.add(scores, noise, out=buffer)
    return torch.argmax(scores, 1, False, out=out)


def gumbel_(u: Tensor) -> Tensor:
    """Uniform [0, 1) -> standard Gumbel, in place (u = 0 gives -inf: never picked)."""
    return u.log_().neg_().log_().neg_()


class Noise:
    """Gumbel noise for a batch: sample i draws from its own generator, NOISE_BLOCK steps at a time."""

    def __init__(self, seeds: Sequence[int], vocab_size: int, device: torch.device):
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.vocab_size = vocab_size
        self.device = device
        self.block: Tensor | None = None
        self.pos = NOISE_BLOCK

    def take(self, n: int) -> Tensor:
        """[n, B, V] for the next n steps."""
        parts = []
        while n > 0:
            if self.pos == NOISE_BLOCK:  # sample i's block is what torch.rand(NOISE_BLOCK, V, generator=g_i) gives
                u = torch.empty(len(self.generators), NOISE_BLOCK, self.vocab_size)
                for row, g in zip(u, self.generators):
                    row.uniform_(generator=g)
                self.block, self.pos = gumbel_(u).transpose(0, 1), 0  # [steps, B, V], a view
            k = min(n, NOISE_BLOCK - self.pos)
            parts.append(self.block[self.pos : self.pos + k])
            self.pos += k
            n -= k
        out = parts[0] if len(parts) == 1 else torch.cat(parts)
        return out.to(self.device, non_blocking=True)

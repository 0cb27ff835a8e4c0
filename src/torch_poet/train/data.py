"""What the loop reads: the training side of a library as batches of contiguous streams, and a fixed sample of
the validation side to measure the model. Both are gathered from the library's tokens (`library.Part`), memory-
mapped: a batch reads its few thousand characters, not the library."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import PoetError
from ..hardware import autocast
from ..library import Part
from ..model import CharRNN
from .shards import Shards


class Batches:
    """Truncated backprop through time over `batch` contiguous streams of the corpus: batch k continues
    where batch k-1 stopped, so the carried state sees long context. Each epoch shifts the stream
    starts by a random offset. A batch is one gather by index, no per-sample Python, made on the CPU and moved
    to `device`. `rows` picks this process's share of the streams in data-parallel training."""

    def __init__(self, data: Part, batch: int, seq_len: int, generator: torch.Generator, rows: slice = slice(None),
                 device: torch.device | str = "cpu"):  # fmt: skip
        self.data, self.batch, self.seq_len, self.gen, self.rows = data, batch, seq_len, generator, rows
        self.device = torch.device(device)
        self.stream_len = (len(data) - 1) // batch
        if self.stream_len < seq_len + 1:
            raise PoetError(
                f"the training text ({len(data):,} chars) is shorter than one batch of {batch} windows of "
                f"{seq_len} chars: add books, or lower --batch-size/--seq-len"
            )
        self.steps_per_epoch = (self.stream_len - 1) // seq_len
        self.slack = self.stream_len - 1 - self.steps_per_epoch * seq_len  # room to shift the windows
        self.epoch, self.cursor, self.shift = 0, 0, 0
        self.offsets = np.arange(seq_len + 1)

    def next(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """(inputs, targets, new_epoch): new_epoch tells the caller to reset the carried state."""
        new_epoch = self.cursor >= self.steps_per_epoch
        if new_epoch:
            self.epoch += 1
            self.cursor = 0
            self.shift = int(torch.randint(0, self.slack + 1, (1,), generator=self.gen))
        starts = np.arange(self.batch)[self.rows] * self.stream_len + self.shift
        chunk = torch.from_numpy(self.data.take(starts[:, None] + self.cursor * self.seq_len + self.offsets))
        chunk = chunk.to(self.device, non_blocking=True)
        self.cursor += 1
        return chunk[:, :-1], chunk[:, 1:], new_epoch

    def position(self) -> float:
        return self.epoch + self.cursor / self.steps_per_epoch

    def state(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor, "shift": self.shift}

    def restore(self, st: dict) -> None:
        self.epoch, self.cursor, self.shift = st["epoch"], st["cursor"], st["shift"]


def validation_streams(data: Part, seq_len: int, max_chars: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) of a few contiguous streams, each long enough to build up context, holding all of `data`
    or, past `max_chars`, streams of that many characters in all spread evenly over it: the validation split is
    every text's tail, one after another, so a sample from its start alone would be the first books' alone. The
    same characters at every snapshot."""
    whole = not max_chars or max_chars >= len(data)  # None or 0: all
    budget = len(data) if whole else max_chars
    streams = max(1, min(32, budget // (8 * seq_len)))
    n = (budget - 1) // streams if whole else budget // streams
    if n < 1:
        raise PoetError("the validation split is empty: use a larger library or a larger --val-fraction")
    gap = n if whole else (len(data) - 1 - n) // max(streams - 1, 1)  # whole: the streams end to end
    rows = torch.from_numpy(data.take(np.arange(streams)[:, None] * gap + np.arange(n + 1)))
    return rows[:, :-1], rows[:, 1:]


def evaluate(
    model: CharRNN,
    data: Part,
    seq_len: int,
    dtype: torch.dtype,
    max_chars: int | None = None,
    stop: Callable[[], bool] = lambda: False,
    shards: Shards | None = None,
) -> tuple[float, float]:
    """Mean cross-entropy (nats/char) and accuracy over `data`, split into a few contiguous streams
    whose recurrent state is carried across windows, as a reader would see the text; the streams by
    shards where training runs so. `stop()` is asked between windows, so an interrupt does not wait for
    the whole split."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x, y = (t.to(device) for t in validation_streams(data, seq_len, max_chars))
    streams, n = x.shape

    @torch.no_grad()  # per thread
    def score(_, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(summed cross-entropy, correct guesses) of these streams."""
        sums, state = torch.zeros(2, device=x.device), None
        for i in range(0, n, seq_len):
            if stop():
                raise KeyboardInterrupt
            with autocast(x.device, dtype):
                logits, state = model(x[:, i : i + seq_len], state)
            logits, target = logits.float(), y[:, i : i + seq_len]
            sums[0] += F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1), reduction="sum")
            sums[1] += (logits.argmax(-1) == target).sum()
        return sums

    try:
        total, correct = (sum(shards.map(score, x, y)) if shards and streams >= shards.n else score(0, x, y)).tolist()
    finally:
        model.train(was_training)
    count = streams * n
    return total / count, correct / count

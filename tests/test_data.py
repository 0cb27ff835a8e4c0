"""The training data (train/data.py): batches are contiguous streams that continue from one step to the next."""

import numpy as np
import torch

from torch_poet.library import Part
from torch_poet.train.data import Batches, validation_streams


def counting(n: int) -> Part:
    """A part whose token at position p is p: one text of n tokens."""
    return Part(np.arange(n), np.array([0]), np.array([n]), np.array([n]), np.array([0]))


def test_batches_are_contiguous_streams():
    s = Batches(counting(1000), batch=4, seq_len=10, generator=torch.Generator().manual_seed(0))
    x1, y1, new1 = s.next()
    x2, _, _ = s.next()
    assert not new1
    assert torch.equal(y1, x1 + 1)  # targets are the next characters
    assert torch.equal(x2[:, 0], x1[:, -1] + 1)  # the next batch continues each stream
    assert len(set(x1[:, 0].tolist())) == 4
    for _ in range(s.steps_per_epoch - 2):  # the rest of epoch 0
        s.next()
    *_, new = s.next()
    assert new and s.epoch == 1


def test_a_validation_sample_is_spread_over_the_whole_split():
    """Past --eval-chars, the streams are spread evenly over the split (every book's tail), not its start; within
    it they hold the whole split end to end, as a reader would meet it."""
    x, y = validation_streams(counting(100_000), 32, 10_000)
    assert x.numel() <= 10_000 and torch.equal(y, x + 1)  # targets are the next characters
    firsts = x[:, 0].tolist()
    assert firsts[0] == 0 and firsts[-1] > 90_000 - x.shape[1]  # from the first book's tail to the last's
    assert all(b - a >= x.shape[1] for a, b in zip(firsts, firsts[1:]))  # no character twice
    assert torch.equal(validation_streams(counting(100_000), 32, 10_000)[0], x)  # the same sample at every snapshot
    whole, _ = validation_streams(counting(5_000), 32, 10_000)
    assert torch.equal(whole.flatten(), torch.arange(whole.numel()))  # it all fits: the streams end to end

"""The training data (train/data.py): batches are contiguous streams that continue from one step to the next."""

import torch

from torch_poet.train.data import Batches


def test_batches_are_contiguous_streams():
    data = torch.arange(1000)
    s = Batches(data, batch=4, seq_len=10, generator=torch.Generator().manual_seed(0))
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

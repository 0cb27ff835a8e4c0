"""A CPU step by shards (train/shards.py) is the same step as one call: the same loss, gradients, state and
validation figures, and it repeats from the seed (a run by shards resumes exactly: test_train.py)."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from helpers import params

from torch_poet.library import Part
from torch_poet.model import CharRNN, ModelConfig
from torch_poet.train.data import evaluate
from torch_poet.train.loop import train_step
from torch_poet.train.shards import Shards, cpu_shards, join_state, split_state


@pytest.fixture
def shards():
    with ThreadPoolExecutor(3) as pool:
        yield Shards(pool, 3)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_step_by_shards_is_the_step_of_one_call(cell, shards):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=30, cell=cell, layers=2, hidden=24, dropout=0.0)
    one, split = CharRNN(cfg), CharRNN(cfg)
    split.load_state_dict(one.state_dict())
    x = torch.randint(0, 30, (10, 17))  # 10 rows in 3 shards of 4, 3 and 3
    state = [tuple(torch.randn(10, 24) for _ in range(2 if cell == "lstm" else 1)) for _ in range(2)]
    opts = [torch.optim.SGD(m.parameters(), lr=0.5) for m in (one, split)]  # Adam would blow up rounding in ~0 grads
    before = params(one)
    loss1, state1 = train_step(one, opts[0], x[:, :-1], x[:, 1:], state, torch.float32, 1.0)
    loss2, state2 = train_step(split, opts[1], x[:, :-1], x[:, 1:], state, torch.float32, 1.0, shards)
    assert loss2.item() == pytest.approx(loss1.item(), rel=1e-6)
    for a, b in zip(state1, state2):
        assert all(torch.allclose(s, t, atol=1e-6) for s, t in zip(a, b))
    for p, q in zip(one.parameters(), split.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6) and torch.allclose(p, q, atol=1e-6)
    assert not any(torch.equal(before[k], v) for k, v in one.state_dict().items())  # it did step: every weight moved


def test_dropout_by_shards_repeats_from_the_seed(shards):
    cfg = ModelConfig(vocab_size=30, layers=2, hidden=24, dropout=0.3, embed_dropout=0.2, weight_dropout=0.3)
    x = torch.randint(0, 30, (9, 17))
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        model = CharRNN(cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        runs.append(
            [train_step(model, opt, x[:, :-1], x[:, 1:], None, torch.float32, 1.0, shards)[0] for _ in range(3)]
        )
        runs[-1].append(params(model))
    assert runs[0][:3] == runs[1][:3]
    assert all(torch.equal(runs[0][3][k], runs[1][3][k]) for k in runs[0][3])


def test_validation_by_shards_scores_as_one_call(shards):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=30, layers=2, hidden=24))
    tokens = torch.randint(0, 30, (5000,)).numpy()
    data = Part(tokens, np.array([0]), np.array([5000]), np.array([5000]), np.array([0]))
    assert evaluate(model, data, 16, torch.float32, shards=shards) == pytest.approx(
        evaluate(model, data, 16, torch.float32), rel=1e-6
    )
    assert model.training  # put back as it was


def test_state_splits_and_joins_by_rows():
    state = [(torch.randn(7, 4), torch.randn(7, 4)), (torch.randn(7, 4), torch.randn(7, 4))]
    parts = split_state(state, 3)
    assert [p[0][0].shape[0] for p in parts] == [3, 2, 2]
    joined = join_state(parts)
    assert all(torch.equal(a, b) for la, lb in zip(state, joined) for a, b in zip(la, lb))
    assert split_state(None, 2) == [None, None]


def test_shards_only_where_they_pay(two_threads):
    with cpu_shards(torch.device("cpu"), 32) as s:
        assert s.n == 2 and torch.get_num_threads() == 1  # one OpenMP thread per shard meanwhile
    assert torch.get_num_threads() == 2
    for device, rows in (("cpu", 8), ("cuda", 32), ("mps", 32)):  # too few rows; not a CPU
        with cpu_shards(torch.device(device), rows) as s:
            assert s is None and torch.get_num_threads() == 2

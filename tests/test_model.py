"""The network (model.py): its regularisers act in training only and leave the weights and the mean alone."""

import pytest
import torch

from torch_poet.model import ModelConfig


def test_locked_dropout_keeps_one_mask_per_sequence_and_the_mean():
    from torch_poet.model import locked_dropout

    x = torch.ones(50, 400, 500)  # [T, B, H]
    torch.manual_seed(0)
    y = locked_dropout(x, 0.35, training=True)
    assert torch.equal(y, y[:1].expand_as(y))  # the same mask at every time step
    assert (y[0] == 0).float().mean().item() == pytest.approx(0.35, abs=0.005)
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)
    assert y.unique().tolist() == pytest.approx([0.0, 1 / 0.65])
    assert locked_dropout(x, 0.35, training=False) is x and locked_dropout(x, 0.0, training=True) is x
    torch.manual_seed(0)
    assert torch.equal(locked_dropout(x, 0.35, training=True), y)  # drawn from torch's RNG: snapshots restore it


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_weight_and_embedding_dropout_act_in_training_only(cell):
    from torch_poet.model import CharRNN

    torch.manual_seed(0)
    plain = CharRNN(ModelConfig(vocab_size=20, cell=cell, layers=2, hidden=16, dropout=0.0))
    reg = CharRNN(
        ModelConfig(vocab_size=20, cell=cell, layers=2, hidden=16, dropout=0.0, embed_dropout=0.3, weight_dropout=0.5)
    )
    reg.load_state_dict(plain.state_dict())  # same parameters: the regularisers add none
    before = {k: v.clone() for k, v in reg.state_dict().items()}
    idx = torch.randint(0, 20, (3, 12))
    assert torch.equal(plain.eval()(idx)[0], reg.eval()(idx)[0])
    out, _ = reg.train()(idx)
    assert not torch.allclose(out, plain.train()(idx)[0])
    out.sum().backward()
    assert all(torch.equal(before[k], v) for k, v in reg.state_dict().items())  # masks never touch the weights
    assert reg.rnns[0].weight_hh_l0.grad.abs().sum() > 0
    dropped = (reg.embed.weight.grad.abs().sum(1) == 0) & torch.isin(torch.arange(20), idx)
    assert dropped.any()  # whole characters left out of the batch get no gradient

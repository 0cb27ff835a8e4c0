"""Decoders: run n steps for a batch from a `Context`, keeping their own buffers between calls.

`LstmDecoder` and `GruDecoder` drive the TorchScript loops (kernels.py) on weights rearranged once
(`LstmWeights`, `GruWeights`); `ReferenceDecoder` is the plain path, `model.step` (CharRNN.forward on one
character) per step: slow, and the yardstick the tests compare the lean loops against.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from ..model import CharRNN
from ..model import step as model_step
from .context import Context
from .jit import mkldnn_linear
from .kernels import SMALL_BATCH, gru_loop, gru_small_loop, lstm_loop, lstm_small_loop
from .pick import pick


def _reorder(w: Tensor, hidden: int) -> Tensor:
    """PyTorch's LSTM gate order (i, f, g, o) -> (i, f, o, 2g), along dim 0."""
    i, f, g, o = w.split(hidden, 0)
    return torch.cat([i, f, o, 2 * g])


class LstmWeights:
    """The LSTM's weights rearranged for `lstm_loop`: gates reordered (i, f, o, g) so one sigmoid covers
    them all, the g rows doubled (tanh(a) = 2 sigmoid(2a) - 1: sigmoid is several times cheaper than tanh
    on CPU), layer 1's input product as a table, deeper layers' two products as one."""

    @torch.no_grad()
    def __init__(self, model: CharRNN):
        H = model.config.hidden
        first = model.rnns[0]
        bias = _reorder(first.bias_ih_l0 + first.bias_hh_l0, H)
        self.table = F.linear(model.embed.weight, _reorder(first.weight_ih_l0, H), bias).contiguous()
        self.weights = [_reorder(first.weight_hh_l0, H).contiguous()]
        self.biases = [bias.contiguous()]
        for rnn in model.rnns[1:]:
            self.weights.append(_reorder(torch.cat([rnn.weight_ih_l0, rnn.weight_hh_l0], 1), H).contiguous())
            self.biases.append(_reorder(rnn.bias_ih_l0 + rnn.bias_hh_l0, H).contiguous())

    @functools.cached_property
    def small(self) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """The same in halves for lstm_small_loop (built on first use): table [2, V, 2H], weights [2, K, 2H]
        (transposed), biases [2, 1, 2H]."""
        H2 = self.table.size(1) // 2
        return (
            self.table.reshape(-1, 2, H2).transpose(0, 1).contiguous(),
            [w.reshape(2, H2, -1).transpose(1, 2).contiguous() for w in self.weights],
            [b.reshape(2, 1, H2).contiguous() for b in self.biases],
        )


class GruWeights:
    """The GRU's weights for `gru_small_loop` (`gru_loop` uses the model's own)."""

    @torch.no_grad()
    def __init__(self, model: CharRNN):
        first = model.rnns[0]
        self.table = F.linear(model.embed.weight, first.weight_ih_l0, first.bias_ih_l0).contiguous()
        self.w_hh = first.weight_hh_l0.t().contiguous()
        self.b_hh = first.bias_hh_l0.detach().contiguous()
        self.weights = [self.w_hh] + [
            torch.stack([r.weight_ih_l0.t(), r.weight_hh_l0.t()]).contiguous() for r in model.rnns[1:]
        ]
        self.biases = [self.b_hh] + [
            torch.stack([r.bias_ih_l0, r.bias_hh_l0]).unsqueeze(1).contiguous() for r in model.rnns[1:]
        ]
        keys = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        self.params = [[getattr(r, f"{k}_l0").detach() for r in model.rnns] for k in keys]
        self.embedding = model.embed.weight.detach()


class Decoder:
    """Runs n steps for a batch from a context: `run` gives the characters picked, [n, B]; `context` is where
    the batch stands after them."""

    def run(self, n: int, noise: Tensor | None, filters: list[float]) -> Tensor:
        raise NotImplementedError

    def context(self) -> Context:
        raise NotImplementedError


class LeanDecoder(Decoder):
    """What the lean loops share: the output layer and the scores with 1/temperature folded in."""

    def __init__(self, model: CharRNN, context: Context, temperature: float):
        self.model = model
        scale = 1.0 / temperature if temperature > 0 else 1.0
        self.w_out = (model.head.weight.detach() * scale).contiguous()  # [V, H] for the loops for many samples
        self.w_out_t = self.w_out.t().contiguous()  # [H, V] for the small loops
        self.b_out = (model.head.bias.detach() * scale).contiguous()
        self.logits = (context.logits.float() * scale).contiguous()
        self.small = self.logits.size(0) <= SMALL_BATCH and self.logits.device.type == "cpu"
        self.mkldnn = self.logits.device.type == "cpu" and mkldnn_linear()

    def _picked(self, n: int) -> Tensor:
        return torch.empty(n, self.logits.size(0), dtype=torch.long, device=self.logits.device)

    def _context(self, hs: list[Tensor], state: list[tuple[Tensor, ...]]) -> Context:
        return Context(state, F.linear(hs[-1], self.model.head.weight, self.model.head.bias).detach())


class LstmDecoder(LeanDecoder):
    def __init__(self, model: CharRNN, weights: LstmWeights, context: Context, temperature: float):
        super().__init__(model, context, temperature)
        self.w = weights
        self.hidden = torch.cat([s[0] for s in context.state], 1).float().contiguous()
        self.cells = [s[1].float() * -2.0 for s in context.state]  # the loop keeps -2c (exact: a power of 2)

    def run(self, n, noise, filters):
        out, w = self._picked(n), self.w
        if self.small:
            lstm_small_loop(
                n, self.logits, self.hidden, self.cells, *w.small, (self.w_out_t, self.b_out), noise, filters, out
            )
        else:
            lstm_loop(
                n, self.logits, self.hidden, self.cells, w.table, w.weights, w.biases,
                self.w_out, self.b_out, noise, filters, out, self.mkldnn,
            )  # fmt: skip
        return out

    def context(self) -> Context:
        H = self.model.config.hidden
        hs = [self.hidden[:, l * H : (l + 1) * H].clone() for l in range(len(self.cells))]
        return self._context(hs, [(h, c * -0.5) for h, c in zip(hs, self.cells)])


class GruDecoder(LeanDecoder):
    def __init__(self, model: CharRNN, weights: GruWeights, context: Context, temperature: float):
        super().__init__(model, context, temperature)
        self.w = weights
        self.hidden = torch.stack([s[0].float() for s in context.state]).contiguous()  # [layers, B, H]

    def run(self, n, noise, filters):
        out, w = self._picked(n), self.w
        if self.small:
            gru_small_loop(
                n, self.logits, self.hidden, w.table, w.w_hh, w.b_hh, w.weights, w.biases,
                (self.w_out_t, self.b_out), noise, filters, out,
            )  # fmt: skip
        else:
            *hs, logits = gru_loop(
                n, self.logits, list(self.hidden.unbind(0)), w.embedding, *w.params, self.w_out, self.b_out,
                noise, filters, out, self.mkldnn,
            )  # fmt: skip
            self.hidden.copy_(torch.stack(hs))
            self.logits.copy_(logits)
        return out

    def context(self) -> Context:
        hs = [h.clone() for h in self.hidden.unbind(0)]
        return self._context(hs, [(h,) for h in hs])


class ReferenceDecoder(Decoder):
    """The plain path: `model.step` (CharRNN.forward on one character) per step. Slow; the tests' yardstick."""

    def __init__(self, model: CharRNN, context: Context, temperature: float):
        self.model, self.temperature = model, temperature
        self.state = [tuple(t.clone() for t in s) for s in context.state]
        self.raw = context.logits.clone()

    @torch.no_grad()
    def run(self, n, noise, filters):
        out = torch.empty(n, self.raw.size(0), dtype=torch.long, device=self.raw.device)
        was_training = self.model.training
        self.model.eval()
        try:
            for t in range(n):
                scores = self.raw / self.temperature if self.temperature > 0 else self.raw
                scores = scores.float()
                pick(scores, None if noise is None else noise[t], filters, torch.empty_like(scores), out[t])
                self.raw, self.state = model_step(self.model, out[t], self.state)
        finally:
            self.model.train(was_training)
        return out

    def context(self) -> Context:
        return Context([tuple(t.clone() for t in s) for s in self.state], self.raw.clone())

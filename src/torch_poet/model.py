"""`CharRNN`: Embedding -> N-layer LSTM/GRU -> Linear, and the single decode step generation uses.

The recurrence is PyTorch's own `nn.LSTM`/`nn.GRU` (cuDNN on CUDA, oneDNN on CPU), one module per
layer so dropout sits between layers and the state is a plain list. Measured on a 2-core CPU, a
hand-written recurrence with large batched products lost to oneDNN, while oneDNN under bf16
autocast ran twice as fast as fp32: precision is chosen by the trainer, not here.

Regularisation follows AWD-LSTM (Merity et al. 2017), since overfitting dominates a few megabytes of
text: variational dropout (one mask per sequence, shared by all time steps) between layers and before
the output, embedding dropout (whole characters), and DropConnect on the hidden-to-hidden weights (one
mask per batch, applied to the weights so oneDNN's fused kernel still runs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


State = list[tuple[torch.Tensor, ...]]  # per layer: (h, c) for LSTM, (h,) for GRU; each [B, H]


class CharRNN(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        rnn = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.embed = nn.Embedding(config.vocab_size, config.embedding)
        self.rnns = nn.ModuleList(
            rnn(config.embedding if i == 0 else config.hidden, config.hidden) for i in range(config.layers)
        )
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def forward(
        self, idx: torch.Tensor, state: State | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, State]:
        """idx [B, T] -> logits [B, T, V] and the state after the last step. In training the dropout masks
        come from `generator` (torch's default one when None)."""
        c, training, g = self.config, self.training, generator
        weight = self.embed.weight
        if training and c.embed_dropout:  # drop whole characters: one row mask for the batch
            weight = weight * mask((weight.size(0), 1), c.embed_dropout, weight.device, g)
        x = F.embedding(idx.t(), weight)  # time-major [T, B, E]: each step reads a contiguous block
        new_state: State = []
        for i, rnn in enumerate(self.rnns):
            if i:
                x = locked_dropout(x, c.dropout, training, g)
            s = state[i] if state is not None else None
            x, s = run_rnn(rnn, x, s, c.weight_dropout if training else 0.0, g)
            new_state.append(s)
        logits = self.head(locked_dropout(x, c.dropout, training, g)).transpose(0, 1)
        return logits, new_state

    def init_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        h = lambda: torch.zeros(batch, self.config.hidden, device=device)  # noqa: E731
        return [(h(), h()) if self.config.cell == "lstm" else (h(),) for _ in self.rnns]


def mask(
    shape: tuple[int, ...], p: float, device: torch.device, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Inverted-dropout mask: 0 with probability p, else 1/(1-p). Drawn with torch.rand, from torch's RNG
    (snapshots restore it); PyTorch's CPU bernoulli_ is slow enough to show in a training step (BENCHMARKS.md)."""
    return (torch.rand(shape, device=device, generator=generator) >= p) * (1 / (1 - p))


def locked_dropout(x: torch.Tensor, p: float, training: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """Variational dropout of x [T, B, H]: one mask per sequence, the same at every time step."""
    if not training or p == 0:
        return x
    return x * mask((1, *x.shape[1:]), p, x.device, generator).to(x.dtype)


def run_rnn(
    rnn: nn.Module,
    x: torch.Tensor,
    s: tuple | None,
    weight_dropout: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, tuple]:
    """nn.LSTM/nn.GRU with our per-layer state layout ([B, H] tensors instead of [1, B, H]); with
    weight_dropout, the hidden-to-hidden weights get one DropConnect mask for the whole sequence. The masked
    weights go to the recurrence's own op (the one nn.LSTM calls) rather than into the module, so that
    threads may run the model at once (shards.py)."""
    lstm = isinstance(rnn, nn.LSTM)
    hx = None
    if s is not None:
        hx = tuple(t.unsqueeze(0) for t in s) if lstm else s[0].unsqueeze(0)
    if not weight_dropout:
        y, hn = rnn(x, hx)
        return y, tuple(t.squeeze(0) for t in hn) if lstm else (hn.squeeze(0),)
    w = rnn.weight_hh_l0
    weights = [rnn.weight_ih_l0, w * mask(w.shape, weight_dropout, w.device, generator), rnn.bias_ih_l0, rnn.bias_hh_l0]
    if hx is None:
        zeros = x.new_zeros(1, x.size(1), rnn.hidden_size)
        hx = (zeros, zeros) if lstm else zeros
    if lstm:
        y, h, c = torch.lstm(x, hx, weights, True, 1, 0.0, True, False, False)
        return y, (h.squeeze(0), c.squeeze(0))
    y, h = torch.gru(x, hx, weights, True, 1, 0.0, True, False, False)
    return y, (h.squeeze(0),)


def detach_state(state: State) -> State:
    return [tuple(t.detach() for t in s) for s in state]


# --- generation ------------------------------------------------------------------------------------


@torch.no_grad()
def step(model: CharRNN, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
    """One decode step for a batch: tokens [B] -> logits [B, V]; the state is carried, never recomputed."""
    logits, state = model(tokens.unsqueeze(1), state)
    return logits[:, -1], state


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1))

"""The decode loops, in TorchScript (C++ interpreter, no Python per character) on buffers allocated once, with
in-place operations. Each runs n steps: pick a character from the scores, feed it, compute the next scores.

At batch 1 a step is three small matrix-vector products, bound by reading the weights, and Python's per-operation
overhead would cost more than the arithmetic. The weights come rearranged (decoders.LstmWeights, GruWeights):
layer 1's input product is a lookup table (embedding @ W_ih + biases, one row per character), deeper layers do one
product over [h_below; h_own] (the hidden states sit side by side in one buffer, so that input is a view, not a
copy), 1/temperature is folded into the output layer, and the LSTM's gates are reordered (i, f, o, g) with g's rows
doubled so that one sigmoid covers all four (tanh(a) = 2 sigmoid(2a) - 1; the loop keeps -2c as its cell state for
the same reason: sigmoid is several times cheaper than tanh on CPU).
- Up to SMALL_BATCH samples (`lstm_small_loop`, `gru_small_loop`): each product is a `baddbmm` over two halves,
  which ATen runs on two threads, doubling the memory bandwidth of a matrix-vector product.
- More samples (`lstm_loop`, `gru_loop`): the products are compute-bound and go through oneDNN's fp32 linear where
  this PyTorch has it (about twice the default BLAS on the CPUs measured), else F.linear. Also the path on GPUs.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor

from .jit import linear, script
from .pick import pick

SMALL_BATCH = 3  # up to this batch size (on CPU) the *_small_loop decoders run; measured crossover ~4


@script
def per_step(out: Tensor, noise: Optional[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
    """Each step's row of the picked characters and of the noise (none for greedy)."""
    noises: List[Tensor] = [] if noise is None else noise.unbind(0)
    return out.unbind(0), noises


@script
def lstm_loop(
    n: int,
    logits: Tensor,  # [B, V] scores of the next character (logits / T), updated in place
    hidden: Tensor,  # [B, layers * H]: every layer's h side by side, updated in place
    cells: List[Tensor],  # per layer -2 * c [B, H] (see decoders.LstmWeights), updated in place
    table: Tensor,  # [V, 4H] layer 1: embedding @ W_ih^T + b_ih + b_hh
    weights: List[Tensor],  # layer 1: W_hh [4H, H]; deeper: [W_ih W_hh] [4H, 2H]
    biases: List[Tensor],  # deeper layers: b_ih + b_hh [4H] (layer 1's entry is unused)
    w_out: Tensor,  # [V, H] head weight / T
    b_out: Tensor,  # [V] head bias / T
    noise: Optional[Tensor],  # [n, B, V] Gumbel noise, None for greedy
    filters: List[float],  # see pick.filters
    out: Tensor,  # [n, B] long: the characters picked
    mkldnn: bool,
) -> None:
    B = logits.size(0)
    H = cells[0].size(1)
    layers = len(cells)
    tmp = torch.empty(B, H, dtype=logits.dtype, device=logits.device)
    scores = torch.empty_like(logits)
    hs = [hidden[:, l * H : (l + 1) * H] for l in range(layers)]
    inputs = [hidden[:, max(l - 1, 0) * H : (l + 1) * H] for l in range(layers)]  # [h_below, h_own]
    steps, noises = per_step(out, noise)
    x = logits
    for t in range(n):
        tok = steps[t]
        pick(x, None if noise is None else noises[t], filters, scores, tok)
        gates = linear(hs[0], weights[0], None, mkldnn)
        gates.add_(torch.index_select(table, 0, tok))
        for l in range(layers):
            if l > 0:
                gates = linear(inputs[l], weights[l], biases[l], mkldnn)
            gates.sigmoid_()  # i, f, o and (g + 1) / 2: the g rows are doubled, tanh(a) = 2 sigmoid(2a) - 1
            i, f, o, g = gates.chunk(4, 1)
            c = cells[l]  # c' = -2c: c' <- f c' - 2 i tanh(a) = f c' - 4 i sigmoid(2a) + 2 i
            c.mul_(f).addcmul_(i, g, value=-4.0).add_(i, alpha=2.0)
            torch.sigmoid(c, out=tmp)  # h = o tanh(c) = o (1 - 2 sigmoid(-2c)) = o - 2 o sigmoid(c')
            torch.addcmul(o, o, tmp, value=-2.0, out=hs[l])
        x = linear(hs[layers - 1], w_out, b_out, mkldnn)
    logits.copy_(x)


@script
def lstm_small_loop(
    n: int,
    logits: Tensor,  # [B, V] scores of the next character (logits / T), updated in place
    hidden: Tensor,  # [B, layers * H]: every layer's h side by side, updated in place
    cells: List[Tensor],  # per layer -2 * c [B, H], updated in place
    table: Tensor,  # [2, V, 2H] layer 1's input gates, in two halves: (i, f) and (o, 2g)
    weights: List[Tensor],  # [2, K, 2H] per layer: W_hh (layer 1) or [W_ih W_hh] (deeper), transposed, halves
    biases: List[Tensor],  # [2, 1, 2H] deeper layers' b_ih + b_hh (layer 1's entry is unused)
    head: Tuple[Tensor, Tensor],  # [H, V] head weight^T / T, [V] head bias / T
    noise: Optional[Tensor],
    filters: List[float],  # see pick.filters
    out: Tensor,
) -> None:
    """The loop for one or a few samples, where the cost is reading the weights and Python-free, in-place
    operations on preallocated buffers matter most. Each gate product is a batched product over the two
    halves of the gates, which ATen runs on two threads: twice the memory bandwidth of one matrix-vector
    product (and the same arithmetic)."""
    w_out, b_out = head
    B = logits.size(0)
    H = cells[0].size(1)
    layers = len(cells)
    gates = torch.empty(2, B, 2 * H, dtype=logits.dtype, device=logits.device)
    i, f, o, g = gates[0, :, :H], gates[0, :, H:], gates[1, :, :H], gates[1, :, H:]
    tmp = torch.empty(B, H, dtype=logits.dtype, device=logits.device)
    scores = torch.empty_like(logits)
    hs = [hidden[:, l * H : (l + 1) * H] for l in range(layers)]
    inputs = [hidden[:, max(l - 1, 0) * H : (l + 1) * H].unsqueeze(0).expand(2, B, -1) for l in range(layers)]
    first = hs[0].unsqueeze(0).expand(2, B, H)
    steps, noises = per_step(out, noise)
    for t in range(n):
        tok = steps[t]
        pick(logits, None if noise is None else noises[t], filters, scores, tok)
        torch.index_select(table, 1, tok, out=gates)
        gates.baddbmm_(first, weights[0])
        for l in range(layers):
            if l > 0:
                torch.baddbmm(biases[l], inputs[l], weights[l], out=gates)
            gates.sigmoid_()
            c = cells[l]
            c.mul_(f).addcmul_(i, g, value=-4.0).add_(i, alpha=2.0)
            torch.sigmoid(c, out=tmp)
            torch.addcmul(o, o, tmp, value=-2.0, out=hs[l])
        torch.addmm(b_out, hs[layers - 1], w_out, out=logits)


@script
def gru_small_loop(
    n: int,
    logits: Tensor,  # [B, V] scores (logits / T), updated in place
    hidden: Tensor,  # [layers, B, H], updated in place
    table: Tensor,  # [V, 3H] layer 1's input gates: embedding @ W_ih^T + b_ih
    w_hh: Tensor,  # [H, 3H] layer 1's W_hh^T
    b_hh: Tensor,  # [3H]
    weights: List[Tensor],  # deeper layers: [2, H, 3H] = (W_ih^T, W_hh^T) (layer 1's entry is unused)
    biases: List[Tensor],  # deeper layers: [2, 1, 3H] = (b_ih, b_hh)
    head: Tuple[Tensor, Tensor],  # as lstm_small_loop's
    noise: Optional[Tensor],
    filters: List[float],  # see pick.filters
    out: Tensor,
) -> None:
    """The GRU counterpart of lstm_small_loop: a deeper layer's input and hidden products are one batched
    product over [h_below; h_own] (adjacent in `hidden`), which ATen runs on two threads."""
    w_out, b_out = head
    layers = hidden.size(0)
    B = hidden.size(1)
    H = hidden.size(2)
    gates = torch.empty(2, B, 3 * H, dtype=logits.dtype, device=logits.device)  # (input, hidden) products
    gi, gh = gates[0], gates[1]
    gi_rz, gh_rz, gi_n, gh_n = gi[:, : 2 * H], gh[:, : 2 * H], gi[:, 2 * H :], gh[:, 2 * H :]
    rz = torch.empty(B, 2 * H, dtype=logits.dtype, device=logits.device)
    r, z = rz[:, :H], rz[:, H:]
    new = torch.empty(B, H, dtype=logits.dtype, device=logits.device)
    tmp = torch.empty(B, H, dtype=logits.dtype, device=logits.device)
    scores = torch.empty_like(logits)
    hs = hidden.unbind(0)
    pairs = [hidden[max(l - 1, 0) : l + 1] for l in range(layers)]
    steps, noises = per_step(out, noise)
    for t in range(n):
        tok = steps[t]
        pick(logits, None if noise is None else noises[t], filters, scores, tok)
        torch.index_select(table, 0, tok, out=gi)
        torch.addmm(b_hh, hs[0], w_hh, out=gh)
        for l in range(layers):
            if l > 0:
                torch.baddbmm(biases[l], pairs[l], weights[l], out=gates)
            torch.add(gi_rz, gh_rz, out=rz)
            rz.sigmoid_()
            torch.addcmul(gi_n, r, gh_n, out=new)  # n = tanh(W_in x + b_in + r (W_hn h + b_hn))
            new.tanh_()
            h = hs[l]  # h <- n + z (h - n)
            torch.sub(h, new, out=tmp)
            tmp.mul_(z)
            torch.add(new, tmp, out=h)
        torch.addmm(b_out, hs[layers - 1], w_out, out=logits)


@script
def gru_loop(
    n: int,
    logits: Tensor,  # [B, V] scores (logits / T), updated in place
    hs: List[Tensor],  # per layer h [B, H]
    embedding: Tensor,
    w_ih: List[Tensor],
    w_hh: List[Tensor],
    b_ih: List[Tensor],
    b_hh: List[Tensor],
    w_out: Tensor,  # [V, H] / T
    b_out: Tensor,  # [V] / T
    noise: Optional[Tensor],
    filters: List[float],  # see pick.filters
    out: Tensor,
    mkldnn: bool,
) -> List[Tensor]:
    steps, noises = per_step(out, noise)
    scores = torch.empty_like(logits)
    hs = list(hs)
    for t in range(n):
        tok = steps[t]
        pick(logits, None if noise is None else noises[t], filters, scores, tok)
        x = torch.embedding(embedding, tok)
        for l in range(len(hs)):
            x = torch.gru_cell(x, hs[l], w_ih[l], w_hh[l], b_ih[l], b_hh[l])
            hs[l] = x
        logits = linear(x, w_out, b_out, mkldnn)
    return hs + [logits]

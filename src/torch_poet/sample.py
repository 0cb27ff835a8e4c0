"""Sampling: temperature, top-k and top-p; batched and streaming generation with a lean decode loop.

How a text is made. The prompt runs once through `CharRNN.forward` (oneDNN/cuDNN, all characters in one
call); that leaves the recurrent state and the logits of the next character (a `Context`). From there one
character at a time: pick it from the logits, feed it, get the next logits. The state is carried from step
to step and never recomputed.

Speed. At batch 1 a step is three small matrix-vector products, bound by reading the weights, and Python's
per-operation overhead would cost more than the arithmetic; so the loop runs in TorchScript (C++ interpreter,
no Python per character) on buffers allocated once, with in-place operations. The weights are rearranged
once (`_LstmWeights`, `_GruWeights`, rebuilt when the parameters change): layer 1's input product becomes a
lookup table (embedding @ W_ih + biases, one row per character), deeper layers do one product over
[h_below; h_own] (the hidden states sit side by side in one buffer, so that input is a view, not a copy),
1/temperature is folded into the output layer, and the LSTM's gates are reordered (i, f, o, g) with g's rows
doubled so that one sigmoid covers all four (tanh(a) = 2 sigmoid(2a) - 1; the loop keeps -2c as its cell
state for the same reason: sigmoid is several times cheaper than tanh on CPU).
- Up to SMALL_BATCH samples (`_lstm_small_loop`, `_gru_small_loop`): each product is a `baddbmm` over two
  halves, which ATen runs on two threads, doubling the memory bandwidth of a matrix-vector product.
- More samples (`_lstm_loop`, `_gru_loop`): the products are compute-bound and go through oneDNN's fp32
  linear where this PyTorch has it (about twice the default BLAS on the CPUs measured), else F.linear.
  This is also the path on GPUs.
`fast=False` decodes with `model.step` (the plain forward, one character at a time): the reference the tests
compare the lean loops against. BENCHMARKS.md has the figures.

Randomness. Characters are drawn with the Gumbel-max trick: argmax(logits / T + G) with G = -log(-log U)
is a sample of softmax(logits / T). Every sample of a batch has its own `torch.Generator`, seeded with
seed + i, and draws its uniforms in fixed blocks of NOISE_BLOCK steps whatever the batch and chunk sizes;
so sample i of a batch is exactly the text generated alone with seed + i, and a fixed seed gives the same
text streamed or not. (Batched and single products may round differently in the last bit, which could
only matter on an exact tie.)
"""

from __future__ import annotations

import functools
import math
import secrets
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import PoetError
from .model import CharRNN, State
from .model import step as model_step

NOISE_BLOCK = 64  # steps of random numbers each sample draws at a time (fixed, so results never depend on chunking)
CHUNK = 64  # steps per call of the decode loop when streaming
SMALL_BATCH = 3  # up to this batch size (on CPU) the *_small_loop decoders run; measured crossover ~4
GREEDY_BELOW = 1e-4  # a lower temperature samples as greedy: logits / T would overflow float32 (all inf, all one char)
GREEDY_TOP_P = 1e-6  # a lower top-p keeps only the likeliest character: greedy (in float32 such a p rounds to 0)


# --- settings -----------------------------------------------------------------------------------------


@dataclass
class SampleConfig:
    """How characters are picked. temperature 0 is greedy (always the most likely character)."""

    temperature: float = 0.8
    top_k: int | None = None  # keep only the k most likely characters
    top_p: float | None = None  # keep the most likely characters that together have probability >= p

    def __post_init__(self) -> None:
        check(self.temperature, self.top_k, self.top_p)
        if self.temperature < GREEDY_BELOW:
            self.temperature = 0.0
        if self.top_p is not None and self.top_p < GREEDY_TOP_P:
            self.temperature, self.top_k, self.top_p = 0.0, None, None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def check(temperature: float, top_k: int | None = None, top_p: float | None = None) -> None:
    """PoetError naming the bad value and the valid range."""
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise PoetError(f"temperature must be a number >= 0 (0 = greedy), not {temperature!r}") from None
    if not math.isfinite(t) or t < 0:
        raise PoetError(f"temperature must be a number >= 0 (0 = greedy), not {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise PoetError(f"top-k must be a whole number >= 1, not {top_k!r}")
    if top_p is not None:
        try:
            p = float(top_p)
        except (TypeError, ValueError):
            p = float("nan")
        if not 0 < p <= 1:
            raise PoetError(f"top-p must be in (0, 1], not {top_p!r}")


def encode(vocab: str, text: str, skip_unknown: bool = False) -> list[int]:
    """Token ids of text; characters outside the vocabulary are an error, or dropped with a warning."""
    index = {c: i for i, c in enumerate(vocab)}
    missing = sorted({c for c in text if c not in index})
    if missing:
        shown = " ".join(repr(c) for c in missing[:20]) + (" ..." if len(missing) > 20 else "")
        if not skip_unknown:
            raise PoetError(
                f"the prompt has characters the model never saw: {shown}; "
                "remove them or pass --skip-unknown (skip_unknown=True) to drop them"
            )
        warnings.warn(f"dropping characters the model never saw: {shown}", stacklevel=3)
        text = "".join(c for c in text if c in index)
    return [index[c] for c in text]


# --- where a text stands ---------------------------------------------------------------------------------


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


def _device(model: CharRNN) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def prime(model: CharRNN, ids: Sequence[int], context: Context | State | None = None) -> Context:
    """Run the prompt once through the model (all characters in one forward) from context or a zero state."""
    if isinstance(context, list):  # a bare model state: the prompt supplies the logits
        context = Context(context, None)  # type: ignore[arg-type]
    if not ids:
        if context is None or context.logits is None:
            raise PoetError("the prompt is empty: give at least one character, e.g. --prompt '. '")
        return context
    batch = context.logits.size(0) if context is not None and context.logits is not None else 1
    if context is not None and context.logits is None:
        batch = context.state[0][0].size(0)
    idx = torch.tensor([list(ids)], dtype=torch.long, device=_device(model)).expand(batch, -1)
    was_training = model.training
    model.eval()  # no dropout while generating, even from a model in the middle of training
    try:
        with _full_precision(idx.device):
            logits, state = model(idx, context.state if context is not None else None)
    finally:
        model.train(was_training)
    return Context([tuple(t.float().contiguous() for t in s) for s in state], logits[:, -1].float().contiguous())


def _full_precision(device: torch.device):
    """Generation computes in the weights' precision even when called inside a trainer's autocast block."""
    return torch.autocast(device.type, enabled=False)


def _script(fn):
    """TorchScript, so the decode loop runs without Python per step; the plain function where TorchScript
    is unavailable (same results, slower). torch.jit is deprecated in favour of torch.compile, which has no
    equivalent for a CPU loop like this one, so its warning is silenced here."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.script(fn)
    except Exception:  # noqa: BLE001 - any failure to compile leaves the plain Python function
        return fn


# --- picking a character -----------------------------------------------------------------------------------


@_script
def _filter(scores: Tensor, top_k: int, top_p: float) -> Tensor:
    """Set every character outside the top-k / top-p set to -inf (scores are logits / T)."""
    if 0 < top_k < scores.size(1):
        kth = torch.topk(scores, top_k, 1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p < 1.0:
        ordered, order = torch.sort(scores, 1, descending=True)
        probs = torch.softmax(ordered, 1)
        before = torch.cumsum(probs, 1) - probs  # probability of the characters ranked above; 0 for the first
        drop = before >= top_p
        scores = scores.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    return scores


@_script
def _pick(logits: Tensor, noise: Optional[Tensor], top_k: int, top_p: float, buffer: Tensor, out: Tensor) -> Tensor:
    """One character per row: argmax of the (filtered) scores, plus Gumbel noise (summed into `buffer`, so
    the decode loops allocate nothing per step) when sampling."""
    scores = logits
    if top_k > 0 or top_p < 1.0:
        scores = _filter(scores, top_k, top_p)
    if noise is not None:
        scores = torch.add(scores, noise, out=buffer)
    return torch.argmax(scores, 1, False, out=out)


def _gumbel_(u: Tensor) -> Tensor:
    """Uniform [0, 1) -> standard Gumbel, in place (u = 0 gives -inf: never picked)."""
    return u.log_().neg_().log_().neg_()


class _Noise:
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
                self.block, self.pos = _gumbel_(u).transpose(0, 1), 0  # [steps, B, V], a view
            k = min(n, NOISE_BLOCK - self.pos)
            parts.append(self.block[self.pos : self.pos + k])
            self.pos += k
            n -= k
        out = parts[0] if len(parts) == 1 else torch.cat(parts)
        return out.to(self.device, non_blocking=True)


# --- decode loops ----------------------------------------------------------------------------------------


def _mkldnn_linear_works() -> bool:
    """oneDNN's fp32 linear (the op behind torch.compile's CPU linears) runs about twice as fast as the default
    BLAS here at batch 256; use it where this build has it and it computes what F.linear computes."""
    try:
        x, w, b = torch.randn(3, 8), torch.randn(5, 8), torch.randn(5)
        y = torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
        return bool(torch.allclose(y, F.linear(x, w, b), atol=1e-5))
    except Exception:  # noqa: BLE001 - not built with oneDNN, or the op changed: use F.linear
        return False


MKLDNN = _mkldnn_linear_works()

if MKLDNN:

    @_script
    def _linear(x: Tensor, w: Tensor, b: Optional[Tensor], mkldnn: bool) -> Tensor:
        if mkldnn:
            return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
        return F.linear(x, w, b)

else:

    @_script
    def _linear(x: Tensor, w: Tensor, b: Optional[Tensor], mkldnn: bool) -> Tensor:
        return F.linear(x, w, b)


@_script
def _lstm_loop(
    n: int,
    logits: Tensor,  # [B, V] scores of the next character (logits / T), updated in place
    hidden: Tensor,  # [B, layers * H]: every layer's h side by side, updated in place
    cells: List[Tensor],  # per layer -2 * c [B, H] (see _LstmWeights), updated in place
    table: Tensor,  # [V, 4H] layer 1: embedding @ W_ih^T + b_ih + b_hh
    weights: List[Tensor],  # layer 1: W_hh [4H, H]; deeper: [W_ih W_hh] [4H, 2H]
    biases: List[Tensor],  # deeper layers: b_ih + b_hh [4H] (layer 1's entry is unused)
    w_out: Tensor,  # [V, H] head weight / T
    b_out: Tensor,  # [V] head bias / T
    noise: Optional[Tensor],  # [n, B, V] Gumbel noise, None for greedy
    top_k: int,
    top_p: float,
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
    steps = out.unbind(0)
    noises: List[Tensor] = [] if noise is None else noise.unbind(0)
    x = logits
    for t in range(n):
        tok = steps[t]
        _pick(x, None if noise is None else noises[t], top_k, top_p, scores, tok)
        gates = _linear(hs[0], weights[0], None, mkldnn)
        gates.add_(torch.index_select(table, 0, tok))
        for l in range(layers):
            if l > 0:
                gates = _linear(inputs[l], weights[l], biases[l], mkldnn)
            gates.sigmoid_()  # i, f, o and (g + 1) / 2: the g rows are doubled, tanh(a) = 2 sigmoid(2a) - 1
            i, f, o, g = gates.chunk(4, 1)
            c = cells[l]  # c' = -2c: c' <- f c' - 2 i tanh(a) = f c' - 4 i sigmoid(2a) + 2 i
            c.mul_(f).addcmul_(i, g, value=-4.0).add_(i, alpha=2.0)
            torch.sigmoid(c, out=tmp)  # h = o tanh(c) = o (1 - 2 sigmoid(-2c)) = o - 2 o sigmoid(c')
            torch.addcmul(o, o, tmp, value=-2.0, out=hs[l])
        x = _linear(hs[layers - 1], w_out, b_out, mkldnn)
    logits.copy_(x)


@_script
def _lstm_small_loop(
    n: int,
    logits: Tensor,  # [B, V] scores of the next character (logits / T), updated in place
    hidden: Tensor,  # [B, layers * H]: every layer's h side by side, updated in place
    cells: List[Tensor],  # per layer -2 * c [B, H], updated in place
    table: Tensor,  # [2, V, 2H] layer 1's input gates, in two halves: (i, f) and (o, 2g)
    weights: List[Tensor],  # [2, K, 2H] per layer: W_hh (layer 1) or [W_ih W_hh] (deeper), transposed, halves
    biases: List[Tensor],  # [2, 1, 2H] deeper layers' b_ih + b_hh (layer 1's entry is unused)
    w_out: Tensor,  # [H, V] head weight^T / T
    b_out: Tensor,  # [V] head bias / T
    noise: Optional[Tensor],
    top_k: int,
    top_p: float,
    out: Tensor,
) -> None:
    """The loop for one or a few samples, where the cost is reading the weights and Python-free, in-place
    operations on preallocated buffers matter most. Each gate product is a batched product over the two
    halves of the gates, which ATen runs on two threads: twice the memory bandwidth of one matrix-vector
    product (and the same arithmetic)."""
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
    steps = out.unbind(0)
    noises: List[Tensor] = [] if noise is None else noise.unbind(0)
    for t in range(n):
        tok = steps[t]
        _pick(logits, None if noise is None else noises[t], top_k, top_p, scores, tok)
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


@_script
def _gru_small_loop(
    n: int,
    logits: Tensor,  # [B, V] scores (logits / T), updated in place
    hidden: Tensor,  # [layers, B, H], updated in place
    table: Tensor,  # [V, 3H] layer 1's input gates: embedding @ W_ih^T + b_ih
    w_hh: Tensor,  # [H, 3H] layer 1's W_hh^T
    b_hh: Tensor,  # [3H]
    weights: List[Tensor],  # deeper layers: [2, H, 3H] = (W_ih^T, W_hh^T) (layer 1's entry is unused)
    biases: List[Tensor],  # deeper layers: [2, 1, 3H] = (b_ih, b_hh)
    w_out: Tensor,  # [H, V] head weight^T / T
    b_out: Tensor,  # [V] head bias / T
    noise: Optional[Tensor],
    top_k: int,
    top_p: float,
    out: Tensor,
) -> None:
    """The GRU counterpart of _lstm_small_loop: a deeper layer's input and hidden products are one batched
    product over [h_below; h_own] (adjacent in `hidden`), which ATen runs on two threads."""
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
    steps = out.unbind(0)
    noises: List[Tensor] = [] if noise is None else noise.unbind(0)
    for t in range(n):
        tok = steps[t]
        _pick(logits, None if noise is None else noises[t], top_k, top_p, scores, tok)
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


@_script
def _gru_loop(
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
    top_k: int,
    top_p: float,
    out: Tensor,
    mkldnn: bool,
) -> List[Tensor]:
    steps = out.unbind(0)
    noises: List[Tensor] = [] if noise is None else noise.unbind(0)
    scores = torch.empty_like(logits)
    hs = list(hs)
    for t in range(n):
        tok = steps[t]
        _pick(logits, None if noise is None else noises[t], top_k, top_p, scores, tok)
        x = torch.embedding(embedding, tok)
        for l in range(len(hs)):
            x = torch.gru_cell(x, hs[l], w_ih[l], w_hh[l], b_ih[l], b_hh[l])
            hs[l] = x
        logits = _linear(x, w_out, b_out, mkldnn)
    return hs + [logits]


def _reorder(w: Tensor, hidden: int) -> Tensor:
    """PyTorch's LSTM gate order (i, f, g, o) -> (i, f, o, 2g), along dim 0."""
    i, f, g, o = w.split(hidden, 0)
    return torch.cat([i, f, o, 2 * g])


class _LstmWeights:
    """The LSTM's weights rearranged for `_lstm_loop`: gates reordered (i, f, o, g) so one sigmoid covers
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
        """The same in halves for _lstm_small_loop (built on first use): table [2, V, 2H], weights [2, K, 2H]
        (transposed), biases [2, 1, 2H]."""
        H2 = self.table.size(1) // 2
        return (
            self.table.reshape(-1, 2, H2).transpose(0, 1).contiguous(),
            [w.reshape(2, H2, -1).transpose(1, 2).contiguous() for w in self.weights],
            [b.reshape(2, 1, H2).contiguous() for b in self.biases],
        )


class _Decoder:
    """Runs n steps for a batch from a context; keeps its own buffers between calls."""

    def run(self, n: int, noise: Tensor | None, top_k: int, top_p: float) -> Tensor:
        raise NotImplementedError

    def context(self) -> Context:
        raise NotImplementedError


def _head(model: CharRNN, temperature: float) -> tuple[Tensor, Tensor]:
    """The output layer with 1/temperature folded in."""
    scale = 1.0 / temperature if temperature > 0 else 1.0
    return (model.head.weight.detach() * scale).contiguous(), (model.head.bias.detach() * scale).contiguous()


class _LstmDecoder(_Decoder):
    def __init__(self, model: CharRNN, weights: _LstmWeights, context: Context, temperature: float):
        self.model, self.w, self.temperature = model, weights, temperature
        self.w_out, self.b_out = _head(model, temperature)
        scale = 1.0 / temperature if temperature > 0 else 1.0
        self.logits = (context.logits.float() * scale).contiguous()
        self.hidden = torch.cat([s[0] for s in context.state], 1).float().contiguous()
        self.cells = [s[1].float() * -2.0 for s in context.state]  # the loop keeps -2c (exact: a power of 2)
        self.mkldnn = MKLDNN and self.logits.device.type == "cpu"
        self.w_out_t = self.w_out.t().contiguous()

    def run(self, n, noise, top_k, top_p):
        out = torch.empty(n, self.logits.size(0), dtype=torch.long, device=self.logits.device)
        w = self.w
        if self.logits.size(0) <= SMALL_BATCH and self.logits.device.type == "cpu":
            _lstm_small_loop(
                n, self.logits, self.hidden, self.cells, *w.small, self.w_out_t, self.b_out, noise, top_k, top_p, out
            )
        else:
            _lstm_loop(
                n, self.logits, self.hidden, self.cells, w.table, w.weights, w.biases,
                self.w_out, self.b_out, noise, top_k, top_p, out, self.mkldnn,
            )  # fmt: skip
        return out

    def context(self) -> Context:
        H = self.model.config.hidden
        hs = [self.hidden[:, l * H : (l + 1) * H].clone() for l in range(len(self.cells))]
        state = [(h, c * -0.5) for h, c in zip(hs, self.cells)]
        return Context(state, F.linear(hs[-1], self.model.head.weight, self.model.head.bias).detach())


class _GruWeights:
    """The GRU's weights for `_gru_small_loop` (`_gru_loop` uses the model's own)."""

    @torch.no_grad()
    def __init__(self, model: CharRNN):
        first = model.rnns[0]
        self.table = F.linear(model.embed.weight, first.weight_ih_l0, first.bias_ih_l0).contiguous()
        self.w_hh = first.weight_hh_l0.t().contiguous()
        self.b_hh = first.bias_hh_l0.detach().contiguous()
        self.weights = [self.w_hh] + [torch.stack([r.weight_ih_l0.t(), r.weight_hh_l0.t()]).contiguous() for r in model.rnns[1:]]
        self.biases = [self.b_hh] + [torch.stack([r.bias_ih_l0, r.bias_hh_l0]).unsqueeze(1).contiguous() for r in model.rnns[1:]]
        keys = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        self.params = [[getattr(r, f"{k}_l0").detach() for r in model.rnns] for k in keys]
        self.embedding = model.embed.weight.detach()


class _GruDecoder(_Decoder):
    def __init__(self, model: CharRNN, weights: _GruWeights, context: Context, temperature: float):
        self.model, self.w = model, weights
        self.w_out, self.b_out = _head(model, temperature)
        self.w_out_t = self.w_out.t().contiguous()
        scale = 1.0 / temperature if temperature > 0 else 1.0
        self.logits = (context.logits.float() * scale).contiguous()
        self.hidden = torch.stack([s[0].float() for s in context.state]).contiguous()  # [layers, B, H]

    def run(self, n, noise, top_k, top_p):
        out = torch.empty(n, self.logits.size(0), dtype=torch.long, device=self.logits.device)
        w = self.w
        if self.logits.size(0) <= SMALL_BATCH and self.logits.device.type == "cpu":
            _gru_small_loop(
                n, self.logits, self.hidden, w.table, w.w_hh, w.b_hh, w.weights, w.biases,
                self.w_out_t, self.b_out, noise, top_k, top_p, out,
            )  # fmt: skip
        else:
            *hs, logits = _gru_loop(
                n, self.logits, list(self.hidden.unbind(0)), w.embedding, *w.params, self.w_out, self.b_out,
                noise, top_k, top_p, out, MKLDNN and self.logits.device.type == "cpu",
            )  # fmt: skip
            self.hidden.copy_(torch.stack(hs))
            self.logits.copy_(logits)
        return out

    def context(self) -> Context:
        hs = [h.clone() for h in self.hidden.unbind(0)]
        return Context([(h,) for h in hs], F.linear(hs[-1], self.model.head.weight, self.model.head.bias).detach())


class _ReferenceDecoder(_Decoder):
    """The plain path: `model.step` (CharRNN.forward on one character) per step. Slow; the tests' yardstick."""

    def __init__(self, model: CharRNN, context: Context, temperature: float):
        self.model, self.temperature = model, temperature
        self.state = [tuple(t.clone() for t in s) for s in context.state]
        self.raw = context.logits.clone()

    @torch.no_grad()
    def run(self, n, noise, top_k, top_p):
        out = torch.empty(n, self.raw.size(0), dtype=torch.long, device=self.raw.device)
        was_training = self.model.training
        self.model.eval()
        try:
            for t in range(n):
                scores = self.raw / self.temperature if self.temperature > 0 else self.raw
                scores = scores.float()
                _pick(scores, None if noise is None else noise[t], top_k, top_p, torch.empty_like(scores), out[t])
                self.raw, self.state = model_step(self.model, out[t], self.state)
        finally:
            self.model.train(was_training)
        return out

    def context(self) -> Context:
        return Context([tuple(t.clone() for t in s) for s in self.state], self.raw.clone())


# --- generation ----------------------------------------------------------------------------------------------


class Stream:
    """Generation in progress. Iterate for chunks (a list with one string per sample, CHUNK steps at a
    time), or `read(n)` for exactly the next n characters of every sample. `texts` holds everything
    generated so far, `context` where the samples stand now (to continue them later), `seed` the seed of
    sample 0 (sample i uses seed + i)."""

    def __init__(
        self, decoder: _Decoder, vocab: str, length: int | None, config: SampleConfig, num: int, seed: int | None,
        device: torch.device, chunk: int = CHUNK,
    ):  # fmt: skip
        self.decoder = decoder
        self.vocab = vocab
        self.device = device
        self.remaining = math.inf if length is None else int(length)
        self.config = config
        self.num = num
        self.seed = seed if seed is not None else secrets.randbelow(2**31)
        self.chunk = chunk
        self.top_k = config.top_k or 0
        self.top_p = 1.0 if config.top_p is None else float(config.top_p)
        self.noise = None if config.greedy else _Noise([self.seed + i for i in range(num)], len(vocab), device)
        self._parts: list[list[str]] = [[] for _ in range(num)]

    def __iter__(self) -> Iterator[list[str]]:
        return self

    def __next__(self) -> list[str]:
        if self.remaining <= 0:
            raise StopIteration
        return self.read(self.chunk)

    @torch.no_grad()
    def read(self, n: int) -> list[str]:
        """The next n characters of every sample (fewer when the length is reached)."""
        n = int(min(n, self.remaining))
        if n <= 0:
            return [""] * self.num
        noise = self.noise.take(n) if self.noise is not None else None
        with _full_precision(self.device):
            tokens = self.decoder.run(n, noise, self.top_k, self.top_p)
        self.remaining -= n
        chars = self.vocab
        texts = ["".join(map(chars.__getitem__, row)) for row in tokens.t().tolist()]
        for parts, text in zip(self._parts, texts):
            parts.append(text)
        return texts

    def read_all(self) -> list[str]:
        if math.isinf(self.remaining):
            raise PoetError("this stream has no length: read it in chunks")
        for _ in self:
            pass
        return self.texts

    @property
    def texts(self) -> list[str]:
        return ["".join(p) for p in self._parts]

    @property
    def context(self) -> Context:
        with torch.no_grad(), _full_precision(self.device):
            return self.decoder.context()


class Sampler:
    """A model and its vocabulary, ready to generate. Prepared weights are cached and rebuilt when the
    model's parameters change (e.g. between training steps)."""

    def __init__(self, model: CharRNN, vocab: str, fast: bool = True):
        model = getattr(model, "_orig_mod", model)  # torch.compile's wrapper
        model = getattr(model, "module", model)  # DistributedDataParallel's
        if len(vocab) != model.config.vocab_size:
            raise PoetError(f"the vocabulary has {len(vocab)} characters but the model {model.config.vocab_size}")
        self.model = model
        self.vocab = vocab
        self.fast = fast
        self._weights: tuple[tuple, _LstmWeights | _GruWeights] | None = None

    @property
    def device(self) -> torch.device:
        return _device(self.model)

    def encode(self, text: str, skip_unknown: bool = False) -> list[int]:
        return encode(self.vocab, text, skip_unknown)

    def prime(self, prompt: str, context: Context | State | None = None, skip_unknown: bool = False) -> Context:
        return prime(self.model, self.encode(prompt, skip_unknown), context)

    def _prepared(self) -> _LstmWeights | _GruWeights:
        """The rearranged weights, rebuilt when a parameter was replaced or changed in place."""
        version = tuple((id(p), p._version) for p in self.model.parameters())
        if self._weights is None or self._weights[0] != version:
            kind = _LstmWeights if self.model.config.cell == "lstm" else _GruWeights
            self._weights = (version, kind(self.model))
        return self._weights[1]

    def decoder(self, context: Context, temperature: float) -> _Decoder:
        if not self.fast or self.model.head.weight.dtype != torch.float32:
            return _ReferenceDecoder(self.model, context, temperature)
        if self.model.config.cell == "lstm":
            return _LstmDecoder(self.model, self._prepared(), context, temperature)
        return _GruDecoder(self.model, self._prepared(), context, temperature)

    def stream(
        self,
        prompt: str = "",
        length: int | None = 700,
        temperature: float = 0.8,
        top_k: int | None = None,
        top_p: float | None = None,
        num: int = 1,
        seed: int | None = None,
        state: Context | State | None = None,
        skip_unknown: bool = False,
        chunk: int = CHUNK,
    ) -> Stream:
        config = SampleConfig(temperature, top_k, top_p)
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise PoetError(f"num must be a whole number >= 1, not {num!r}")
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 0):
            raise PoetError(f"length must be a whole number >= 0, not {length!r}")
        context = self.prime(prompt, state, skip_unknown).expand(num)
        with _full_precision(self.device):
            decoder = self.decoder(context, float(config.temperature))
        return Stream(decoder, self.vocab, length, config, num, seed, self.device, chunk)

    def generate(self, prompt: str = "", length: int = 700, **kwargs) -> list[str]:
        return self.stream(prompt, length, **kwargs).read_all()


def stream(model: CharRNN, vocab: str, prompt: str, length: int | None, fast: bool = True, **options: Any) -> Stream:
    """Generation as it happens: iterate for chunks, one string per sample (see `Stream`). Options as for
    `Sampler.stream`: temperature, top_k, top_p, num, seed, state, skip_unknown, chunk."""
    return Sampler(model, vocab, fast).stream(prompt, length, **options)


def generate(model: CharRNN, vocab: str, prompt: str, length: int, fast: bool = True, **options: Any) -> list[str]:
    """num continuations of prompt, length characters each (the prompt itself not included).

    temperature 0 picks the most likely character every time; top_k / top_p restrict the choice;
    seed makes it reproducible (sample i uses seed + i); state continues from a `Context`.
    """
    return stream(model, vocab, prompt, length, fast, **options).read_all()

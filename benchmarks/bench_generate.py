"""Generation speed: the original tool's loop against torch-poet's lean decode loop, 2x256 LSTM, vocab 90.

The baseline re-implements the original tool's generation: per character a one-hot input of the last
character through nn.LSTM (batch_first, the state carried), Linear, softmax with temperature,
torch.multinomial and .item(). Ours is `torch_poet.generate` (prompt once through the model, then the
TorchScript decode loop). Weights are random: speed does not depend on them.
Targets: batch 1 >= 20,000 chars/s; batch 256 >= 100,000 chars/s in aggregate.

    .venv/bin/python benchmarks/bench_generate.py [--threads 2] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
import torch.nn.functional as F
from torch import nn

from torch_poet.config import SampleConfig
from torch_poet.model import CharRNN, ModelConfig
from torch_poet.generate import Sampler

VOCAB = "".join(chr(c) for c in range(32, 122))  # 90 characters


class Baseline(nn.Module):
    """The original tool's model: one-hot characters into a 2-layer nn.LSTM, then Linear."""

    def __init__(self, vocab: int, hidden: int, layers: int):
        super().__init__()
        self.vocab = vocab
        self.lstm = nn.LSTM(vocab, hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    @torch.no_grad()
    def generate(self, prompt: list[int], length: int, temperature: float = 0.8) -> list[int]:
        state = None
        for c in prompt[:-1]:
            x = torch.zeros(1, 1, self.vocab)
            x[0, 0, c] = 1
            _, state = self.lstm(x, state)
        c, out = prompt[-1], []
        for _ in range(length):
            x = torch.zeros(1, 1, self.vocab)
            x[0, 0, c] = 1
            y, state = self.lstm(x, state)
            probs = F.softmax(self.out(y[:, -1]) / temperature, dim=-1)
            c = torch.multinomial(probs, 1).item()
            out.append(c)
        return out


def rate(fn, chars: int, repeat: int) -> float:
    """Best chars/s over repeat runs (after one warm-up run)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return chars / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--length", type=int, default=2000, help="characters per batch-1 run")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--batch-length", type=int, default=200, help="characters per sample in the batch run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    V, prompt = len(VOCAB), ". "
    ids = [VOCAB.index(c) for c in prompt]

    baseline = Baseline(V, args.hidden, args.layers).eval()
    base_len = max(200, args.length // 10)
    r_base = rate(lambda: baseline.generate(ids, base_len), base_len, max(1, args.repeat // 2))
    # the same at one thread, where the baseline is faster (its ops are too small for two)
    torch.set_num_threads(1)
    r_base1 = rate(lambda: baseline.generate(ids, base_len), base_len, max(1, args.repeat // 2))
    lean1 = Sampler(CharRNN(ModelConfig(vocab_size=V, hidden=args.hidden, layers=args.layers, embedding=64)).eval(), VOCAB)
    one = SampleConfig(args.length, temperature=0.8, seed=1)
    filtered = SampleConfig(args.length, temperature=0.8, top_k=20, top_p=0.95, seed=1)
    batch = SampleConfig(args.batch_length, temperature=0.8, num=args.batch, seed=1)
    r_lean1 = rate(lambda: lean1.generate(prompt, one), args.length, args.repeat)
    torch.set_num_threads(args.threads)

    rows = []
    for cell in ("lstm", "gru"):
        model = CharRNN(ModelConfig(vocab_size=V, cell=cell, layers=args.layers, hidden=args.hidden, embedding=64))
        gen = Sampler(model.eval(), VOCAB).generate
        r1 = rate(lambda gen=gen: gen(prompt, one), args.length, args.repeat)
        rk = rate(lambda gen=gen: gen(prompt, filtered), args.length, args.repeat)
        rb = rate(lambda gen=gen: gen(prompt, batch), args.batch * args.batch_length, max(1, args.repeat // 2))
        rows.append((cell, r1, rk, rb))
    plain = CharRNN(ModelConfig(vocab_size=V, hidden=args.hidden, layers=args.layers, embedding=64)).eval()
    reference = Sampler(plain, VOCAB, fast=False)
    short = SampleConfig(base_len, temperature=0.8, seed=1)
    r_ref = rate(lambda: reference.generate(prompt, short), base_len, max(1, args.repeat // 2))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"model: {args.layers}x{args.hidden} (embedding 64, vocab {V}), temperature 0.8\n")
    head = f"{'path':<44} {'batch':>5} {'chars/s':>10} {'vs baseline':>12} {'target':>9}"
    print(head)
    print("-" * len(head))
    print(f"{'baseline: original loop (one-hot, multinomial)':<44} {1:>5} {r_base:>10,.0f} {1:>11.1f}x {'':>9}")
    print(f"{'baseline, 1 thread':<44} {1:>5} {r_base1:>10,.0f} {r_base1 / r_base:>11.1f}x {'':>9}")
    print(f"{'torch-poet lstm, 1 thread':<44} {1:>5} {r_lean1:>10,.0f} {r_lean1 / r_base:>11.1f}x {'':>9}")
    print(f"{'model.step per char (plain forward)':<44} {1:>5} {r_ref:>10,.0f} {r_ref / r_base:>11.1f}x {'':>9}")
    for cell, r1, rk, rb in rows:
        t1, tb = ("20,000", "100,000") if cell == "lstm" else ("", "")
        print(f"{'torch-poet ' + cell:<44} {1:>5} {r1:>10,.0f} {r1 / r_base:>11.1f}x {t1:>9}")
        print(f"{'torch-poet ' + cell + ' top-k 20, top-p 0.95':<44} {1:>5} {rk:>10,.0f} {rk / r_base:>11.1f}x {'':>9}")
        print(f"{'torch-poet ' + cell:<44} {args.batch:>5} {rb:>10,.0f} {rb / r_base:>11.1f}x {tb:>9}")


if __name__ == "__main__":
    main()

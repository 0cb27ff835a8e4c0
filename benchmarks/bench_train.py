"""Training benchmarks, side by side in one run (figures go into BENCHMARKS.md).

1. throughput: the original tool's training step (one-hot input, nn.LSTM 2x256 batch_first, Linear,
   CrossEntropy, Adam 1e-4, DataLoader over shuffled 64-char windows taken every 10 chars, batch 256)
   vs ours with the same shape (2x256, 64 steps, batch 256), in seconds per sample.
2. time to quality on tiny-shakespeare (first 90% train, last 10% validation, the whole split evaluated
   with the state carried across windows): validation loss against training time (eval excluded), with
   the shape `poet train --minutes M` sizes for this device.
   nanogpt: the same, and in the same run a reimplementation of nanoGPT's CPU recipe on the same split
   (its whole held-out part evaluated), one run per budget each; a table of both at 2, 5 and 10 minutes.
   sizing: held-out loss of each candidate shape after N training chars, to fill sizing.SHAPES.
3. validation bits per char after N minutes on the default women_writers library.
4. data-parallel scaling (--nproc N): `poet train --nproc N` with 1 thread per process and N times the
   batch against 1 process with 1 thread, 2x256/64 steps/128 rows per process; efficiency =
   samples/s of N processes / (N x samples/s of one).
5. regularisers: one training step with no dropout, variational dropout, embedding dropout and weight
   dropout, side by side, at two sized shapes.
6. threads: a training step with OpenMP's default wait policy against PASSIVE (what `poet train` sets).
7. shards: a training step split over the cores by rows, one thread each (what `poet train` runs on a
   CPU), against one call on all cores.

Set OMP_WAIT_POLICY=PASSIVE in the environment to measure what `poet train` runs (it sets that itself).

    python benchmarks/bench_train.py                       # everything (about 70 minutes)
    python benchmarks/bench_train.py --only throughput
    python benchmarks/bench_train.py --only quality --minutes 2
    python benchmarks/bench_train.py --only nanogpt --minutes 2 5 10     # ~35 minutes
    python benchmarks/bench_train.py --only quality --minutes 20         # the 20-minute adaptation check
    python benchmarks/bench_train.py --only sizing --device cuda --shapes 5 --chars 1e6 3e6 1e7 3e7 1e8
    POET_GUTENBERG_URL=../shared/gutenberg python benchmarks/bench_train.py --only library --minutes 10
    python benchmarks/bench_train.py --nproc 2              # scaling alone (--nproc implies --only scaling)
    python benchmarks/bench_train.py --only regularisers
    python benchmarks/bench_train.py --only threads
    python benchmarks/bench_train.py --only shards
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from torch_poet.config import WOMEN_WRITERS, TrainConfig
from torch_poet.library import Library, Text, build
from torch_poet.model import CharRNN, ModelConfig
from torch_poet.train import sizing
from torch_poet.train.hooks import Heartbeat
from torch_poet.train.loop import Trainer, train_step
from torch_poet.train.resume import Start
from torch_poet.train.run import standard_hooks
from torch_poet.train.data import Batches
from torch_poet.train.shards import cpu_shards

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHAKESPEARE = SHARED / "corpora" / "tiny-shakespeare.txt"


# --- 1. throughput -----------------------------------------------------------------------------------


class Windows(Dataset):
    """The original tool's data: 64-char windows every 10 chars, one-hot by indexing an identity matrix."""

    def __init__(self, ids: torch.Tensor, seq: int = 64, stride: int = 10):
        self.ids, self.seq, self.stride = ids, seq, stride

    def __len__(self):
        return (len(self.ids) - self.seq - 1) // self.stride

    def __getitem__(self, i):
        s = i * self.stride
        return self.ids[s : s + self.seq], self.ids[s + 1 : s + self.seq + 1]


class OriginalModel(nn.Module):
    def __init__(self, vocab: int, hidden: int = 256, layers: int = 2):
        super().__init__()
        self.register_buffer("eye", torch.eye(vocab))
        self.lstm = nn.LSTM(vocab, hidden, layers, batch_first=True)
        self.fc = nn.Linear(hidden, vocab)

    def forward(self, x):
        y, _ = self.lstm(self.eye[x])
        return self.fc(y)


def baseline_sec_per_sample(ids: torch.Tensor, vocab: int, steps: int, device: str = "cpu") -> float:
    model = OriginalModel(vocab).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    crit = nn.CrossEntropyLoss()
    loader = DataLoader(Windows(ids), batch_size=256, shuffle=True, drop_last=True)
    it = iter(loader)
    t = 0.0
    for i in range(steps + 2):  # two warm-up steps
        start = time.perf_counter()
        x, y = (t_.to(device) for t_ in next(it))
        out = model(x)
        loss = crit(out.reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device != "cpu":
            torch.cuda.synchronize()
        if i >= 2:
            t += time.perf_counter() - start
    return t / (steps * 256)


def ours_sec_per_sample(
    library: Library, steps: int, precision: str, device: str = "cpu", shape: tuple[int, int, int, int] = (2, 256, 64, 256),
    compile: bool = False,
) -> float:
    """Our training step at a shape (layers, hidden, seq_len, batch), as the trainer reports it (eval excluded)."""
    layers, hidden, seq_len, batch = shape
    with tempfile.TemporaryDirectory() as d:
        cfg = TrainConfig(batch_size=batch, seq_len=seq_len, steps=2, snapshot_every=1e9, precision=precision,
                          device=device, compile=compile)  # fmt: skip
        model = ModelConfig(layers=layers, hidden=hidden, embedding=64, dropout=0.0)  # the original has no dropout
        trainer = Trainer(library, Start.resolve(Path(d) / "m", {**asdict(model), **asdict(cfg)}), log=lambda m: None)
        trainer.run()  # warm-up: oneDNN builds its primitives on the first steps
        trainer.cfg.steps = steps + 2
        trainer.run()
        return trainer.history[-1]["sec_per_sample"]


def heartbeat_cost(steps: int, rounds: int = 3) -> None:
    """Training chars/s without and with the heartbeat the dashboard reads between snapshots (a file written every
    2 s), alternated `rounds` times: 2x256 LSTM, batch 64x128, `steps` steps a run."""
    library = Library.from_texts([Text("shakespeare", "tiny-shakespeare", "", SHAKESPEARE.read_text())])
    rates: dict[str, list[float]] = {"without": [], "with heartbeat": []}
    for _ in range(rounds):
        for name, hooks in (("without", []), ("with heartbeat", [Heartbeat()])):
            with tempfile.TemporaryDirectory() as d:
                settings = {**asdict(ModelConfig(layers=2, hidden=256)),
                            **asdict(TrainConfig(batch_size=64, seq_len=128, steps=steps, snapshot_every=1e9))}  # fmt: skip
                trainer = Trainer(library, Start.resolve(Path(d) / "m", settings), hooks, log=lambda m: None)
                trainer.run()
                rates[name].append(trainer.history[-1]["chars_per_sec"])
    print(f"\n## heartbeat cost, 2x256 LSTM, batch 64x128, {steps} steps a run, {rounds} rounds alternated")
    for name, r in rates.items():
        print(f"{name:16} median {statistics.median(r):9,.0f} chars/s  ({', '.join(f'{x:,.0f}' for x in r)})")


def throughput(steps: int) -> None:
    text = SHAKESPEARE.read_text()
    library = Library.from_texts([Text("shakespeare", "tiny-shakespeare", "", text)])
    ids = torch.from_numpy(library.encode(text))
    base = baseline_sec_per_sample(ids, len(library.vocab), steps)
    rows = [("original step (one-hot, DataLoader, Adam, fp32)", base)]
    for precision in ("fp32", "auto"):
        rows.append((f"torch-poet (precision={precision})", ours_sec_per_sample(library, steps, precision)))
    print(f"\n## throughput, 2x256 LSTM, 64 steps, batch 256, {torch.get_num_threads()} threads, {steps} steps")
    print(f"{'':52} {'s/sample':>10} {'speed-up':>9}")
    for name, s in rows:
        print(f"{name:52} {s:10.6f} {base / s:8.2f}x")


# --- 2. and 3. quality against time --------------------------------------------------------------


def quality(
    library: Library, minutes: float, val_fraction: float, eval_chars: int | None, every: float, label: str,
    device: str = "auto",
):
    """`poet train --minutes M`'s recipe: the shape sized for the budget on this device, then trained."""
    with tempfile.TemporaryDirectory() as d:
        settings = dict(minutes=minutes, snapshot_every=every, val_fraction=val_fraction, eval_chars=eval_chars,
                        sample_every=1e9, device=device)  # none of the sized fields: those are sized
        start = sizing.apply(Start.resolve(Path(d) / "m", settings), library)
        picked = start.sizing
        trainer = Trainer(library, start, standard_hooks(start, print))
        trainer.run()
    h = trainer.history
    best = min(x["val_loss"] for x in h)
    print(f"\n## time to quality: {label}, --minutes {minutes}: {picked['picked']}")
    print(f"{'minutes':>8} {'step':>7} {'val nats':>9} {'val bpc':>8} {'read':>5} {'chars/s':>9}")
    for x in h:
        print(f"{x['time'] / 60:8.2f} {x['step']:7d} {x['val_loss']:9.4f} {x['val_bpc']:8.4f} {x['readability']:5.0%} "
              f"{x['chars_per_sec']:9.0f}")  # fmt: skip
    print(f"end {h[-1]['val_loss']:.4f}, best {best:.4f} (end - best {h[-1]['val_loss'] - best:.4f})")
    return h


# --- 2b. nanoGPT's CPU recipe, side by side ----------------------------------------------------------
# A reimplementation of karpathy/nanoGPT's model.py (bias=False, as its train.py defaults) and train loop
# (AdamW with weight decay on 2-D weights, betas 0.9/0.99, linear warm-up then cosine to min_lr, random
# windows), with config/train_shakespeare_char.py and the README's CPU command: --device=cpu --compile=False
# --eval_iters=20 --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128
# --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0, with max_iters (= lr_decay_iters) set to fill
# the budget from its measured iteration speed.

NANOGPT = dict(block_size=64, batch_size=12, n_layer=4, n_head=4, n_embd=128, dropout=0.0, learning_rate=1e-3,
               min_lr=1e-4, warmup_iters=100, weight_decay=0.1, beta2=0.99, grad_clip=1.0)  # fmt: skip


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(n_embd, bias=False), nn.LayerNorm(n_embd, bias=False)
        self.c_attn, self.attn_proj = nn.Linear(n_embd, 3 * n_embd, bias=False), nn.Linear(n_embd, n_embd, bias=False)
        self.c_fc, self.mlp_proj = nn.Linear(n_embd, 4 * n_embd, bias=False), nn.Linear(4 * n_embd, n_embd, bias=False)
        self.n_head = n_head

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in self.c_attn(self.ln_1(x)).split(C, 2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.attn_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, vocab: int, block_size: int, n_layer: int, n_head: int, n_embd: int, **_):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, n_embd), nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, bias=False)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.wte.weight = self.lm_head.weight  # weight tying
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("proj.weight") else 0.02
                torch.nn.init.normal_(p, 0.0, std)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def nanogpt_lr(it: int, max_iters: int, c: dict) -> float:
    if it < c["warmup_iters"]:
        return c["learning_rate"] * (it + 1) / (c["warmup_iters"] + 1)
    if it > max_iters:
        return c["min_lr"]
    coeff = 0.5 * (1.0 + math.cos(math.pi * (it - c["warmup_iters"]) / (max_iters - c["warmup_iters"])))
    return c["min_lr"] + coeff * (c["learning_rate"] - c["min_lr"])


@torch.no_grad()
def gpt_val_loss(model: GPT, val: torch.Tensor, block: int) -> float:
    """Mean loss over the whole held-out split: consecutive windows of block_size, each char predicted once."""
    model.eval()
    n = (len(val) - 1) // block * block
    x, y = val[:n].view(-1, block), val[1 : n + 1].view(-1, block)
    total = sum(F.cross_entropy(model(xb).flatten(0, 1), yb.flatten(), reduction="sum").item()
                for xb, yb in zip(x.split(256), y.split(256)))  # fmt: skip
    model.train()
    return total / n


def nanogpt(train: torch.Tensor, val: torch.Tensor, vocab: int, minutes: float, every: float) -> list[dict]:
    """nanoGPT's recipe for `minutes` of training (evaluation excluded); whole-split loss every `every` minutes."""
    c = NANOGPT
    torch.manual_seed(1337)
    model = GPT(vocab, **c)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": c["weight_decay"]},
                             {"params": [p for p in model.parameters() if p.dim() < 2], "weight_decay": 0.0}],
                            lr=c["learning_rate"], betas=(0.9, c["beta2"]))  # fmt: skip

    def step(it: int, max_iters: int) -> None:
        ix = torch.randint(len(train) - c["block_size"], (c["batch_size"],))
        x = torch.stack([train[i : i + c["block_size"]] for i in ix])
        y = torch.stack([train[i + 1 : i + 1 + c["block_size"]] for i in ix])
        for g in opt.param_groups:
            g["lr"] = nanogpt_lr(it, max_iters, c)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), c["grad_clip"])
        opt.step()

    start = time.perf_counter()  # the first iterations measure its speed, to set max_iters for the budget
    for it in range(20):
        step(it, 10**9)
    max_iters = int(20 / (time.perf_counter() - start) * minutes * 60)
    it, trained, history, next_eval = 20, time.perf_counter() - start, [], every * 60
    while True:
        done = it >= max_iters or trained >= minutes * 60
        if trained >= next_eval or done:
            history.append({"time": trained, "step": it, "val_loss": gpt_val_loss(model, val, c["block_size"]),
                            "chars_per_sec": it * c["batch_size"] * c["block_size"] / trained})  # fmt: skip
            next_eval += every * 60
        if done:
            break
        t = time.perf_counter()
        step(it, max_iters)
        it += 1
        trained += time.perf_counter() - t
    print(f"  nanoGPT: max_iters = lr_decay_iters = {max_iters} for {minutes:g} min, ran {it}")
    return history


def side_by_side(library: Library, budgets: list[float]) -> None:
    """Ours (sized by `poet train`'s rule for each budget) and nanoGPT's recipe on the same split, each
    budget a run of its own, one after the other; whole-split held-out loss and chars/s."""
    train, val = (torch.from_numpy(part.take(np.arange(len(part)))) for part in library.split(0.1))
    rows = []
    for m in budgets:
        ours = quality(library, m, 0.1, None, min(1.0, m / 4), "tiny-shakespeare, sized")
        theirs = nanogpt(train, val, len(library.vocab), m, min(1.0, m / 4))
        for name, h in (("torch-poet (sized)", ours), ("nanoGPT CPU recipe", theirs)):
            curve = " ".join(f"{x['time'] / 60:.1f}:{x['val_loss']:.3f}" for x in h)
            print(f"  {name} {m:g} min curve (min:nats) {curve}")
        rows.append((m, ours[-1], theirs[-1]))
    print("\n## time to quality, side by side: tiny-shakespeare, first 90% train, whole last 10% held out")
    print(f"{'budget':>7} {'ours nats':>10} {'chars/s':>8} {'nanoGPT nats':>13} {'chars/s':>8} {'ours - nanoGPT':>15}")
    for m, o, t in rows:
        print(f"{m:7g} {o['val_loss']:10.4f} {o['chars_per_sec']:8.0f} {t['val_loss']:13.4f} {t['chars_per_sec']:8.0f} "
              f"{o['val_loss'] - t['val_loss']:15.4f}")  # fmt: skip


# --- 2c. the sizing table -----------------------------------------------------------------------------


def sizing_table(library: Library, chars: list[float], shapes: int, device: str) -> None:
    """Held-out loss of each candidate shape after training on each number of characters (a run per
    pair, its schedule over those characters): where a shape overtakes the one before is its min_chars.
    Characters, not seconds, so any device can measure it; a GPU measures the large shapes quickly."""
    train_chars = len(library.split(0.1)[0])
    print(f"\n## sizing table: held-out nats after N training chars, tiny-shakespeare, {device}")
    print(f"{'shape':22} " + " ".join(f"{c / 1e6:>8.1f}M" for c in chars) + f" {'chars/s':>9}")
    for shape in sizing.SHAPES[:shapes]:
        row, rate = [], 0.0
        for n in chars:
            model = ModelConfig(layers=shape.layers, hidden=shape.hidden, dropout=sizing.dropout_for(n / train_chars))
            steps = max(1, int(n // (shape.batch_size * shape.seq_len)))
            cfg = TrainConfig(steps=steps, batch_size=shape.batch_size, seq_len=shape.seq_len, lr=shape.lr,
                              snapshot_every=1e9, val_fraction=0.1, eval_chars=None, sample_every=1e9, device=device)  # fmt: skip
            with tempfile.TemporaryDirectory() as d:
                start = Start.resolve(Path(d) / "m", {**asdict(model), **asdict(cfg)})
                trainer = Trainer(library, start, log=lambda m: None)
                trainer.run()
            row.append(trainer.history[-1]["val_loss"])
            rate = trainer.history[-1]["chars_per_sec"]
        print(f"{sizing.name(shape):22} " + " ".join(f"{v:9.4f}" for v in row) + f" {rate:9.0f}", flush=True)


# --- 4. data-parallel scaling ---------------------------------------------------------------------


def processes_rate(nproc: int, steps: int, device: str) -> float:
    """Chars/s of `poet train --nproc nproc`, measured over `steps` steps after a warm-up run."""
    rows = 128
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, POET_HOME=d, OMP_NUM_THREADS="1")
        args = [sys.executable, "-m", "torch_poet", "train", "--project", "b", "--file", str(SHAKESPEARE),
                "--nproc", str(nproc), "--layers", "2", "--hidden", "256", "--seq-len", "64", "--dropout", "0",
                "--batch-size", str(rows * nproc), "--snapshot-every", "1e9", "--eval-chars", "10000",
                "--device", device]  # fmt: skip
        for total in (3, 3 + steps):  # the first run builds the model and warms up; the resumed one is timed
            out = subprocess.run(args + ["--steps", str(total)], env=env, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(out.stderr)
        history = Path(d) / "projects" / "b" / "default" / "history.jsonl"
        return json.loads(history.read_text().splitlines()[-1])["chars_per_sec"]


def scaling(nproc: int, steps: int, device: str) -> None:
    one = processes_rate(1, steps, device)
    many = processes_rate(nproc, steps, device)
    print(f"\n## data-parallel scaling on {device}: 2x256, 64 steps, 128 rows per process, 1 thread each, {steps} steps")
    print(f"{'':24} {'chars/s':>10} {'samples/s':>10} {'efficiency':>11}")
    print(f"{'1 process':24} {one:10.0f} {one / 64:10.1f} {'':>11}")
    print(f"{f'{nproc} processes (gloo)':24} {many:10.0f} {many / 64:10.1f} {many / (nproc * one):10.0%}")


# --- 5. regularisers -------------------------------------------------------------------------------


def step_seconds(model: ModelConfig, batch: int, seq_len: int, steps: int, by_shards: bool = True) -> float:
    """Median seconds of one fp32 training step of `model` on real text, by shards (one per core, as
    `poet train` runs on a CPU) or as one call on all cores."""
    text = SHAKESPEARE.read_text()
    library = Library.from_texts([Text("shakespeare", "tiny-shakespeare", "", text)])
    torch.manual_seed(0)
    net = CharRNN(replace(model, vocab_size=len(library.vocab)))
    opt = torch.optim.AdamW(net.parameters())
    batches = Batches(library.split(0.1)[0], batch, seq_len, torch.Generator().manual_seed(0))
    times, state = [], None
    with cpu_shards(torch.device("cpu"), batch) if by_shards else contextlib.nullcontext() as shards:
        for _ in range(steps + 2):
            x, y, _ = batches.next()
            start = time.perf_counter()
            _, state = train_step(net, opt, x, y, state, torch.float32, 1.0, shards)
            times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def regularisers(steps: int) -> None:
    """What each regulariser costs per step, at the smallest sized shape and the long-run CPU shape."""
    for shape in (sizing.SHAPES[0], sizing.SHAPES[2]):
        base = dict(layers=shape.layers, hidden=shape.hidden)
        rows = [("none", ModelConfig(**base, dropout=0.0)), ("variational dropout 0.3", ModelConfig(**base, dropout=0.3)),
                ("+ embedding dropout 0.1", ModelConfig(**base, dropout=0.3, embed_dropout=0.1)),
                ("+ weight dropout 0.2", ModelConfig(**base, dropout=0.3, embed_dropout=0.1, weight_dropout=0.2))]  # fmt: skip
        times = [(name, step_seconds(m, shape.batch_size, shape.seq_len, steps)) for name, m in rows]
        print(f"\n## regularisers: one training step of {sizing.name(shape)}, median of {steps}")
        for name, t in times:
            print(f"{name:28} {t:8.4f} s  {times[0][1] / t:5.2f}x  {shape.batch_size * shape.seq_len / t:9.0f} chars/s")


# --- 6. OpenMP wait policy -----------------------------------------------------------------------------


def wait_policy(steps: int) -> None:
    """A training step of two sized shapes, 2 threads, with OpenMP's default wait policy and with PASSIVE
    (what `poet train` sets), each in a fresh process (libgomp reads it once), alternated twice."""
    code = ("import sys, time, torch; from torch_poet.model import CharRNN, ModelConfig; from torch_poet.train.loop import "
            "train_step; torch.set_num_threads(2); L, H, B, T, n = map(int, sys.argv[1:]); "
            "m = CharRNN(ModelConfig(vocab_size=65, layers=L, hidden=H, dropout=0.2)); o = torch.optim.AdamW(m.parameters()); "
            "x = torch.randint(0, 65, (B, T + 1)); ts = []\n"
            "for _ in range(n + 1):\n t = time.perf_counter(); train_step(m, o, x[:, :-1], x[:, 1:], None, torch.float32, 1.0); "
            "ts.append(time.perf_counter() - t)\nprint(sorted(ts[1:])[len(ts) // 2 - 1])")  # fmt: skip
    print(f"\n## OpenMP wait policy: median seconds of a training step, 2 threads, fp32, median of {steps}")
    for shape in (sizing.SHAPES[0], sizing.SHAPES[2]):
        args = [str(v) for v in (shape.layers, shape.hidden, shape.batch_size, shape.seq_len, steps)]
        times: dict[str, list[float]] = {"default": [], "PASSIVE": []}
        for _ in range(2):
            for policy in times:
                env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
                env.update({"OMP_WAIT_POLICY": policy} if policy != "default" else {})
                out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
                times[policy].append(float(out.stdout))
        d, p = min(times["default"]), min(times["PASSIVE"])
        print(f"{sizing.name(shape):22} default {d:7.4f} s  PASSIVE {p:7.4f} s  ratio {d / p:5.2f}x  (load {os.getloadavg()[0]:.1f})")


# --- 7. shards ------------------------------------------------------------------------------------------


def shards(steps: int) -> None:
    """A training step by shards (one per core, one thread each: what `poet train` runs on a CPU) against
    one call on all cores, at the sized CPU shapes and at a wide batch, alternated twice (the faster kept)."""
    print(f"\n## shards: one training step, fp32, dropout 0.1, {torch.get_num_threads()} threads, median of {steps}")
    print(f"{'shape':22} {'one call':>12} {'by shards':>12} {'ratio':>6}")
    for layers, hidden, batch, seq_len in [(s.layers, s.hidden, s.batch_size, s.seq_len) for s in sizing.SHAPES[:3]] + [
        (2, 256, 256, 64)
    ]:
        model = ModelConfig(layers=layers, hidden=hidden, dropout=0.1)
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(2):
            for by_shards in times:
                times[by_shards].append(step_seconds(model, batch, seq_len, steps, by_shards))
        one, split = (batch * seq_len / min(times[k]) for k in (False, True))
        print(f"{f'{layers}x{hidden} {batch}x{seq_len}':22} {one:8.0f} c/s {split:8.0f} c/s {split / one:5.2f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=("throughput", "quality", "nanogpt", "sizing", "library", "scaling", "regularisers",
                                          "threads", "shards", "heartbeat"))
    p.add_argument("--chars", type=float, nargs="+", default=[1e6, 3e6, 10e6], help="sizing: training chars")
    p.add_argument("--shapes", type=int, default=3, help="sizing: how many of the candidate shapes, smallest first")
    p.add_argument("--nproc", type=int, default=None, help="scaling: worker processes (default 2); alone, runs only that")
    p.add_argument("--device", default="cpu", help="scaling, sizing: cpu or cuda")
    p.add_argument("--steps", type=int, default=20, help="throughput: timed steps per contender")
    p.add_argument("--minutes", type=float, nargs="+", default=[2.0, 5.0, 10.0], help="quality, nanogpt: budgets")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    if args.nproc and not args.only:
        args.only = "scaling"
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    if args.only in (None, "throughput"):
        throughput(args.steps)
    if args.only in (None, "quality"):
        text = SHAKESPEARE.read_text()
        library = Library.from_texts([Text("shakespeare", "tiny-shakespeare", "", text)])
        for m in args.minutes:
            quality(library, m, 0.1, None, min(0.5, m / 4), "tiny-shakespeare")
    if args.only in (None, "nanogpt"):
        text = SHAKESPEARE.read_text()
        side_by_side(Library.from_texts([Text("shakespeare", "tiny-shakespeare", "", text)]), args.minutes)
    if args.only == "sizing":  # not part of the whole run: hours on a CPU, minutes on a GPU
        text = SHAKESPEARE.read_text()
        sizing_table(Library.from_texts([Text("shakespeare", "tiny-shakespeare", "", text)]), args.chars, args.shapes,
                     args.device)  # fmt: skip
    if args.only in (None, "library"):
        library = build(WOMEN_WRITERS)
        quality(library, max(args.minutes), 0.05, 1_000_000, 1.0,
                f"women_writers ({len(library.entries)} books, {library.chars:,} chars)")
    if args.only in (None, "scaling"):
        scaling(args.nproc or 2, args.steps, args.device)
    if args.only in (None, "regularisers"):
        regularisers(args.steps)
    if args.only in (None, "threads"):
        wait_policy(min(args.steps, 5))
    if args.only in (None, "heartbeat"):
        heartbeat_cost(args.steps)
    if args.only in (None, "shards"):
        shards(args.steps)


if __name__ == "__main__":
    main()

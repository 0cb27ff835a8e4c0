"""Training benchmarks, side by side in one run (figures go into BENCHMARKS.md).

1. throughput: the original tool's training step (one-hot input, nn.LSTM 2x256 batch_first, Linear,
   CrossEntropy, Adam 1e-4, DataLoader over shuffled 64-char windows taken every 10 chars, batch 256)
   vs ours with the same shape (2x256, 64 steps, batch 256), in seconds per sample.
2. time to quality on tiny-shakespeare (first 90% train, last 10% validation, the whole split evaluated
   with the state carried across windows): validation loss against training time (eval excluded).
3. validation bits per char after N minutes on the default women_writers library.
4. data-parallel scaling (--nproc N): `poet train --nproc N` with 1 thread per process and N times the
   batch against 1 process with 1 thread, 2x256/64 steps/128 rows per process; efficiency =
   samples/s of N processes / (N x samples/s of one).
5. dropout: one default training step (2x512, batch 64x128, --precision auto) with PyTorch's F.dropout
   against the model's own CPU dropout (a torch.rand mask), side by side.

    python benchmarks/bench_train.py                       # everything (about 25 minutes)
    python benchmarks/bench_train.py --only throughput
    python benchmarks/bench_train.py --only quality --minutes 2
    POET_GUTENBERG_URL=../shared/gutenberg python benchmarks/bench_train.py --only library
    python benchmarks/bench_train.py --nproc 2              # scaling alone (--nproc implies --only scaling)
    python benchmarks/bench_train.py --only dropout
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from torch_poet.library import WOMEN_WRITERS, Library, Text, build
from torch_poet.model import ModelConfig
from torch_poet.train import TrainConfig, Trainer

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
        trainer = Trainer(library, Path(d) / "m", model, cfg, log=lambda m: None)
        trainer.run()  # warm-up: oneDNN builds its primitives on the first steps
        trainer.cfg.steps = steps + 2
        trainer.run()
        return trainer.history[-1]["sec_per_sample"]


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
    with tempfile.TemporaryDirectory() as d:
        cfg = TrainConfig(minutes=minutes, snapshot_every=every, val_fraction=val_fraction, eval_chars=eval_chars,
                          sample_every=1e9, device=device)
        trainer = Trainer(library, Path(d) / "m", None, cfg)
        trainer.run()
    print(f"\n## time to quality: {label}, --minutes {minutes} (defaults: {trainer.config['model']}, "
          f"batch {cfg.batch_size}, seq {cfg.seq_len}, lr {cfg.lr})")
    print(f"{'minutes':>8} {'step':>7} {'val nats':>9} {'val bpc':>8} {'chars/s':>9}")
    for h in trainer.history:
        print(f"{h['time'] / 60:8.2f} {h['step']:7d} {h['val_loss']:9.4f} {h['val_bpc']:8.4f} {h['chars_per_sec']:9.0f}")
    return trainer.history


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


# --- 5. dropout -----------------------------------------------------------------------------------


def step_seconds(use_torch_dropout: bool, steps: int) -> float:
    """Median seconds of a default training step, with F.dropout swapped in or not."""
    from unittest import mock

    import torch_poet.model as model_module

    text = SHAKESPEARE.read_text()[:2_000_000]
    library = Library.from_texts([Text("shakespeare", "tiny-shakespeare", "", text)])
    patch = mock.patch.object(model_module, "dropout", lambda x, p, training: F.dropout(x, p, training))
    with tempfile.TemporaryDirectory() as d, (patch if use_torch_dropout else nullcontext()):
        trainer = Trainer(library, Path(d) / "m", None, TrainConfig(steps=1, snapshot_every=1e9), log=lambda m: None)
        x, y, _ = trainer.streams.next()
        times = []
        for _ in range(steps + 2):
            start = time.perf_counter()
            trainer._step(x, y)
            times.append(time.perf_counter() - start)
        return statistics.median(times[2:])


def dropout_step(steps: int) -> None:
    rows = [(name, step_seconds(torch_dropout, steps)) for name, torch_dropout in
            (("F.dropout (bernoulli_ mask)", True), ("model.dropout (torch.rand mask)", False))]  # fmt: skip
    print(f"\n## dropout: one default training step (2x512, batch 64x128), median of {steps}")
    for name, t in rows:
        print(f"{name:36} {t:8.4f} s  {rows[0][1] / t:5.2f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=("throughput", "quality", "library", "scaling", "dropout"))
    p.add_argument("--nproc", type=int, default=None, help="scaling: worker processes (default 2); alone, runs only that")
    p.add_argument("--device", default="cpu", help="scaling: cpu or cuda")
    p.add_argument("--steps", type=int, default=20, help="throughput: timed steps per contender")
    p.add_argument("--minutes", type=float, nargs="+", default=[2.0, 10.0], help="quality: training budgets")
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
    if args.only in (None, "library"):
        library = build(WOMEN_WRITERS)
        chars = sum(len(t.text) for t in library.texts)
        quality(library, max(args.minutes), 0.05, 1_000_000, 1.0, f"women_writers ({len(library.texts)} books, {chars:,} chars)")
    if args.only in (None, "scaling"):
        scaling(args.nproc or 2, args.steps, args.device)
    if args.only in (None, "dropout"):
        dropout_step(args.steps)


if __name__ == "__main__":
    main()

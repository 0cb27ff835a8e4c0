"""The GPU suite: one prepared run on a CUDA machine that prints one table.

- training throughput, seconds per sample: the original tool's step and ours at its config (2x256 LSTM,
  64 steps, batch 256), ours with torch.compile, and ours at 3x512, 128 steps, batch 512
  (the original reports 0.00011 s/sample for 2x256 on a GTX 1080 Ti; target on an H200: <= 0.00001);
- time to quality: validation loss after --minutes of training on tiny-shakespeare (defaults);
- generation, chars/s, 2x256 LSTM: batch 1 (one stream) and batch 256 (aggregate).

    python benchmarks/gpu_suite.py                          # CUDA, about 15 minutes
    python benchmarks/gpu_suite.py --device cpu --quick     # the same code paths on a CPU in a few minutes
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import torch
from bench_generate import VOCAB, rate
from bench_train import SHAKESPEARE, baseline_sec_per_sample, ours_sec_per_sample, quality

from torch_poet.config import SampleConfig
from torch_poet.library import Library, Text
from torch_poet.model import CharRNN, ModelConfig
from torch_poet.generate import Sampler


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true", help="few steps and a 1-minute quality run: checks the paths")
    p.add_argument("--minutes", type=float, default=10.0, help="time-to-quality budget")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run with --device cpu --quick to check the suite on a CPU")
    steps, minutes = (5, 0.5) if args.quick else (50, args.minutes)
    gen_len, batch_len = (500, 50) if args.quick else (5000, 500)

    text = SHAKESPEARE.read_text()
    library = Library.from_texts([Text("shakespeare", "tiny-shakespeare", "", text)])
    ids = torch.from_numpy(library.encode(text))
    rows: list[tuple[str, str, str]] = []  # (what, figure, note)

    t = time.monotonic()
    base = baseline_sec_per_sample(ids, len(library.vocab), steps, args.device)
    rows.append(("train 2x256/64/256, original step (fp32)", f"{base:.7f} s/sample", ""))
    for label, kw in (
        ("train 2x256/64/256, torch-poet", {}),
        ("train 2x256/64/256, torch-poet + compile", {"compile": True}),
        ("train 3x512/128/512, torch-poet", {"shape": (3, 512, 128, 512)}),
    ):
        s = ours_sec_per_sample(library, steps, "auto", args.device, **kw)
        note = f"{base / s:.2f}x the original step" if "2x256" in label else ""
        rows.append((label, f"{s:.7f} s/sample", note))

    history = quality(library, minutes, 0.1, None, min(0.5, minutes / 4), "tiny-shakespeare", args.device)
    last = history[-1]
    best = min(h["val_loss"] for h in history)
    rows.append((f"time to quality, {minutes:g} min", f"val {last['val_loss']:.3f} nats", f"best {best:.3f}, step {last['step']}"))

    model = CharRNN(ModelConfig(vocab_size=len(VOCAB), layers=2, hidden=256, embedding=64)).to(args.device).eval()
    sampler = Sampler(model, VOCAB)
    alone, batch = SampleConfig(gen_len, temperature=0.8, seed=1), SampleConfig(batch_len, temperature=0.8, num=256, seed=1)
    one = rate(lambda: sampler.generate(". ", alone), gen_len, 3)
    many = rate(lambda: sampler.generate(". ", batch), 256 * batch_len, 2)
    rows.append(("generate 2x256, batch 1", f"{one:,.0f} chars/s", ""))
    rows.append(("generate 2x256, batch 256", f"{many:,.0f} chars/s", "aggregate"))

    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(f"\n## GPU suite on {args.device} ({name}), torch {torch.__version__}{', quick' if args.quick else ''}, "
          f"{(time.monotonic() - t) / 60:.1f} min")  # fmt: skip
    print(f"{'':44} {'figure':>22}  note")
    for what, figure, note in rows:
        print(f"{what:44} {figure:>22}  {note}")


if __name__ == "__main__":
    main()

"""Sizing: when the user names no shape, pick the model that learns most in the time it has here.

A small table of candidate shapes, smallest first. Each learns more than the one before it once it
has trained on enough characters: `min_chars`, read off the loss-against-characters curves that
`benchmarks/bench_train.py --only sizing` records (characters, not seconds, so they hold on any device).
A few seconds of probing time each candidate's training step on the device at hand; the pick is the
largest candidate that sees its `min_chars` within the budget. So a 2-core CPU gets a small model for
two minutes and a GPU a large one. Dropout follows the epochs the budget allows: a model that will see
its text many times needs more.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it is used: the CLI reads this table for --help without it
    import torch

    from ..library import Library
    from .resume import Start

LONG_RUN_MINUTES = 60.0  # the budget sized for when training runs until stopped
PROBE_SECONDS = 1.0  # timed training per candidate, at most (after one warm-up step)


@dataclass(frozen=True)
class Shape:
    layers: int
    hidden: int
    batch_size: int
    seq_len: int
    lr: float
    min_chars: float  # training characters from which it learns more than the shape before it


# The crossovers of the small shapes and their learning rates come from the loss-against-characters runs in
# BENCHMARKS.md (tiny-shakespeare); the large shapes' are estimates (about 5x the characters per doubling of
# the parameters) until `--only sizing` runs on a GPU. Batches: in budgets of a few thousand steps, steps
# count, so the small shapes take few rows; fewer rows than 32 lose speed on a CPU, so they halve the window
# instead, which keeps the speed (the state is carried, so the context stays long). BENCHMARKS.md has the runs.
SHAPES = (
    Shape(2, 256, 32, 64, 6e-3, 0),
    Shape(2, 384, 32, 64, 7e-3, 2.5e6),
    Shape(2, 512, 32, 64, 7e-3, 10e6),
    Shape(3, 768, 128, 128, 3e-3, 40e6),
    Shape(3, 1024, 256, 128, 2e-3, 200e6),
)
MODEL_FIELDS = ("layers", "hidden", "dropout")
TRAIN_FIELDS = ("batch_size", "seq_len", "lr", "weight_decay")
REPEATS = 3  # passes over the text from which a run overfits enough to pay for regularising it


def dropout_for(epochs: float) -> float:
    """Variational dropout for a run that sees its training text `epochs` times: none for the first three
    passes (too little repeats to overfit, and dropout slows learning), then more with each pass, up to
    2x512's best at many passes (the runs behind the rate: BENCHMARKS.md, the schedule)."""
    return round(min(0.35, max(0.0, 0.03 * (epochs - REPEATS))), 2)


def weight_decay_for(epochs: float) -> float:
    """AdamW's weight decay on the matrices: nanoGPT's 0.1 while the text is seen fewer than three times,
    then 0.3, which pays once the text repeats and only slows learning before (BENCHMARKS.md, the schedule)."""
    return 0.1 if epochs < REPEATS else 0.3


@dataclass(frozen=True)
class Choice:
    shape: Shape
    dropout: float
    weight_decay: float
    minutes: float
    chars_per_sec: float  # the picked shape's probed training speed
    device: str  # in words: "2 CPU cores", "NVIDIA H200"
    probed: dict[str, float]  # chars/s of each candidate probed, by name

    def fields(self) -> dict[str, object]:
        """What the choice sets: the model's and the training config's fields."""
        s = self.shape
        return dict(layers=s.layers, hidden=s.hidden, dropout=self.dropout, batch_size=s.batch_size,
                    seq_len=s.seq_len, lr=s.lr, weight_decay=self.weight_decay)  # fmt: skip

    def describe(self, mcfg, tcfg) -> str:
        """One line naming the budget, the device and the shape trained (explicit flags included)."""
        budget = f"{self.minutes:g} minutes" if self.minutes != LONG_RUN_MINUTES else "a long run"
        return (f"{budget} on {self.device}: {mcfg.layers}×{mcfg.hidden} {mcfg.cell.upper()}, batch "
                f"{tcfg.batch_size}×{tcfg.seq_len}, lr {tcfg.lr:g}, dropout {mcfg.dropout:g}, "
                f"weight decay {tcfg.weight_decay:g} (probed {self.chars_per_sec:,.0f} chars/s)")  # fmt: skip

    def record(self, mcfg, tcfg) -> dict:
        """What config.json keeps of the choice."""
        return {"minutes": self.minutes, "device": self.device, "probed": {k: round(v) for k, v in self.probed.items()},
                "picked": self.describe(mcfg, tcfg)}  # fmt: skip


def name(s: Shape) -> str:
    return f"{s.layers}x{s.hidden} {s.batch_size}x{s.seq_len}"


def probe(shape: Shape, vocab_size: int, cell: str, device: torch.device, dtype: torch.dtype) -> float:
    """Training chars/s of `shape` on `device`: one warm-up step, then steps for up to PROBE_SECONDS, timed
    by the fastest (other work on the machine only ever slows a step down)."""
    import torch

    from ..config import ModelConfig
    from ..model import CharRNN
    from .loop import train_step
    from .shards import cpu_shards

    torch_state = torch.get_rng_state()  # probing must not move the run's random numbers
    model = CharRNN(ModelConfig(vocab_size=vocab_size, cell=cell, layers=shape.layers, hidden=shape.hidden)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randint(0, vocab_size, (shape.batch_size, shape.seq_len + 1), device=device)
    times = []
    with cpu_shards(device, shape.batch_size) as shards:  # the step as the trainer runs it
        while sum(times[1:]) < PROBE_SECONDS and len(times) < 4:
            t = time.perf_counter()
            train_step(model, opt, x[:, :-1], x[:, 1:], None, dtype, 1.0, shards)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - t)
            if times[0] > 2 * PROBE_SECONDS:  # a slow shape: its warm-up step (an underestimate) will do
                break
    torch.set_rng_state(torch_state)
    return shape.batch_size * shape.seq_len / min(times[1:] or times)


def choose(
    minutes: float | None,
    train_chars: int,
    vocab_size: int,
    device: torch.device,
    dtype: torch.dtype,
    cell: str = "lstm",
    rate: Callable[[Shape], float] | None = None,
) -> Choice:
    """The largest shape that trains on its `min_chars` within `minutes` (None: a long run) here.
    `rate(shape) -> chars/s` defaults to probing the device; candidates are probed smallest first,
    and probing stops at the first that does not qualify."""
    from ..hardware import device_words

    budget = minutes or LONG_RUN_MINUTES
    rate = rate or (lambda s: probe(s, vocab_size, cell, device, dtype))
    probed: dict[str, float] = {}
    pick, pick_rate = SHAPES[0], 0.0
    for shape in SHAPES:
        r = rate(shape)
        probed[name(shape)] = r
        if shape is not SHAPES[0] and r * budget * 60 < shape.min_chars:
            break
        pick, pick_rate = shape, r
    epochs = pick_rate * budget * 60 / max(train_chars, 1)
    return Choice(
        pick, dropout_for(epochs), weight_decay_for(epochs), budget, pick_rate, device_words(device), probed
    )


def size(choice: Choice, explicit: set[str]) -> tuple[dict, dict]:
    """(model fields, train fields) the choice sets, less those the user named: explicit flags win."""
    f = {k: v for k, v in choice.fields().items() if k not in explicit}
    return {k: f[k] for k in MODEL_FIELDS if k in f}, {k: f[k] for k in TRAIN_FIELDS if k in f}


def wanted(explicit: set[str]) -> bool:
    """Whether to size: not when the user names the model's shape (--layers or --hidden), whose speed
    there is then nothing to choose by; the other fields keep their defaults."""
    return not {"layers", "hidden"} & explicit


def apply(start: Start, library: Library, rate: Callable[[Shape], float] | None = None) -> Start:
    """A new model's start with the fields the caller did not name sized to its device, --minutes and the
    library, and what config.json keeps of the choice; `rate` as in `choose`."""
    from dataclasses import replace

    from ..hardware import pick_dtype

    if not wanted(start.named):
        return start
    mcfg, tcfg = start.model, start.train
    train_chars = int(library.chars * (1 - tcfg.val_fraction))
    dtype = pick_dtype(tcfg.precision, start.device)
    choice = choose(tcfg.minutes, train_chars, len(library.vocab), start.device, dtype, mcfg.cell, rate)
    model, train = size(choice, start.named)
    mcfg, tcfg = replace(mcfg, **model), replace(tcfg, **train)
    return replace(start, model=mcfg, train=tcfg, sizing=choice.record(mcfg, tcfg))

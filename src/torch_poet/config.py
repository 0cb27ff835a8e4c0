"""Configuration, one dataclass per concern. Plain data without torch, so the CLI builds its flags
from these fields (one `--field-name` each) without loading torch, and config.json stores them as is."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PoetError


@dataclass
class ModelConfig:
    """Defaults tuned for time to quality on a 2-core CPU (BENCHMARKS.md: tiny-shakespeare validation
    1.55 nats at 2 minutes, 1.45 at 10); the original tool's shape is --layers 2 --hidden 256."""

    vocab_size: int = 0  # set from the library's vocabulary
    cell: str = "lstm"  # lstm | gru
    layers: int = 2
    hidden: int = 512
    embedding: int = 64
    dropout: float = 0.35  # between recurrent layers and before the output layer

    def __post_init__(self) -> None:
        if self.cell not in ("lstm", "gru"):
            raise PoetError(f"unknown cell {self.cell!r}: use --cell lstm or --cell gru")


@dataclass
class TrainConfig:
    batch_size: int = 64
    seq_len: int = 128
    lr: float = 7e-3
    min_lr_ratio: float = 0.1  # the cosine schedule ends at lr * min_lr_ratio
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    minutes: float | None = None  # total training time of the model; None = until stopped
    steps: int | None = None  # total optimizer steps of the model; None = until stopped
    snapshot_every: float = 3.0  # minutes
    sample_every: float = 10.0  # minutes, once the train loss is below sample_below
    sample_below: float = 1.5
    sample_length: int = 700
    sample_temperatures: tuple[float, ...] = (0.6, 0.7, 0.8)
    val_fraction: float = 0.05
    eval_chars: int | None = 1_000_000  # validation chars used per snapshot (None = all)
    seed: int = 1337
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"  # auto | fp32 | bf16
    tensorboard: bool = False  # also log the statistics and samples to <model dir>/tensorboard
    compile: bool = False  # torch.compile the model: no gain on CPU; measure on a GPU with gpu_suite.py

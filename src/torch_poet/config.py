"""Configuration, one dataclass per concern. Plain data without torch, so the CLI builds its flags
from these fields (one `--field-name` each, its help the field's one line) without loading torch, and
config.json stores them as is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import PoetError


def opt(default: Any, help: str) -> Any:
    """A config field with the one-line help text `poet train --help` shows for its flag."""
    return field(default=default, metadata={"help": help})


@dataclass
class ModelConfig:
    """Without explicit flags `poet train` sizes the model to the device and the time budget (sizing.py);
    these defaults are its long-run pick for a 2-core CPU, and what the Python API gets."""

    vocab_size: int = opt(0, "set from the library's vocabulary")
    cell: str = opt("lstm", "recurrent cell: lstm or gru")
    layers: int = opt(2, "stacked recurrent layers")
    hidden: int = opt(512, "hidden units per layer")
    embedding: int = opt(64, "size of each character's embedding")
    dropout: float = opt(0.35, "variational dropout (one mask per sequence) between layers and before the output")
    embed_dropout: float = opt(0.0, "share of the vocabulary dropped as whole characters in each batch")
    weight_dropout: float = opt(0.0, "DropConnect on the hidden-to-hidden weights, one mask per batch")

    def __post_init__(self) -> None:
        if self.cell not in ("lstm", "gru"):
            raise PoetError(f"unknown cell {self.cell!r}: use --cell lstm or --cell gru")


@dataclass
class TrainConfig:
    batch_size: int = opt(64, "streams trained side by side in each step")
    seq_len: int = opt(128, "characters per stream in each step (backprop through time)")
    lr: float = opt(7e-3, "peak learning rate of AdamW")
    min_lr_ratio: float = opt(0.1, "the learning rate decays to lr * this by the end of --minutes/--steps")
    warmup_steps: int = opt(100, "steps of linear learning-rate warm-up")
    weight_decay: float = opt(0.01, "AdamW weight decay")
    grad_clip: float = opt(1.0, "clip the gradient norm to this")
    minutes: float | None = opt(None, "total training minutes of the model (default: until stopped)")
    steps: int | None = opt(None, "total optimizer steps of the model (default: until stopped)")
    snapshot_every: float = opt(3.0, "minutes between snapshots (validation, history, last/best weights)")
    sample_every: float = opt(10.0, "minutes between samples written to samples/, once train loss < sample-below")
    sample_below: float = opt(1.5, "write samples only once the train loss is below this")
    sample_length: int = opt(700, "characters per training sample")
    sample_temperatures: tuple[float, ...] = opt((0.6, 0.7, 0.8), "temperatures of the training samples")
    val_fraction: float = opt(0.05, "last share of every text held out for validation")
    eval_chars: int | None = opt(1_000_000, "validation chars evaluated per snapshot (default 1,000,000; 0 = all)")
    seed: int = opt(1337, "random seed")
    device: str = opt("auto", "auto, cpu, cuda, cuda:N or mps")
    precision: str = opt("auto", "auto (bf16 where the hardware has it), fp32 or bf16")
    tensorboard: bool = opt(False, "also log the statistics and samples to <model dir>/tensorboard")
    compile: bool = opt(False, "torch.compile the model: no gain on CPU; measure on a GPU with gpu_suite.py")

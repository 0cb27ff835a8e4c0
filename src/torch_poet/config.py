"""Configuration, one dataclass per concern. Plain data without torch, so the CLI builds its flags
from these fields (one `--field-name` each) without loading torch, and config.json stores them as is."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from .errors import PoetError

Rule = tuple[Callable[[Any], bool], str]  # (is the value allowed?, what is allowed, in words)


def whole(low: int, high: int | None = None, none: bool = False) -> Rule:
    def ok(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and low <= v and (high is None or v <= high)

    words = f"a whole number from {low} to {high}" if high is not None else f"a whole number >= {low}"
    return (lambda v: (none and v is None) or ok(v)), words + (" (or unset)" if none else "")


def real(low: float, high: float = math.inf, above: bool = False, below: bool = False, none: bool = False) -> Rule:
    """A finite number in [low, high]; `above`/`below` exclude the bound itself."""

    def ok(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return (v > low if above else v >= low) and (v < high if below else v <= high)

    span = f"{'>' if above else '>='} {low:g}" + (f" and {'<' if below else '<='} {high:g}" if high < math.inf else "")
    return (lambda v: (none and v is None) or ok(v)), f"a number {span}" + (" (or unset)" if none else "")


def choice(*values: Any) -> Rule:
    return (lambda v: v in values and type(v) is type(values[0])), " or ".join(map(str, values))


def check(config: Any, rules: dict[str, Rule]) -> None:
    """PoetError naming the first field whose value breaks its rule, by the flag that sets it."""
    for name, (ok, allowed) in rules.items():
        value = getattr(config, name)
        if not ok(value):
            raise PoetError(f"--{name.replace('_', '-')} must be {allowed}, not {value!r}")


def from_dict(cls: type, data: Any, where: str) -> Any:
    """`cls(**data)` for a section of config.json, with a one-line error for anything that does not fit."""
    if not isinstance(data, dict):
        raise PoetError(f"{where} is not a set of settings but {type(data).__name__} {str(data)[:40]!r}")
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise PoetError(f"{where} has unknown setting(s) {', '.join(map(repr, unknown))}")
    try:
        return cls(**data)
    except PoetError as e:
        raise PoetError(f"{where}: {e}") from None


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
        check(self, {"vocab_size": whole(0), "cell": choice("lstm", "gru"), "layers": whole(1, 64),
                     "hidden": whole(1, 65536), "embedding": whole(1, 65536),
                     "dropout": real(0, 1, below=True)})  # fmt: skip


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

    def __post_init__(self) -> None:
        temperatures = self.sample_temperatures
        if not isinstance(temperatures, (tuple, list)) or not all(real(0)[0](t) for t in temperatures):
            raise PoetError(f"--sample-temperatures must be numbers >= 0, not {temperatures!r}")
        self.sample_temperatures = tuple(temperatures)
        check(self, {
            "batch_size": whole(1), "seq_len": whole(1), "lr": real(0, above=True), "min_lr_ratio": real(0, 1),
            "warmup_steps": whole(0), "weight_decay": real(0), "grad_clip": real(0, above=True),
            "minutes": real(0, above=True, none=True), "steps": whole(1, none=True),
            "snapshot_every": real(0, above=True), "sample_every": real(0), "sample_below": real(-math.inf),
            "sample_length": whole(1), "val_fraction": real(0, 1, above=True, below=True),
            "eval_chars": whole(1, none=True), "seed": whole(0, 2**63 - 1),
            "device": (lambda v: isinstance(v, str) and bool(DEVICE.fullmatch(v)), "auto, cpu, mps or cuda[:N]"),
            "precision": choice("auto", "fp32", "bf16"), "tensorboard": choice(False, True),
            "compile": choice(False, True),
        })  # fmt: skip


DEVICE = re.compile(r"auto|cpu|mps|(?:cuda|xpu)(?::\d+)?")

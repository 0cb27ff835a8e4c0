"""Configuration, one dataclass per concern. Plain data without torch, so the CLI builds its flags
from these fields (one `--field-name` each, its help the field's one line) without loading torch, and
config.json stores them as is."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
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
        check(self, {"vocab_size": whole(0), "cell": choice("lstm", "gru"), "layers": whole(1, 64),
                     "hidden": whole(1, 65536), "embedding": whole(1, 65536),
                     "dropout": real(0, 1, below=True), "embed_dropout": real(0, 1, below=True),
                     "weight_dropout": real(0, 1, below=True)})  # fmt: skip


@dataclass
class TrainConfig:
    batch_size: int = opt(64, "streams trained side by side in each step")
    seq_len: int = opt(128, "characters per stream in each step (backprop through time)")
    lr: float = opt(7e-3, "peak learning rate of AdamW")
    min_lr_ratio: float = opt(0.0, "the learning rate decays linearly to lr * this by the end of --minutes/--steps")
    warmup_steps: int = opt(100, "steps of linear learning-rate warm-up")
    weight_decay: float = opt(0.1, "AdamW weight decay on the weight matrices (biases and the embedding are spared)")
    grad_clip: float = opt(1.0, "clip the gradient norm to this")
    minutes: float | None = opt(None, "total training minutes of the model (default: until stopped)")
    steps: int | None = opt(None, "total optimizer steps of the model (default: until stopped)")
    snapshot_every: float = opt(3.0, "minutes between snapshots (validation, history, last/best weights)")
    sample_every: float = opt(10.0, "minutes between samples written to samples/, once train loss < sample-below")
    sample_below: float = opt(1.5, "write samples only once the train loss is below this")
    sample_length: int = opt(700, "characters per training sample")
    sample_temperatures: tuple[float, ...] = opt((0.6, 0.7, 0.8), "temperatures of the training samples")
    val_fraction: float = opt(0.05, "last share of every text held out for validation")
    eval_chars: int | None = opt(1_000_000, "validation chars evaluated per snapshot (unset: all)")
    seed: int = opt(1337, "random seed")
    device: str = opt("auto", "auto, cpu, cuda, cuda:N or mps")
    precision: str = opt("auto", "auto (bf16 where the hardware has it), fp32 or bf16")
    tensorboard: bool = opt(False, "also log the statistics and samples to <model dir>/tensorboard")
    compile: bool = opt(False, "torch.compile the model: no gain on CPU; measure on a GPU with gpu_suite.py")

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


# --- defaults every front-end shares ----------------------------------------------------------------------------

DEFAULT_PROJECT = "women_writers"  # the project a command works on without --project
DEFAULT_MODEL = "default"  # the model within a project without --model
DEFAULT_PROMPT = ". "  # what generation continues without a prompt
LN2 = math.log(2)  # nats per bit: bits per character = loss / LN2


# --- sampling -----------------------------------------------------------------------------------------------------

GREEDY_BELOW = 1e-4  # a lower temperature samples as greedy: logits / T would overflow float32 (all inf, all one char)
GREEDY_TOP_P = 1e-6  # a lower top-p keeps only the likeliest character: greedy (in float32 such a p rounds to 0)
BOUNDS = {"ge": operator.ge, "gt": operator.gt, "le": operator.le, "lt": operator.lt}


def sample_opt(default: Any, help: str, unset: str | None = None, **bounds: float) -> Any:
    """A SampleConfig field: its one-line help, what leaving it unset (None) means, and its bounds (ge, gt, le,
    lt). Its validation, its CLI flag and its field in the web app's requests are all made from this."""
    return field(default=default, metadata={"help": help, "unset": unset, "bounds": bounds})


@dataclass
class SampleConfig:
    """How text is generated: the options of `poet generate` and `poet chat`, of Poet's methods and of the web
    app, declared once. The filters (top-k, top-p, min-p) each keep a set of characters; a character is picked
    among those all of them keep."""

    length: int | None = sample_opt(700, "characters to generate", unset="endless, read in chunks", ge=0)
    temperature: float = sample_opt(
        0.8, "how adventurous the text is; 0 = greedy (always the likeliest character)", ge=0
    )
    top_k: int | None = sample_opt(None, "pick among the k likeliest characters only", unset="off", ge=1)
    top_p: float | None = sample_opt(
        None, "pick among the likeliest characters holding probability p", unset="off", gt=0, le=1
    )
    min_p: float | None = sample_opt(
        None, "pick among the characters at least min-p times as likely as the likeliest", unset="off", ge=0, le=1
    )
    seed: int | None = sample_opt(None, "random seed: the same seed gives the same text", unset="random")
    num: int = sample_opt(1, "samples generated together (sample i uses seed + i)", ge=1)

    def __post_init__(self) -> None:
        for f in fields(self):
            value, bounds = getattr(self, f.name), f.metadata["bounds"]
            if value is None and f.metadata["unset"] is not None:
                continue
            kind = int if "int" in f.type else float
            number = isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
            if not (number and math.isfinite(value) and all(BOUNDS[op](value, b) for op, b in bounds.items())):
                raise PoetError(f"{f.name.replace('_', '-')} must be {_allowed(kind, bounds)}, not {value!r}")
        if self.temperature < GREEDY_BELOW:
            self.temperature = 0.0
        if self.top_p is not None and self.top_p < GREEDY_TOP_P:
            self.temperature, self.top_k, self.top_p = 0.0, None, None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def _allowed(kind: type, bounds: dict[str, float]) -> str:
    """The values a field takes, in words: "a whole number >= 1", "in (0, 1]"."""
    noun = "a whole number" if kind is int else "a number"
    low = next(((op, b) for op, b in bounds.items() if op in ("ge", "gt")), None)
    high = next(((op, b) for op, b in bounds.items() if op in ("le", "lt")), None)
    if low and high:
        interval = f"{'[' if low[0] == 'ge' else '('}{low[1]:g}, {high[1]:g}{']' if high[0] == 'le' else ')'}"
        return f"in {interval}" if kind is float else f"{noun} in {interval}"
    signs = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    return " ".join([noun] + [f"{signs[op]} {b:g}" for op, b in filter(None, (low, high))])


# --- the library ---------------------------------------------------------------------------------------------------


@dataclass
class LibrarySpec:
    """What the user asked for; any mix of a Gutenberg search, Gutenberg ids and local files."""

    author: list[str] = field(default_factory=list)
    title: list[str] = field(default_factory=list)
    language: list[str] = field(default_factory=list)
    subject: list[str] = field(default_factory=list)
    books: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            kind = int if name == "books" else str
            if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
                raise PoetError(f"the library's {name} must be a list of {kind.__name__}, not {str(value)[:40]!r}")

    def has_search(self) -> bool:
        return bool(self.author or self.title or self.language or self.subject)

    def is_empty(self) -> bool:
        return not (self.has_search() or self.books or self.files or self.dirs)


# The original tool's default library: the Brontë sisters, Jane Austen and Virginia Woolf, in English.
WOMEN_WRITERS = LibrarySpec(author=["brontë", "Jane Austen", "Virginia Woolf"], language=["english"])

"""Configuration, one dataclass per concern. Plain data without torch, so the CLI builds its flags
from these fields (one `--field-name` each, its help the field's one line) without loading torch, and
config.json stores them as is. Every field says once, through `opt`, its help and the values it takes;
`check` holds any of the three dataclasses to that, in one wording."""

from __future__ import annotations

import functools
import math
import operator
import re
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import PoetError

DEVICE = r"auto|cpu|mps|(?:cuda|xpu)(?::\d+)?"
OPS = {"ge": (operator.ge, ">="), "gt": (operator.gt, ">"), "le": (operator.le, "<="), "lt": (operator.lt, "<")}


def opt(
    default: Any,
    help: str,
    unset: str | None = None,
    choices: tuple[str, ...] = (),
    pattern: str | None = None,
    words: str | None = None,
    **bounds: float,
) -> Any:
    """A config field: its one-line help, what leaving it unset (None) means, and the values it takes: bounds
    (ge, gt, le, lt) for a number, choices or a regular expression (said in `words`) for a word. Its validation,
    its CLI flag and its field in the web app's requests are all made from this."""
    meta = {"help": help, "unset": unset, "choices": choices, "pattern": pattern, "words": words, "bounds": bounds}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Kind:
    """What a field holds, from its type hint: `base` (int, float, str or bool), whether None is allowed
    (`optional`), whether it is a tuple of them (`many`)."""

    base: type
    optional: bool = False
    many: bool = False


@functools.cache
def kinds(cls: type) -> dict[str, Kind]:
    """Each field's `Kind`, from typing.get_type_hints (once per class: configs are made per request)."""
    out = {}
    for name, hint in typing.get_type_hints(cls).items():
        optional = type(None) in typing.get_args(hint)
        if optional:
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        many = typing.get_origin(hint) is tuple
        out[name] = Kind(typing.get_args(hint)[0] if many else hint, optional, many)
    return out


def check(config: Any) -> None:
    """PoetError naming the first field whose value its `opt` does not allow, by the flag that sets it."""
    kind_of = kinds(type(config))
    for f in fields(config):
        value, kind = getattr(config, f.name), kind_of[f.name]
        if kind.many:
            ok = isinstance(value, (tuple, list)) and all(fits(v, kind.base, f.metadata) for v in value)
        else:
            ok = (value is None and kind.optional) or fits(value, kind.base, f.metadata)
        if not ok:
            raise PoetError(f"--{f.name.replace('_', '-')} must be {allowed(kind, f.metadata)}, not {value!r}")


def fits(value: Any, base: type, meta: Mapping[str, Any]) -> bool:
    """Whether one value is of the base type and within the field's bounds, choices or pattern."""
    if isinstance(value, bool) or base is bool:
        return isinstance(value, bool) and base is bool
    if base is str:
        if meta["choices"]:
            return value in meta["choices"]
        return isinstance(value, str) and (not meta["pattern"] or bool(re.fullmatch(meta["pattern"], value)))
    if not isinstance(value, (int, float) if base is float else int) or not math.isfinite(value):
        return False
    return all(OPS[op][0](value, bound) for op, bound in meta["bounds"].items())


def allowed(kind: Kind, meta: Mapping[str, Any]) -> str:
    """The values a field takes, in words: "a whole number from 1 to 64", "a number >= 0 and < 1", "lstm or gru"."""
    if meta["words"]:
        return meta["words"]
    if kind.base is bool:
        return "true or false"
    if kind.base is str:
        return " or ".join(filter(None, (", ".join(meta["choices"][:-1]), meta["choices"][-1])))
    bounds = {op: str(b) if isinstance(b, int) else f"{b:g}" for op, b in meta["bounds"].items()}
    if {"ge", "le"} <= set(bounds):
        span = f"from {bounds['ge']} to {bounds['le']}"
    else:  # the lower bound first
        span = " and ".join(f"{OPS[op][1]} {b}" for op, b in sorted(bounds.items(), key=lambda ob: ob[0][0] == "l"))
    noun = ("whole number" if kind.base is int else "number") + ("s" if kind.many else "")
    return " ".join(filter(None, ("" if kind.many else "a", noun, span)))


def checked(value: Any, kind: type, name: str, **bounds: float) -> Any:
    """`value` if it is a `kind` within `bounds`, else a PoetError saying what `name` takes: the configs' own rule
    and words, for the few settings outside them (a port, a quote length, the sentences of an answer)."""
    meta = {"words": None, "choices": (), "pattern": None, "bounds": bounds}
    if not fits(value, kind, meta):
        raise PoetError(f"{name} must be {allowed(Kind(kind), meta)}, not {value!r}")
    return value


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
    """Without explicit flags `poet train` sizes the model to the device and the time budget (sizing.py);
    these defaults are its long-run pick for a 2-core CPU, and what the Python API gets."""

    vocab_size: int = opt(0, "set from the library's vocabulary", ge=0)
    cell: str = opt("lstm", "recurrent cell: lstm or gru", choices=("lstm", "gru"))
    layers: int = opt(2, "stacked recurrent layers", ge=1, le=64)
    hidden: int = opt(512, "hidden units per layer", ge=1, le=65536)
    embedding: int = opt(64, "size of each character's embedding", ge=1, le=65536)
    dropout: float = opt(
        0.35, "variational dropout (one mask per sequence) between layers and before the output", ge=0, lt=1
    )
    embed_dropout: float = opt(0.0, "share of the vocabulary dropped as whole characters in each batch", ge=0, lt=1)
    weight_dropout: float = opt(0.0, "DropConnect on the hidden-to-hidden weights, one mask per batch", ge=0, lt=1)

    def __post_init__(self) -> None:
        check(self)


@dataclass
class TrainConfig:
    batch_size: int = opt(64, "streams trained side by side in each step", ge=1)
    seq_len: int = opt(128, "characters per stream in each step (backprop through time)", ge=1)
    lr: float = opt(7e-3, "peak learning rate of AdamW", gt=0)
    min_lr_ratio: float = opt(
        0.0, "the learning rate decays linearly to lr * this by the end of --minutes/--steps", ge=0, le=1
    )
    warmup_steps: int = opt(100, "steps of linear learning-rate warm-up", ge=0)
    weight_decay: float = opt(
        0.1, "AdamW weight decay on the weight matrices (biases and the embedding are spared)", ge=0
    )
    grad_clip: float = opt(1.0, "clip the gradient norm to this", gt=0)
    minutes: float | None = opt(None, "total training minutes of the model", unset="until stopped", gt=0)
    steps: int | None = opt(None, "total optimizer steps of the model", unset="until stopped", ge=1)
    snapshot_every: float = opt(3.0, "minutes between snapshots (validation, history, last/best weights)", gt=0)
    sample_every: float = opt(10.0, "minutes between samples written to samples/, once train loss < sample-below", ge=0)
    sample_below: float = opt(1.5, "write samples only once the train loss is below this")
    sample_length: int = opt(700, "characters per training sample", ge=1)
    sample_temperatures: tuple[float, ...] = opt((0.6, 0.7, 0.8), "temperatures of the training samples", ge=0)
    val_fraction: float = opt(0.05, "last share of every text held out for validation", gt=0, lt=1)
    eval_chars: int | None = opt(
        1_000_000, "validation chars evaluated per snapshot, spread over every text's held-out tail", unset="all", ge=1
    )
    seed: int = opt(1337, "random seed", ge=0, le=2**63 - 1)
    device: str = opt("auto", "auto, cpu, cuda, cuda:N or mps", pattern=DEVICE, words="auto, cpu, mps or cuda[:N]")
    precision: str = opt(
        "auto", "auto (bf16 where the hardware has it), fp32 or bf16", choices=("auto", "fp32", "bf16")
    )
    tensorboard: bool = opt(False, "also log the statistics and samples to <model dir>/tensorboard")
    compile: bool = opt(False, "torch.compile the model: no gain on CPU; measure on a GPU with gpu_suite.py")

    def __post_init__(self) -> None:
        check(self)
        self.sample_temperatures = tuple(self.sample_temperatures)  # a list in config.json


# --- defaults every front-end shares ----------------------------------------------------------------------------

DEFAULT_PROJECT = "women_writers"  # the project a command works on without --project
DEFAULT_MODEL = "default"  # the model within a project without --model
DEFAULT_PROMPT = ". "  # what generation continues without a prompt
CHUNK = 64  # steps per call of the decode loop when streaming
LN2 = math.log(2)  # nats per bit: bits per character = loss / LN2
MIN_QUOTE = {"ge": 1, "le": 1000}  # the bounds of a quote length a user sets (--min-quote, min_quote)


# --- sampling -----------------------------------------------------------------------------------------------------

GREEDY_BELOW = 1e-4  # a lower temperature samples as greedy: logits / T would overflow float32 (all inf, all one char)
GREEDY_TOP_P = 1e-6  # a lower top-p keeps only the likeliest character: greedy (in float32 such a p rounds to 0)
MAX_CHARS = 10_000_000  # characters of one request in all (num x length): memory follows them


@dataclass
class SampleConfig:
    """How text is generated: the options of `poet generate` and `poet chat`, of Poet's methods and of the web
    app, declared once, built once where they enter and handed down as this object. The filters (top-k, top-p,
    min-p) each keep a set of characters; a character is picked among those all of them keep."""

    length: int | None = opt(700, "characters to generate", unset="endless, read in chunks", ge=0, le=MAX_CHARS)
    temperature: float = opt(0.8, "how adventurous the text is; 0 = greedy (always the likeliest character)", ge=0)
    top_k: int | None = opt(None, "pick among the k likeliest characters only", unset="off", ge=1)
    top_p: float | None = opt(
        None, "pick among the likeliest characters holding probability p", unset="off", gt=0, le=1
    )
    min_p: float | None = opt(
        None, "pick among the characters at least min-p times as likely as the likeliest", unset="off", ge=0, le=1
    )
    seed: int | None = opt(None, "random seed: the same seed gives the same text", unset="random", ge=0, le=2**63 - 1)
    num: int = opt(1, "samples generated together (sample i uses seed + i)", ge=1, le=100_000)

    def __post_init__(self) -> None:
        check(self)
        if self.length is not None and self.num * self.length > MAX_CHARS:
            raise PoetError(f"--num x --length must be at most {MAX_CHARS:,} characters in all, not "
                            f"{self.num * self.length:,}: ask for fewer or shorter samples")  # fmt: skip
        if self.temperature < GREEDY_BELOW:
            self.temperature = 0.0
        if self.top_p is not None and self.top_p < GREEDY_TOP_P:
            self.temperature, self.top_k, self.top_p = 0.0, None, None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


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
    all_editions: bool = False  # keep every edition a search finds of one work (default: the first of each)

    def __post_init__(self) -> None:
        if not isinstance(self.all_editions, bool):
            raise PoetError(f"the library's all_editions must be true or false, not {str(self.all_editions)[:40]!r}")
        for name, value in asdict(self).items():
            if name == "all_editions":
                continue
            kind = int if name == "books" else str
            if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
                raise PoetError(f"the library's {name} must be a list of {kind.__name__}, not {str(value)[:40]!r}")

    def has_search(self) -> bool:
        return bool(self.author or self.title or self.language or self.subject)

    def is_empty(self) -> bool:
        return not (self.has_search() or self.books or self.files or self.dirs)


# The original tool's default library: the Brontë sisters, Jane Austen and Virginia Woolf, in English.
WOMEN_WRITERS = LibrarySpec(author=["brontë", "Jane Austen", "Virginia Woolf"], language=["english"])

"""The web API's requests. Their sampling fields are made from `config.SampleConfig` (its help, bounds and
defaults), with the web app's own limits on top (WEB), and marked "x-sampling" in /openapi.json, from which the
page builds its sampling controls; so a new sampling option reaches the API and the page by itself."""

from __future__ import annotations

import secrets
import typing
from dataclasses import fields
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..chat import CHAT_SAMPLING, MAX_SENTENCES, SENTENCES
from ..config import DEFAULT_MODEL, DEFAULT_PROMPT, MIN_QUOTE, ModelConfig, SampleConfig, TrainConfig

MAX_PROMPT = 2_000  # characters of a prompt or chat turn
MAX_LENGTH = 5_000  # characters generated per request
MAX_TEXT = 100_000  # characters of a text sent to be highlighted

# The web app's own defaults and limits for SampleConfig's fields: a request ends, and soon; a temperature over 5
# gives noise; seeds are what a JavaScript number holds exactly; top_k 0 and top_p 1 (the page's defaults) keep all.
WEB: dict[str, dict[str, Any]] = {
    "length": {"type": int, "ge": 1, "le": MAX_LENGTH},
    "temperature": {"le": 5},
    "top_k": {"default": 0, "ge": 0, "description": "pick among the k likeliest characters; 0 = all"},
    "top_p": {"default": 1.0},
    "seed": {"ge": 0, "le": 2**31 - 1, "description": "default: a random one, returned"},
}


class ModelRef(BaseModel):
    project: str | None = Field(None, max_length=200, description="default: the server's model (GET /api/models)")
    model: str | None = Field(None, max_length=200)
    min_quote: int | None = Field(
        None,
        **MIN_QUOTE,
        description="shortest quote; default: the length unseen text reaches by chance in the library",
    )
    phrases: bool = Field(False, description="also mark shorter matches (common phrases)")


def with_config(cls: type[BaseModel], source: type, names: tuple[str, ...], defaults: Any = None,
                mark: str = "x-sampling", unset: str | None = None) -> type[BaseModel]:
    """cls with the fields `names` of a config dataclass, their help, bounds and choices from its `opt`s (with
    the web's own on top, WEB) and marked `mark` for the page's forms; defaults from the `defaults` instance,
    else None, which means what the field's `opt` says, or else `unset`."""
    types = typing.get_type_hints(source)
    added: dict[str, Any] = {}
    for f in fields(source):
        if f.name not in names:
            continue
        meta = f.metadata
        info = {**meta["bounds"], **WEB.get(f.name, {})}
        kind = info.pop("type", types[f.name])
        if meta["choices"]:
            kind = typing.Literal[meta["choices"]]  # type: ignore[valid-type]
        if meta["pattern"]:
            info["pattern"] = meta["pattern"]
        default = info.pop("default", getattr(defaults, f.name) if defaults is not None else None)
        if default is None:
            kind = kind | None
        left = (meta["unset"] or unset) if type(None) in typing.get_args(kind) else None
        info.setdefault("description", meta["help"] + (f"; unset: {left}" if left else ""))
        extra = {mark: True, **({"x-unset": left} if left else {})}
        added[f.name] = (kind, Field(default, json_schema_extra=extra, **info))
    return create_model(cls.__name__, __base__=cls, __doc__=cls.__doc__, **added)


def sampling(req: BaseModel) -> SampleConfig:
    """A request's sampling options as the one SampleConfig handed down: the web's top_k 0 (all characters) is
    None, and a request without a seed gets a random one here, so that its answer can say which."""
    options = {name: getattr(req, name) for name in type(req).model_fields if name in SampleConfig.__dataclass_fields__}
    if options.get("top_k") == 0:
        options["top_k"] = None
    if options.get("seed") is None:
        options["seed"] = secrets.randbelow(2**31)
    return SampleConfig(**options)


class GenerateRequest(ModelRef):
    prompt: str = Field(DEFAULT_PROMPT, min_length=1, max_length=MAX_PROMPT, description="text the model continues")
    skip_unknown: bool = Field(False, description="drop prompt characters the model never saw instead of refusing")
    highlight: bool = Field(True, description="find the quotes (false: the text only)")


class ChatRequest(ModelRef):
    text: str = Field("", max_length=MAX_PROMPT, description="your turn; empty lets the model go on")
    session: str | None = Field(None, max_length=64, description="from the previous answer; none starts a conversation")
    sentences: int = Field(SENTENCES, ge=1, le=MAX_SENTENCES, description="sentences per answer at most")


SAMPLING = tuple(f.name for f in fields(SampleConfig) if f.name != "num")
GenerateRequest = with_config(GenerateRequest, SampleConfig, SAMPLING, SampleConfig())  # type: ignore[misc]
CHAT_FIELDS = tuple(n for n in SAMPLING if n != "length")  # an answer's length is its sentences
ChatRequest = with_config(ChatRequest, SampleConfig, CHAT_FIELDS, CHAT_SAMPLING)  # type: ignore[misc]


class ResetRequest(BaseModel):
    session: str = Field(..., max_length=64)


class HighlightRequest(ModelRef):
    text: str = Field(..., max_length=MAX_TEXT)


Words = list[Annotated[str, Field(min_length=1, max_length=200)]]


class LibraryRequest(BaseModel):
    """The books to train on: a catalog search and Gutenberg ids (what `poet train` takes, less files on the
    server's disk, which are none of a page's business)."""

    model_config = ConfigDict(extra="forbid")  # a field it does not know (files, dirs) is a mistake said, not dropped

    author: Words = Field([], max_length=20, description="words of an author's name (several: any of them)")
    title: Words = Field([], max_length=20)
    language: Words = Field([], max_length=20)
    subject: Words = Field([], max_length=20)
    books: list[Annotated[int, Field(ge=1, le=10**8)]] = Field([], max_length=10_000, description="Gutenberg ids")
    all_editions: bool = Field(False, description="keep every edition a search finds of one work")


class TrainRequest(BaseModel):
    """A training run, as `poet train` would start it: a new model on a library, or the model resumed (no
    library: the one it was trained on). Shape and batch left out are sized to the machine and the minutes."""

    model_config = ConfigDict(extra="forbid")  # a setting it does not take is said, not silently dropped

    project: str = Field(..., min_length=1, max_length=100)
    model: str = Field(DEFAULT_MODEL, min_length=1, max_length=100)
    library: LibraryRequest = Field(LibraryRequest(), description="none: the model's own (resume)")
    restart: bool = Field(False, description="start the model over instead of resuming it")


class StopRequest(BaseModel):
    project: str = Field(..., max_length=100)
    model: str = Field(DEFAULT_MODEL, max_length=100)


# the settings a page names, in the order it shows them; the rest are the saved, or sized, or default ones
for source, names, left in ((TrainConfig, ("minutes", "steps"), None),
                            (ModelConfig, ("cell", "layers", "hidden"), "sized"),
                            (TrainConfig, ("batch_size", "seq_len"), "sized"),
                            (TrainConfig, ("snapshot_every",), "3")):  # fmt: skip
    TrainRequest = with_config(TrainRequest, source, names, mark="x-train", unset=left)  # type: ignore[misc]

"""The web API's requests. Their sampling fields are made from `config.SampleConfig` (its help, bounds and
defaults), with the web app's own limits on top (WEB), and marked "x-sampling" in /openapi.json, from which the
page builds its sampling controls; so a new sampling option reaches the API and the page by itself."""

from __future__ import annotations

import secrets
import typing
from dataclasses import fields
from typing import Any

from pydantic import BaseModel, Field, create_model

from ..chat import CHAT_SAMPLING, MAX_SENTENCES, SENTENCES
from ..config import DEFAULT_PROMPT, MIN_QUOTE, SampleConfig

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


def with_sampling(cls: type[BaseModel], defaults: SampleConfig, skip: tuple[str, ...] = ()) -> type[BaseModel]:
    """cls with SampleConfig's fields (less `skip`), their defaults taken from `defaults`."""
    types = typing.get_type_hints(SampleConfig)
    added: dict[str, Any] = {}
    for f in fields(SampleConfig):
        if f.name in skip:
            continue
        info = {**f.metadata["bounds"], **WEB.get(f.name, {})}
        kind, default = info.pop("type", types[f.name]), info.pop("default", getattr(defaults, f.name))
        unset = f.metadata["unset"] if type(None) in typing.get_args(kind) else None
        info.setdefault("description", f.metadata["help"] + (f"; unset: {unset}" if unset else ""))
        extra = {"x-sampling": True, **({"x-unset": unset} if unset else {})}
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


GenerateRequest = with_sampling(GenerateRequest, SampleConfig(), skip=("num",))  # type: ignore[misc]
ChatRequest = with_sampling(ChatRequest, CHAT_SAMPLING, skip=("length", "num"))  # type: ignore[misc]


class ResetRequest(BaseModel):
    session: str = Field(..., max_length=64)


class HighlightRequest(ModelRef):
    text: str = Field(..., max_length=MAX_TEXT)

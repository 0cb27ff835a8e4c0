"""config.json: a model's settings (model and training), its vocabulary, its library (the spec it was built
from, its fingerprint, a record of each text) and how its shape was sized. Written when a run starts; read
by everything that loads, resumes or lists the model."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import LibrarySpec, ModelConfig, TrainConfig, from_dict
from ..errors import PoetError
from ..paths import atomic_write

if TYPE_CHECKING:
    from ..library import Library

NAME = "config.json"
SECTIONS = ("model", "train", "vocab", "library", "sizing")  # sizing: how the shape was picked (optional)


def path(model_dir: Path) -> Path:
    return Path(model_dir) / NAME


def exists(model_dir: Path) -> bool:
    """Whether the directory holds a model (config.json is its first file)."""
    return path(model_dir).exists()


def build(model: ModelConfig, train: TrainConfig, library: Library, sizing: dict | None = None) -> dict:
    """The config.json of a model of `model`'s shape trained on `library` with `train`'s settings."""
    return {
        "model": asdict(model),
        "train": asdict(train),
        "vocab": library.vocab,
        "library": {"spec": asdict(library.spec) if library.spec else {}, "fingerprint": library.fingerprint,
                    "texts": library.record()},
        **({"sizing": sizing} if sizing else {}),  # how the shape was picked (sizing.Choice.record)
    }  # fmt: skip


def write(model_dir: Path, config: dict) -> None:
    write_json(path(model_dir), config)


def write_json(file: Path, obj: Any) -> None:
    atomic_write(file, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode())


def read_json(file: Path) -> Any:
    """A JSON file as it is, or a PoetError naming it (a listing reads the libraries of models being written)."""
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PoetError(f"cannot read {file}: {e}; delete it or start a new model with --model NAME") from None


def read(model_dir: Path) -> dict:
    """A model's config.json, checked: every section there and of the right kind, every setting known and in
    range, the vocabulary as long as the model's; anything else is a PoetError naming the problem."""
    file = path(model_dir)
    config = read_json(file)
    try:
        if not isinstance(config, dict) or not {"model", "vocab", "library"} <= set(config):
            raise PoetError("it lacks the model, vocab and library sections of a torch-poet model")
        unknown = sorted(set(config) - set(SECTIONS))
        if unknown:
            raise PoetError(f"unknown section(s) {', '.join(map(repr, unknown))}")
        model = from_dict(ModelConfig, config["model"], "its model section")
        from_dict(TrainConfig, config.get("train", {}), "its train section")
        vocab, library = config["vocab"], config["library"]
        if not isinstance(vocab, str) or len(vocab) != model.vocab_size or len(set(vocab)) != len(vocab):
            raise PoetError(f"its vocab is not {model.vocab_size} distinct characters as its model says")
        texts = library.get("texts", []) if isinstance(library, dict) else None
        if not isinstance(texts, list) or not all(isinstance(t, dict) for t in texts):
            raise PoetError("its library section is not a list of texts")
        from_dict(LibrarySpec, library.setdefault("spec", {}), "its library spec")
        if not isinstance(config.get("sizing", {}), dict):
            raise PoetError("its sizing section is not a record of how the model was sized")
    except PoetError as e:
        raise PoetError(f"{file} is not a valid model config: {e}; restore it, or retrain with --restart") from None
    config.setdefault("train", {})  # saved by versions that kept no training settings
    return config

"""Snapshots on disk: one safetensors file each (weights, optimizer tensors, RNG), JSON for the rest.

A snapshot is a single file written to a temp name, fsynced and renamed over the old one, so a kill at
any moment leaves either the old or the new snapshot, never a half-written one. Nothing is unpickled:
safetensors holds only raw tensors and a JSON header.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save

from .config import TrainConfig, from_dict
from .errors import PoetError
from .library import LibrarySpec
from .model import CharRNN, ModelConfig
from .paths import atomic_write

SNAPSHOTS = ("last", "best")


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode())


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PoetError(f"cannot read {path}: {e}; delete it or start a new model with --model NAME") from None


def read_config(model_dir: Path) -> dict:
    """A model's config.json, checked: every section there and of the right kind, every setting known and in
    range, the vocabulary as long as the model's; anything else is a PoetError naming the problem."""
    path = Path(model_dir) / "config.json"
    config = read_json(path)
    fix = "restore it, or retrain with --restart"
    try:
        if not isinstance(config, dict) or not {"model", "vocab", "library"} <= set(config):
            raise PoetError("it lacks the model, vocab and library sections of a torch-poet model")
        unknown = sorted(set(config) - {"model", "train", "vocab", "library", "sizing"})  # sizing: how it was sized
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
        raise PoetError(f"{path} is not a valid model config: {e}; {fix}") from None
    config.setdefault("train", {})  # saved by versions that kept no training settings
    return config


def snapshot_path(model_dir: Path, which: str) -> Path:
    return Path(model_dir) / f"{which}.safetensors"


def save_snapshot(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    meta: dict,
    extra: dict[str, torch.Tensor] | None = None,
) -> None:
    """Weights as `model.*`, optimizer state as `optim.<param index>.<key>`, `extra` tensors (RNG
    states, carried recurrent state) under their own names; `meta` (step, losses, elapsed, data
    cursor, ...) and the optimizer's hyper-parameters go in the header."""
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    header = {"meta": json.dumps(meta)}
    if optimizer is not None:
        sd = optimizer.state_dict()
        for i, state in sd["state"].items():
            for k, v in state.items():
                t = v if torch.is_tensor(v) else torch.tensor(v)
                tensors[f"optim.{i}.{k}"] = t.detach().contiguous().cpu()
        header["optim"] = json.dumps(sd["param_groups"])
    tensors.update({k: v.detach().contiguous().cpu() for k, v in (extra or {}).items()})
    atomic_write(path, st_save(tensors, metadata=header))


def read_snapshot(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and header of one snapshot; a truncated or corrupt file, or a header that is not torch-poet's,
    raises PoetError."""
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise PoetError(f"snapshot {path} is unreadable ({e})") from None
    parse_meta(header, path)
    return tensors, header


def parse_meta(header: dict[str, str], path: Path) -> dict:
    """The snapshot's meta (step, elapsed, best, ...): a JSON object with a whole step, else a PoetError."""
    if "meta" not in header:
        raise PoetError(f"snapshot {path} has no torch-poet header; it was not written by torch-poet")
    try:
        meta = json.loads(header["meta"])
    except ValueError as e:
        raise PoetError(f"snapshot {path} has a damaged header ({e})") from None
    step = meta.get("step") if isinstance(meta, dict) else None
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise PoetError(f"snapshot {path} has a damaged header (no step in {str(meta)[:40]!r})")
    return meta


def snapshot_meta(path: Path) -> dict:
    """A snapshot's meta (step, elapsed, best, ...) without reading its tensors."""
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise PoetError(f"snapshot {path} is unreadable ({e})") from None
    return parse_meta(header, path)


def misfit(want: dict[str, tuple], have: dict[str, tuple]) -> str | None:
    """What keeps weights of shapes `have` from loading into a model of shapes `want`, in one line; None if nothing."""
    problems = [f"{k} missing" for k in want if k not in have] + [f"{k} unexpected" for k in have if k not in want]
    problems += [f"{k} is {list(have[k])}, not {list(want[k])}" for k in want if k in have and have[k] != want[k]]
    if not problems:
        return None
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return f"does not fit the model in config.json ({shown})"


def newest(model_dir: Path) -> str:
    """ "best" when it is ahead of "last" (a kill came between writing the two), else "last"."""
    steps = {}
    for which in SNAPSHOTS:
        try:
            steps[which] = snapshot_meta(snapshot_path(model_dir, which))["step"]
        except PoetError:
            steps[which] = -1
    return "best" if steps["best"] > steps["last"] else "last"


Use = Callable[[dict[str, torch.Tensor], dict[str, str]], None]


def load_snapshot(
    model_dir: Path, prefer: str = "last", use: Use | None = None
) -> tuple[str, dict[str, torch.Tensor], dict[str, str]]:
    """The preferred snapshot, else the other one, warning about the one that could not be read or used:
    `use(tensors, header)` takes it in, or raises PoetError if it is readable but wrong (shapes, missing tensors)."""
    order = [prefer] + [w for w in SNAPSHOTS if w != prefer]
    errors = []
    for which in order:
        path = snapshot_path(model_dir, which)
        if not path.exists():
            continue
        try:
            tensors, header = read_snapshot(path)
        except PoetError as e:
            errors.append(str(e))
            continue
        try:
            if use is not None:
                use(tensors, header)
        except PoetError as e:
            errors.append(f"snapshot {path} {e}")
            continue
        for e in errors:
            warnings.warn(f"{e}; using the {which} snapshot instead", stacklevel=2)
        return which, tensors, header
    if errors:
        raise PoetError("; ".join(errors) + "; no usable snapshot left: retrain with --restart")
    raise PoetError(f"no snapshot in {model_dir}: train a model first with `poet train`")


def fit(module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Load tensors into module, or a one-line PoetError naming the missing, extra or misshapen tensors."""
    problem = misfit({k: tuple(v.shape) for k, v in module.state_dict().items()},
                     {k: tuple(v.shape) for k, v in tensors.items()})  # fmt: skip
    if problem:
        raise PoetError(problem)
    module.load_state_dict(tensors)


def split(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def optimizer_state(tensors: dict[str, torch.Tensor], header: dict[str, str]) -> dict:
    """Rebuild `optimizer.state_dict()` from the snapshot's plain tensors."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in split(tensors, "optim.").items():
        i, key = k.split(".", 1)
        state.setdefault(int(i), {})[key] = v
    return {"state": state, "param_groups": json.loads(header["optim"])}


def load_model(
    model_dir: str | os.PathLike, which: str = "best", device: str | torch.device = "cpu"
) -> tuple[CharRNN, dict, dict]:
    """A trained model ready for generation, its config.json and its snapshot's meta. Loads on any
    device whatever it was trained on (a GPU-trained snapshot runs on a CPU-only machine)."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists():
        raise PoetError(f"no model in {model_dir}: train one with `poet train` or check --project/--model")
    config = read_config(model_dir)
    model = CharRNN(ModelConfig(**config["model"]))
    _, _, header = load_snapshot(model_dir, which, lambda tensors, header: fit(model, split(tensors, "model.")))
    model.to(device).eval()
    return model, config, json.loads(header["meta"])

"""Snapshots on disk: one safetensors file each (weights, optimizer tensors, RNG), JSON for the rest.

A snapshot is a single file written to a temp name, fsynced and renamed over the old one, so a kill at
any moment leaves either the old or the new snapshot, never a half-written one. Nothing is unpickled:
safetensors holds only raw tensors and a JSON header.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save

from .errors import PoetError
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


def snapshot_path(model_dir: Path, which: str) -> Path:
    return Path(model_dir) / f"{which}.safetensors"


@contextmanager
def training_lock(model_dir: Path) -> Iterator[None]:
    """Held while a process trains the model: a second trainer is refused instead of interleaving
    snapshots, and `is_training` tells a dashboard whether it is running. An flock, so the kernel
    releases it when the trainer dies, even by SIGKILL."""
    import fcntl

    path = Path(model_dir) / "train.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or "?"
            raise PoetError(
                f"model {model_dir} is being trained by another process (pid {pid}): "
                "wait for it to finish, stop it, or use --model NEWNAME"
            ) from None
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def is_training(model_dir: Path) -> bool:
    """Whether some process holds the model's training lock right now."""
    import fcntl

    try:
        with open(Path(model_dir) / "train.lock") as f:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except FileNotFoundError:
        return False
    except BlockingIOError:
        return True
    return False


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
    """Tensors and header of one snapshot; a truncated or corrupt file raises PoetError."""
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise PoetError(f"snapshot {path} is unreadable ({e})") from None
    if "meta" not in header:
        raise PoetError(f"snapshot {path} has no torch-poet header; it was not written by torch-poet")
    return tensors, header


def snapshot_meta(path: Path) -> dict:
    """A snapshot's meta (step, elapsed, best, ...) without reading its tensors."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return json.loads((f.metadata() or {})["meta"])
    except (SafetensorError, OSError, ValueError, KeyError) as e:
        raise PoetError(f"snapshot {path} is unreadable ({e})") from None


def load_snapshot(model_dir: Path, prefer: str = "last") -> tuple[str, dict[str, torch.Tensor], dict[str, str]]:
    """The preferred snapshot, else the other one, warning about the one that could not be read."""
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
        for e in errors:
            warnings.warn(f"{e}; using the {which} snapshot instead", stacklevel=2)
        return which, tensors, header
    if errors:
        raise PoetError("; ".join(errors) + "; no readable snapshot left: retrain with --restart")
    raise PoetError(f"no snapshot in {model_dir}: train a model first with `poet train`")


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
    config = read_json(model_dir / "config.json")
    _, tensors, header = load_snapshot(model_dir, which)
    model = CharRNN(ModelConfig(**config["model"]))
    model.load_state_dict(split(tensors, "model."))
    model.to(device).eval()
    return model, config, json.loads(header["meta"])


def model_dirs(root: Path) -> dict[tuple[str, str], Path]:
    """(project, model) -> directory of every model under root/projects: a glob, no file read."""
    return {(d.parent.name, d.name): d for d in (c.parent for c in sorted(Path(root).glob("projects/*/*/config.json")))}


def model_row(d: Path) -> dict:
    """A model's step, best validation bpc, size on disk, last update and whether it is training now."""
    files = [f for f in d.rglob("*") if f.is_file()]
    row = {"project": d.parent.name, "model": d.name, "path": str(d), "step": None, "best_bpc": None}
    row["training"] = is_training(d)
    try:
        meta = snapshot_meta(snapshot_path(d, "last"))
        row["step"] = meta["step"]
        if meta.get("best") not in (None, float("inf")):
            row["best_bpc"] = round(meta["best"] / 0.6931471805599453, 4)
    except PoetError:
        pass  # listed all the same: `poet models` is where one looks for a broken model
    row["bytes"] = sum(f.stat().st_size for f in files)
    row["updated"] = max(f.stat().st_mtime for f in files)
    return row


def list_models(root: Path) -> list[dict]:
    """Every model under root/projects, as `model_row` describes it."""
    return [model_row(d) for d in model_dirs(root).values()]

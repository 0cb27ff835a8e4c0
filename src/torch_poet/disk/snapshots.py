"""Snapshots: `last.safetensors` (the latest) and `best.safetensors` (the lowest validation loss) in a model
directory. One safetensors file each: weights as `model.*`, optimizer state as `optim.<param index>.<key>`,
random number generators and the carried recurrent state under their own names; the header holds `meta`
(step, elapsed, best, data position, the snapshot's history row, and its owner: the vocabulary and the library
it was trained on) and `optim` (the optimizer's hyper-parameters), as JSON.

A snapshot is written to a temp name, fsynced and renamed over the old one, so a kill at any moment leaves
either the old or the new snapshot, never a half-written one. Nothing is unpickled: safetensors holds only
raw tensors and a JSON header. Headers are read without torch (a listing of many models reads only them);
torch is imported by the functions that make tensors.
"""

from __future__ import annotations

import json
import struct
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError, safe_open

from ..errors import PoetError
from ..paths import atomic_write
from . import config_json

if TYPE_CHECKING:  # only the functions that make tensors import torch
    import torch

    from ..model import CharRNN

SNAPSHOTS = ("last", "best")
MAX_HEADER = 100 << 20  # safetensors' own limit on a header's size


def path(model_dir: Path, which: str) -> Path:
    return Path(model_dir) / f"{which}.safetensors"


def save(
    file: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    meta: dict,
    extra: dict[str, torch.Tensor] | None = None,
) -> None:
    """Weights, the optimizer's state and `extra` tensors (RNG states, carried recurrent state) in one file;
    `meta` (step, losses, elapsed, data cursor, ...) and the optimizer's hyper-parameters in its header."""
    import torch
    from safetensors.torch import save as st_save

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
    atomic_write(file, st_save(tensors, metadata=header))


def read(file: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and header of one snapshot; a truncated or corrupt file, or a header that is not torch-poet's,
    raises PoetError."""
    try:
        with safe_open(str(file), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise PoetError(f"snapshot {file} is unreadable ({e})") from None
    parse_meta(header, file)
    return tensors, header


def header(file: Path) -> dict[str, str]:
    """The header's metadata, read by hand (an 8-byte length, then JSON) so that no torch is needed; a file too
    short for the tensors its header lists is unreadable, as safetensors would find it."""
    try:
        with open(file, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > MAX_HEADER:
                raise ValueError(f"a header of {size:,} bytes")
            head = json.loads(f.read(size))
            f.seek(0, 2)
            room = f.tell() - 8 - size
        if not isinstance(head, dict):
            raise ValueError("a header that is not a JSON object")
        ends = [v["data_offsets"][1] for k, v in head.items() if k != "__metadata__"]
        if max(ends, default=0) > room:
            raise ValueError("cut short: its tensors end past the end of the file")
    except (OSError, ValueError, TypeError, KeyError, IndexError, struct.error) as e:
        raise PoetError(f"snapshot {file} is unreadable ({e})") from None
    metadata = head.get("__metadata__") or {}
    return metadata if isinstance(metadata, dict) else {}


def parse_meta(head: dict[str, str], file: Path) -> dict:
    """The snapshot's meta (step, elapsed, best, ...): a JSON object with a whole step, else a PoetError."""
    if "meta" not in head:
        raise PoetError(f"snapshot {file} has no torch-poet header; it was not written by torch-poet")
    try:
        meta = json.loads(head["meta"])
    except (TypeError, ValueError) as e:
        raise PoetError(f"snapshot {file} has a damaged header ({e})") from None
    step = meta.get("step") if isinstance(meta, dict) else None
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise PoetError(f"snapshot {file} has a damaged header (no step in {str(meta)[:40]!r})")
    return meta


def owner(config: dict) -> dict:
    """What a snapshot keeps of the model it belongs to (`config`: its config.json): the vocabulary, which gives
    each output its character, and the library's fingerprint. Weights of the same shape from another model would
    load without a word and write garbage."""
    return {"vocab": config["vocab"], "library": config["library"].get("fingerprint")}


def check_owner(snapshot_meta: dict, config: dict) -> None:
    """A PoetError if the snapshot was written for another vocabulary or library than config.json's (snapshots
    of versions that kept no owner pass)."""
    have = snapshot_meta.get("owner")
    if not isinstance(have, dict):
        return
    want = owner(config)
    if have.get("vocab") != want["vocab"]:
        raise PoetError("belongs to another model: it was trained on another vocabulary than config.json's")
    if have.get("library") != want["library"]:
        raise PoetError("belongs to another model: it was trained on another library than config.json's")


def meta(file: Path) -> dict:
    """A snapshot's meta (step, elapsed, best, ...) without reading its tensors."""
    return parse_meta(header(file), file)


def newest(model_dir: Path) -> tuple[str, dict] | None:
    """The snapshot furthest along and its meta: "last", unless "best" is ahead of it (a kill came between
    writing the two). None before the first snapshot; a PoetError when none is readable. The one rule for
    which snapshot is newer: resume continues from it and listings show it."""
    found, errors = {}, []
    for which in SNAPSHOTS:
        file = path(model_dir, which)
        try:
            found[which] = meta(file)
        except PoetError as e:
            errors += [str(e)] if file.exists() else []
    if not found:
        if errors:
            raise PoetError("; ".join(errors))
        return None
    which = max(found, key=lambda w: (found[w]["step"], w == "last"))
    return which, found[which]


def stamp(model_dir: Path) -> int:
    """When a snapshot of the model was last written (0: none yet): a loaded model older than this is stale."""
    times = [path(model_dir, which).stat().st_mtime_ns for which in SNAPSHOTS if path(model_dir, which).exists()]
    return max(times, default=0)


def misfit(want: dict[str, tuple], have: dict[str, tuple]) -> str | None:
    """What keeps weights of shapes `have` from loading into a model of shapes `want`, in one line; None if nothing."""
    problems = [f"{k} missing" for k in want if k not in have] + [f"{k} unexpected" for k in have if k not in want]
    problems += [f"{k} is {list(have[k])}, not {list(want[k])}" for k in want if k in have and have[k] != want[k]]
    if not problems:
        return None
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return f"does not fit the model in config.json ({shown})"


Use = Callable[[dict[str, Any], dict[str, str]], None]


def load(model_dir: Path, prefer: str = "last", use: Use | None = None) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The preferred snapshot, else the other one, warning about the one that could not be read or used:
    `use(tensors, header)` takes it in, or raises PoetError if it is readable but wrong (shapes, missing tensors)."""
    order = [prefer] + [w for w in SNAPSHOTS if w != prefer]
    errors = []
    for which in order:
        file = path(model_dir, which)
        if not file.exists():
            continue
        try:
            tensors, head = read(file)
        except PoetError as e:
            errors.append(str(e))
            continue
        try:
            if use is not None:
                use(tensors, head)
        except PoetError as e:
            errors.append(f"snapshot {file} {e}")
            continue
        for e in errors:
            warnings.warn(f"{e}; using the {which} snapshot instead", stacklevel=2)
        return which, tensors, head
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


def optimizer_state(tensors: dict[str, torch.Tensor], head: dict[str, str]) -> dict:
    """Rebuild `optimizer.state_dict()` from the snapshot's plain tensors."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in split(tensors, "optim.").items():
        i, key = k.split(".", 1)
        state.setdefault(int(i), {})[key] = v
    return {"state": state, "param_groups": json.loads(head["optim"])}


def load_model(model_dir: Path, which: str = "best", device: str | torch.device = "cpu") -> tuple[CharRNN, dict, dict]:
    """A trained model ready for generation, its config.json and its snapshot's meta. Loads on any
    device whatever it was trained on (a GPU-trained snapshot runs on a CPU-only machine)."""
    from ..config import ModelConfig
    from ..model import CharRNN

    model_dir = Path(model_dir)
    if not config_json.exists(model_dir):
        raise PoetError(f"no model in {model_dir}: train one with `poet train` or check --project/--model")
    config = config_json.read(model_dir)
    model = CharRNN(ModelConfig(**config["model"]))

    def use(tensors: dict[str, torch.Tensor], head: dict[str, str]) -> None:
        check_owner(json.loads(head["meta"]), config)
        fit(model, split(tensors, "model."))

    _, _, head = load(model_dir, which, use)
    model.to(device).eval()
    return model, config, json.loads(head["meta"])

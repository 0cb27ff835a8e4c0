"""Resuming a model: the configs saved with it, the checks that a run may continue it, and the exact
training state (weights, optimizer, data position, random numbers, carried state) a snapshot keeps."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

from .. import checkpoint
from ..config import ModelConfig, TrainConfig
from ..errors import PoetError
from ..plot import read_history
from . import distributed
from .data import Batches

FIX = "use --model NEWNAME to train a new model beside it, or --restart to start this one over"


def resolve_configs(
    model_dir: str | os.PathLike, model_overrides: dict, train_overrides: dict, restart: bool = False
) -> tuple[ModelConfig, TrainConfig, dict | None]:
    """Configs for a run: the saved ones when the model exists (so rerunning the same command resumes),
    else the defaults; explicit overrides on top. Also returns the saved library spec, if any."""
    path = Path(model_dir) / "config.json"
    saved = checkpoint.read_config(Path(model_dir)) if path.exists() and not restart else None
    model = {**(saved["model"] if saved else {}), **model_overrides}
    train = {**(saved["train"] if saved else {}), **train_overrides}
    train["sample_temperatures"] = tuple(train.get("sample_temperatures", TrainConfig.sample_temperatures))
    return ModelConfig(**model), TrainConfig(**train), (saved["library"]["spec"] if saved else None)


def changed_settings(old: dict, new: dict, model_dir: Path) -> list[str]:
    """The training settings a run changes on the saved model (any may change); a PoetError if the run
    describes another model: a different library, or other model settings (`old`, `new`: config.json's)."""
    where = f"model {model_dir}"
    if old["library"].get("fingerprint") != new["library"]["fingerprint"]:
        raise PoetError(f"{where} was trained on a different library (books or texts changed): {FIX}")
    for k, v in new["model"].items():
        was = old["model"].get(k, ModelConfig.__dataclass_fields__[k].default)  # a field new since: its default
        if was != v:
            raise PoetError(f"{where} has {k}={was}, this run asks {k}={v}: {FIX}")
    train = json.loads(json.dumps(new["train"]))  # tuples compare as the lists JSON keeps
    return [k for k, v in train.items() if old.get("train", {}).get(k, v) != v]  # a setting new since: unchanged


def state_tensors(gen: torch.Generator, device: torch.device, carried: list | None) -> dict[str, torch.Tensor]:
    """What a snapshot keeps beside weights and optimizer so that a resumed run continues exactly: the
    random number generators and the carried recurrent state, all rows of the batch (a collective: every
    rank hands in its rows)."""
    tensors = {"rng.torch": torch.get_rng_state(), "rng.data": gen.get_state()}
    if device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
    if carried is not None:
        names = [f"state.{i}.{j}" for i, s in enumerate(carried) for j in range(len(s))]
        tensors.update(zip(names, distributed.gather_rows([t for s in carried for t in s], dim=0)))
    return tensors


def regroup(saved: dict, model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict:
    """A snapshot written before biases and the embedding had a group of their own holds one group, in
    the model's parameter order: its state, under this optimizer's groups."""
    if len(saved["param_groups"]) != 1 or len(opt.param_groups) == 1:
        return saved
    index = {id(p): i for i, p in enumerate(p for g in opt.param_groups for p in g["params"])}
    state = {index[id(p)]: saved["state"][i] for i, p in enumerate(model.parameters()) if i in saved["state"]}
    hyper = {k: v for k, v in saved["param_groups"][0].items() if k != "params"}
    return {"state": state, "param_groups": [{**g, **hyper} for g in opt.state_dict()["param_groups"]]}


def restore(
    tensors: dict[str, torch.Tensor],
    header: dict[str, str],
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    batches: Batches,
    gen: torch.Generator,
) -> tuple[tuple[int, float, float], list | None]:
    """Take a snapshot's training state into the model, the optimizer (with this run's weight decay), the
    batches and the random number generators. Returns (step, elapsed, best) and this process's rows of
    the carried state; a PoetError if the snapshot is not a complete training state."""
    try:
        checkpoint.fit(model, checkpoint.split(tensors, "model."))
        decays = [g["weight_decay"] for g in opt.param_groups]  # this run's, not the snapshot's
        opt.load_state_dict(regroup(checkpoint.optimizer_state(tensors, header), model, opt))
        for g, decay in zip(opt.param_groups, decays):
            g["weight_decay"] = decay
        meta = json.loads(header["meta"])
        progress = (meta["step"], meta["elapsed"], meta.get("best", math.inf))
        batches.restore(meta["data"])
        rng = checkpoint.split(tensors, "rng.")
        torch.set_rng_state(rng["torch"])
        gen.set_state(rng["data"])
        device = next(model.parameters()).device
        if "cuda" in rng and device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"])
        saved = checkpoint.split(tensors, "state.")
        carried = None
        if saved:  # all rows of the batch, whatever the number of processes that wrote it: take ours
            n, rows = len(model.rnns), batches.rows
            carried = [tuple(saved[f"{i}.{j}"][rows].to(device) for j in range(len(saved) // n)) for i in range(n)]
    except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as e:
        raise PoetError(f"does not hold a complete training state ({type(e).__name__}: {e})") from None
    return progress, carried


def history_until(model_dir: Path, step: int, meta: dict) -> list[dict]:
    """history.jsonl's rows up to the snapshot at `step`, with the snapshot's own row where a kill came
    before history.jsonl was written."""
    history = [h for h in read_history(model_dir) if h["step"] <= step]
    row = meta.get("stats")
    if isinstance(row, dict) and all(h["step"] < step for h in history) and row.get("step") == step:
        history.append(row)
    return history

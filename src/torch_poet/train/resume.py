"""Where a run starts, decided once: a new model, or the saved one it resumes (its configs with the settings
the caller names on top, the checks that the run may continue it), and the exact training state (weights,
optimizer, data position, random numbers, carried state) a snapshot keeps."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from ..config import LibrarySpec, ModelConfig, TrainConfig
from ..disk import config_json, history, snapshots
from ..errors import PoetError
from ..hardware import pick_device
from . import distributed
from .data import Batches

FIX = "use --model NEWNAME to train a new model beside it, or --restart to start this one over"
MODEL_FIELDS = frozenset(f.name for f in fields(ModelConfig))
TRAIN_FIELDS = frozenset(f.name for f in fields(TrainConfig))


@dataclass
class Start:
    """A run's starting point: the model directory, its configs, the settings the caller named (sizing leaves
    those alone), the saved config.json (None: a new model, or one started over), how the shape was sized,
    and the device this process trains on."""

    dir: Path
    model: ModelConfig
    train: TrainConfig
    device: torch.device
    named: frozenset[str] = frozenset()
    saved: dict | None = None
    sizing: dict | None = None  # what config.json keeps of the sizing choice (sizing.Choice.record)

    @property
    def new(self) -> bool:
        return self.saved is None

    @property
    def spec(self) -> LibrarySpec | None:
        """The library the saved model was trained on, as asked for."""
        return LibrarySpec(**self.saved["library"]["spec"]) if self.saved else None

    @classmethod
    def resolve(
        cls, model_dir: str | os.PathLike, settings: dict[str, Any] | None = None, restart: bool = False
    ) -> Start:
        """The start of a run on `model_dir`: the saved model when there is one (so rerunning the same command
        resumes), else a new one; `settings` (fields of ModelConfig and TrainConfig) on top of the saved or
        default configs. Reads config.json, writes nothing."""
        settings = dict(settings or {})
        unknown = sorted(set(settings) - MODEL_FIELDS - TRAIN_FIELDS)
        if unknown:
            raise PoetError(f"unknown setting(s) {', '.join(unknown)}: see `poet train --help`")
        where = Path(model_dir)
        saved = config_json.read(where) if config_json.exists(where) and not restart else None
        model = {**(saved["model"] if saved else {}), **{k: v for k, v in settings.items() if k in MODEL_FIELDS}}
        train = {**(saved["train"] if saved else {}), **{k: v for k, v in settings.items() if k in TRAIN_FIELDS}}
        train["sample_temperatures"] = tuple(train.get("sample_temperatures", TrainConfig.sample_temperatures))
        tcfg = TrainConfig(**train)
        device = distributed.device_for(pick_device(tcfg.device), distributed.current())
        sized = saved.get("sizing") if saved else None
        return cls(where, ModelConfig(**model), tcfg, device, frozenset(settings), saved, sized)


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


@dataclass
class Resumed:
    """Where a resumed run stands: the snapshot it came from, its progress and history, and this process's
    rows of the carried recurrent state (None: start it afresh)."""

    which: str
    step: int
    elapsed: float
    best: float
    carried: list | None
    history: list[dict] = field(default_factory=list)


def restore(
    model_dir: Path,
    config: dict,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    batches: Batches,
    gen: torch.Generator,
) -> Resumed:
    """Take the newest usable snapshot's training state into the model, the optimizer (with this run's weight
    decay), the batches and the random number generators; a snapshot that is not a complete training state of
    this model (`config`: its config.json) is passed over for the other one, with a warning."""
    taken: list[Resumed] = []

    def use(tensors: dict[str, torch.Tensor], header: dict[str, str]) -> None:
        meta = json.loads(header["meta"])  # a JSON object with a step: `snapshots.read` checked it
        snapshots.check_owner(meta, config)
        try:
            snapshots.fit(model, snapshots.split(tensors, "model."))
            decays = [g["weight_decay"] for g in opt.param_groups]  # this run's, not the snapshot's
            opt.load_state_dict(regroup(snapshots.optimizer_state(tensors, header), model, opt))
            for g, decay in zip(opt.param_groups, decays):
                g["weight_decay"] = decay
            batches.restore(meta["data"])
            rng = snapshots.split(tensors, "rng.")
            torch.set_rng_state(rng["torch"])
            gen.set_state(rng["data"])
            device = next(model.parameters()).device
            if "cuda" in rng and device.type == "cuda":
                torch.cuda.set_rng_state(rng["cuda"])
            saved = snapshots.split(tensors, "state.")
            carried = None
            if saved:  # all rows of the batch, whatever the number of processes that wrote it: take ours
                n, rows = len(model.rnns), batches.rows
                carried = [tuple(saved[f"{i}.{j}"][rows].to(device) for j in range(len(saved) // n)) for i in range(n)]
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as e:
            raise PoetError(f"does not hold a complete training state ({type(e).__name__}: {e})") from None
        step = meta["step"]
        taken.append(Resumed("", step, meta["elapsed"], meta.get("best", math.inf), carried,
                             history.until(model_dir, step, meta.get("stats"))))  # fmt: skip

    try:
        found = snapshots.newest(model_dir)
    except PoetError:
        found = None  # load() says what is wrong with each
    which, _, _ = snapshots.load(model_dir, found[0] if found else "last", use)
    taken[-1].which = which
    return taken[-1]

"""A training run as `poet train` makes one, from settings to a trained model: the saved or default
configs, the library (downloaded once per machine), a new model sized to the device and the time, and
the Trainer, all inside one data-parallel job when started by torchrun."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from .. import sizing
from ..hardware import pick_device
from ..library import WOMEN_WRITERS, LibrarySpec, build
from . import distributed
from .loop import Trainer, stderr
from .resume import resolve_configs


def train_model(
    where: Path,
    spec: LibrarySpec,
    model_overrides: dict,
    train_overrides: dict,
    restart: bool = False,
    mirror: str | None = None,
    cache: str | None = None,
    log: Callable[[str], None] = stderr,
) -> list[dict]:
    """Train (or resume) the model in `where` on `spec`'s library (none: the saved one, or the default);
    the overrides are the settings the user named, on top of the saved or default ones. A new model whose
    shape is not named is sized here (not in a job of several processes: they must agree without talking).
    Returns the history."""
    new = restart or not (where / "config.json").exists()  # a saved model keeps its shape
    mcfg, tcfg, saved_spec = resolve_configs(where, model_overrides, train_overrides, restart)
    if spec.is_empty():
        spec = LibrarySpec(**saved_spec) if saved_spec else WOMEN_WRITERS
    with distributed.job(pick_device(tcfg.device), tcfg.batch_size) as rank:
        say = log if rank.main else (lambda msg: None)
        with distributed.local_rank_zero_first(rank):  # one download per machine, the others read the cache
            library = build(spec, mirror, cache)
        chars = sum(len(t.text) for t in library.texts)
        say(f"library: {len(library.texts)} texts, {chars:,} chars, {len(library.vocab)} distinct")
        picked = None
        if new and rank.world == 1:
            mcfg, tcfg, picked = sizing.apply(mcfg, tcfg, library, {*model_overrides, *train_overrides})
            if picked:
                say(picked["picked"])
        trainer = Trainer(library, where, mcfg, tcfg, spec=asdict(spec), restart=restart, log=log, sizing=picked)
        return trainer.run()

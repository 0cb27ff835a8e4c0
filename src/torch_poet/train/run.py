"""A training run as `poet train` makes one, from settings to a trained model: where it starts (the saved
model or a new one), the library (downloaded once per machine), a new model sized to the device and the
time, the hooks that show it, and the Trainer."""

from __future__ import annotations

import os
from dataclasses import replace
from collections.abc import Callable
from typing import Any

from ..config import WOMEN_WRITERS, LibrarySpec
from ..library import build, reopen
from . import distributed, sizing
from .display import Display
from .hooks import Heartbeat, Hook, TensorBoard
from .loop import LOG, Trainer
from .resume import Start
from .samples import Samples


def standard_hooks(start: Start, log: Callable[[str], None]) -> list[Hook]:
    """The hooks of `poet train`: progress, a heartbeat for the dashboard, samples with their memorisation
    figures, and TensorBoard when asked for (a Python caller may hand the Trainer these or its own)."""
    tensorboard = TensorBoard(start.dir) if start.train.tensorboard else None
    return [Display(log), Heartbeat(), Samples(tensorboard), *([tensorboard] if tensorboard else [])]


def train_model(
    where: str | os.PathLike,
    spec: LibrarySpec,
    settings: dict[str, Any] | None = None,
    restart: bool = False,
    mirror: str | None = None,
    cache: str | None = None,
    log: Callable[[str], None] = LOG,
) -> list[dict]:
    """Train (or resume) the model in `where` on `spec`'s library (an empty spec or the saved one: the library it
    was trained on, as config.json records it, not the search run again; else the default); `settings` are the
    fields of ModelConfig and TrainConfig the user named, on top of the saved or default ones. A new model whose shape is not named is sized here (not in a job of several processes:
    they must agree without talking). Returns the history."""
    dist = distributed.current()
    speak = log if dist.main else (lambda msg: None)
    with distributed.rank_zero_speaks(dist):
        start = Start.resolve(where, settings, restart)
        saved = start.saved["library"] if start.saved else None
        if saved and saved.get("texts") and (spec.is_empty() or spec == start.spec):  # the library it trained on
            library = reopen(saved["texts"], saved.get("fingerprint"), start.spec, mirror, cache, speak)
        else:
            default = replace(WOMEN_WRITERS, all_editions=spec.all_editions)
            library = build(spec if not spec.is_empty() else default, mirror, cache, speak)
        speak(f"library: {len(library.entries)} texts, {library.chars:,} chars, {len(library.vocab)} distinct")
        if start.new and dist.world == 1:
            start = sizing.apply(start, library)
            if start.sizing:
                speak(start.sizing["picked"])
        return Trainer(library, start, standard_hooks(start, log), log).run()

"""torch-poet: character-level LSTM language models trained on Project Gutenberg books, with every
verbatim quote in the generated text coloured, named and linked to its source.

The whole workflow from Python (or a notebook)::

    from torch_poet import Conversation, LibrarySpec, Poet, Start, Trainer, build_library, standard_hooks

    library = build_library(LibrarySpec(author=["jane austen"], language=["en"]))
    start = Start.resolve("models/austen", {"hidden": 256, "minutes": 5})  # the saved model, if there is one
    Trainer(library, start, standard_hooks(start, print)).run()           # blocking; rerun to resume
    poet = Poet.load("models/austen")   # the best snapshot
    poet.show(". ", length=500)         # generated text, highlighted by source (rich in Jupyter)
    dialog = Conversation(poet)         # a dialog: the model's state carries over from turn to turn
    dialog.turn("It was a dark and stormy night")

`torch_poet.gutenberg` searches and downloads books; `torch_poet.plot.plot_history` draws the curves.
Names are imported on first use, so `import torch_poet` (and the `poet` command) start fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "PoetError": "errors",
    "ModelConfig": "config",
    "TrainConfig": "config",
    "SampleConfig": "config",
    "Text": "library",
    "Library": "library",
    "LibrarySpec": "config",
    "WOMEN_WRITERS": "config",
    "build_library": "library:build",
    "CharRNN": "model",
    "Trainer": "train.loop",
    "Start": "train.resume",
    "standard_hooks": "train.run",
    "train_model": "train.run",
    "Poet": "poet",
    "Conversation": "chat",
    "Index": "attribution",
    "Highlighted": "render",
    "plot_history": "plot",
    "read_history": "disk.history:read",
    "model_dir": "paths",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'torch_poet' has no attribute {name!r}")
    module, _, attr = _EXPORTS[name].partition(":")
    value = getattr(importlib.import_module(f".{module}", __name__), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)

"""What several test files share: a tiny model trained for a few seconds on two short texts (local files, so
its library reloads offline) and saved like `poet train` saves it, random-weight models, `poet` as a process, and
the pieces of a small training run (a one-text library, a tiny TrainConfig, a copy of a model's weights)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from conftest import SHARED

from torch_poet.config import TrainConfig
from torch_poet.disk import config_json, snapshots
from torch_poet.library import Library, Text, prepare, read_file
from torch_poet.model import CharRNN, ModelConfig
from torch_poet.train.loop import LOG, Trainer
from torch_poet.train.resume import Start
from torch_poet.train.run import standard_hooks

SHAKESPEARE = SHARED / "corpora" / "tiny-shakespeare.txt"

AUSTEN = """It is a truth universally acknowledged, that a single man in possession of a good fortune, must be
in want of a wife. However little known the feelings or views of such a man may be on his first entering a
neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered the
rightful property of some one or other of their daughters. "My dear Mr. Bennet," said his lady to him one day,
"have you heard that Netherfield Park is let at last?" Mr. Bennet replied that he had not. "But it is," returned
she; "for Mrs. Long has just been here, and she told me all about it." Mr. Bennet made no answer.
"""
BRONTE = """There was no possibility of taking a walk that day. We had been wandering, indeed, in the leafless
shrubbery an hour in the morning; but since dinner the cold winter wind had brought with it clouds so sombre,
and a rain so penetrating, that further out-door exercise was now out of the question. I was glad of it: I
never liked long walks, especially on chilly afternoons: dreadful to me was the coming home in the raw
twilight, with nipped fingers and toes, and a heart saddened by the chidings of Bessie, the nurse.
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")
ENV = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "POET_GUTENBERG_URL")}
ENV["OMP_NUM_THREADS"] = "1"  # the CLI tests run in parallel with whatever else shares the machine


def lib(text: str) -> Library:
    """A library of one text, prepared in $POET_CACHE as `poet train` prepares one."""
    return prepare([lambda: Text(key="t", title="t", author="a", text=text)], log=lambda message: None)


def tiny(**kw) -> TrainConfig:
    """A TrainConfig for runs of a few seconds on a CPU; `kw` overrides."""
    base = dict(batch_size=8, seq_len=32, lr=1e-2, warmup_steps=5, snapshot_every=60, seed=3, precision="fp32")
    return TrainConfig(**{**base, **kw})


def trainer(
    library: Library, where: Path, model: ModelConfig, train: TrainConfig, restart: bool = False, log=LOG
) -> Trainer:
    """A Trainer of the model in `where` with every setting of `model` and `train` named, and the hooks of
    `poet train`: as a Python caller makes one."""
    start = Start.resolve(where, {**asdict(model), **asdict(train)}, restart)
    return Trainer(library, start, standard_hooks(start, log), log)


def params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the model's weights (its state_dict, cloned), to compare with after it trains on."""
    return {k: v.clone() for k, v in model.state_dict().items()}


def train_model(where: Path, steps: int = 250) -> Path:
    """A 2x64 LSTM trained briefly on AUSTEN + BRONTE, saved as $where/projects/test/tiny."""
    model_dir = where / "projects" / "test" / "tiny"
    if (model_dir / "best.safetensors").exists():
        return model_dir
    books = where / "books"
    books.mkdir(parents=True, exist_ok=True)
    (books / "austen.txt").write_text(AUSTEN)
    (books / "bronte.txt").write_text(BRONTE)
    library = Library.from_texts([read_file(books / "austen.txt"), read_file(books / "bronte.txt")])
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=len(library.vocab), layers=2, hidden=64, embedding=16, dropout=0.0)
    model = CharRNN(config)
    train, _ = library.split(0.0)
    data = torch.from_numpy(train.take(np.arange(len(train))))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        starts = torch.randint(0, len(data) - 65, (32,), generator=g)
        batch = torch.stack([data[s : s + 65] for s in starts.tolist()])
        logits, _ = model(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    meta = {"step": steps, "loss": loss.item()}
    for which in snapshots.SNAPSHOTS:
        snapshots.save(snapshots.path(model_dir, which), model, None, meta, {})
    config_json.write(model_dir, config_json.build(config, TrainConfig(), library))
    return model_dir


def random_model(cell="lstm", layers=2, hidden=32, vocab=40, seed=0) -> CharRNN:
    torch.manual_seed(seed)
    model = CharRNN(ModelConfig(vocab_size=vocab, cell=cell, layers=layers, hidden=hidden, embedding=8))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)  # peaky distributions: greedy paths that are not constant
    return model.eval()


VOCAB40 = "".join(chr(c) for c in range(ord("A"), ord("A") + 26)) + " .,;:!?'-()\n\"&"


def reference_greedy(model: CharRNN, ids: list[int], length: int) -> list[int]:
    """Greedy decoding the slow, obvious way: the whole text through forward at every step."""
    ids = list(ids)
    out = []
    with torch.no_grad():
        for _ in range(length):
            logits, _ = model(torch.tensor([ids]))
            out.append(int(logits[0, -1].argmax()))
            ids.append(out[-1])
    return out


def poet_cli(home: Path, *args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "torch_poet", *args],
        input=stdin, capture_output=True, text=True, timeout=120,
        env={**ENV, "POET_HOME": str(home), **(env or {})},
    )  # fmt: skip


MODEL = ("--project", "test", "--model", "tiny")

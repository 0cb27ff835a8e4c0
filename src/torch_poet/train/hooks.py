"""What the loop does besides training, as hooks (minGPT's callbacks): the caller hands the Trainer its list,
and the loop calls each at its points with the run to read (`Run`). A hook keeps its own state. The progress
display (display.py), the samples (samples.py) and TensorBoard (here) are hooks; `train_model` (run.py) puts
together the list `poet train` uses."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from ..config import TrainConfig
from ..disk import heartbeat
from ..errors import PoetError
from ..library import Library
from ..model import CharRNN


@dataclass
class Stats:
    """One line of history.jsonl."""

    time: float  # training seconds so far (all runs)
    step: int
    epoch: float
    train_loss: float
    val_loss: float
    val_bpc: float
    val_acc: float
    sec_per_sample: float
    chars_per_sec: float
    lr: float
    wall: float  # unix time
    chars: int | None = None  # characters trained on so far: epochs times the training text's length
    # memorisation of a sample written at this snapshot (see `samples.Samples.on_evaluate`)
    quoted: float | None = None  # the share of its characters inside quotes of the library
    longest_quote: int | None = None  # its longest quote, in characters
    quotes_per_1000: float | None = None  # quotes per 1,000 characters
    readability: float | None = None  # the share of its words that are words of the library


@dataclass
class Window:
    """The steps since the last snapshot: their loss summed on the device (read at the snapshot, so that
    no step waits for the host), how many, and the characters this process trained on."""

    start: float  # training seconds when it began
    loss: torch.Tensor
    steps: int = 0
    chars: int = 0

    def add(self, loss: torch.Tensor, chars: int) -> None:
        self.loss += loss
        self.steps, self.chars = self.steps + 1, self.chars + chars

    def mean_loss(self) -> float:
        """This process's mean training loss so far (reads it from the device: once in a while, not every step)."""
        return self.loss.item() / max(self.steps, 1)

    def rate(self, elapsed: float) -> float:
        """This process's characters per second so far, `elapsed` the run's training seconds now."""
        return self.chars / max(elapsed - self.start, 1e-9)


class Run(Protocol):
    """What a hook may read of the run (the Trainer is one)."""

    dir: Path  # the model directory
    cfg: TrainConfig
    model: CharRNN
    library: Library
    step: int
    elapsed: float  # training seconds so far (all runs)
    epoch: float  # passes over the training text so far (all runs)
    history: list[dict]  # history.jsonl's rows
    profile: dict[str, float]  # seconds spent on data, train, eval, hooks, snapshot since this run began
    log: Callable[[str], None]  # how the run speaks to the user


class Hook:
    """A hook does nothing at any point until it says otherwise. Hooks run in the process that speaks
    for the job (rank 0)."""

    def on_start(self, run: Run) -> None:
        """Training begins (each `run()`)."""

    def on_step(self, run: Run, window: Window) -> None:
        """After each optimizer step."""

    def on_evaluate(self, run: Run) -> dict:
        """At a snapshot, after validation: columns to add to its history row."""
        return {}

    def on_snapshot(self, run: Run, stats: Stats, improved: bool) -> None:
        """After a snapshot is written, with its history row; `improved`: a new best validation loss."""

    def on_end(self, run: Run) -> None:
        """Training ends, however it ends."""


class Heartbeat(Hook):
    """Every `every` seconds, where the run is (disk/heartbeat.py): what the dashboard shows between snapshots.
    Costs a small file write every few seconds, and one read of the window's loss from the device."""

    def __init__(self, every: float = 2.0):
        self.every, self.last = every, -math.inf

    def on_step(self, run: Run, window: Window) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        cfg = run.cfg
        left = cfg.minutes * 60 - run.elapsed if cfg.minutes else None
        heartbeat.write(run.dir, {"step": run.step, "epoch": round(run.epoch, 3), "steps": cfg.steps,
                                  "minutes": cfg.minutes, "elapsed": round(run.elapsed, 1),
                                  "left": round(left, 1) if left else None, "train_loss": round(window.mean_loss(), 4),
                                  "chars_per_sec": round(window.rate(run.elapsed)), "wall": time.time()})  # fmt: skip

    def on_end(self, run: Run) -> None:
        heartbeat.remove(run.dir)


class TensorBoard(Hook):
    """The statistics of each snapshot (and the texts the samples hook hands in) in <model dir>/tensorboard."""

    SCALARS = ("train_loss", "val_loss", "val_bpc", "val_acc", "readability", "chars_per_sec", "lr")

    def __init__(self, model_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise PoetError(
                "--tensorboard needs the tensorboard package: pip install 'torch-poet[tensorboard]'"
            ) from None
        self.folder, self.new_writer, self.writer = model_dir / "tensorboard", SummaryWriter, None  # opened by run()

    def on_start(self, run: Run) -> None:
        self.writer = self.new_writer(str(self.folder))

    def on_snapshot(self, run: Run, stats: Stats, improved: bool) -> None:
        for key in self.SCALARS:
            if getattr(stats, key) is not None:
                self.writer.add_scalar(key, getattr(stats, key), stats.step, walltime=stats.wall)
        self.writer.flush()

    def text(self, tag: str, text: str, step: int) -> None:
        self.writer.add_text(tag, text, step)

    def on_end(self, run: Run) -> None:
        self.writer.close()

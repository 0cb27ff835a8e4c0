"""The training loop: AdamW with warm-up and linear decay over batches of contiguous streams, timed
snapshots with validation bits per char, and exact resume after any interruption. `Trainer.run()` reads
top to bottom; what is done beside training (progress, samples, TensorBoard) are hooks (hooks.py)."""

from __future__ import annotations

import functools
import math
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, replace

import torch

from ..config import LN2, TrainConfig
from ..disk import config_json, history, snapshots
from ..disk.lock import training_lock
from ..errors import PoetError, say
from ..hardware import autocast, pick_dtype
from ..library import Library
from ..model import CharRNN, cross_entropy, detach_state
from ..plot import plot_history
from . import distributed, resume
from .data import Batches, evaluate
from .hooks import Hook, Stats, Window
from .resume import Start
from .shards import Shards, cpu_shards

PROFILE = ("data", "train", "eval", "hooks", "snapshot")  # where the time goes, logged at the first snapshots
LOG = functools.partial(say, prefix="")  # training speaks in plain lines on stderr


def lr_at(cfg: TrainConfig, step: int, elapsed: float) -> float:
    """Linear warm-up, then linear decay to lr * min_lr_ratio over the run's horizon (--steps or --minutes,
    whichever is further along); constant when training runs until stopped. Linear to zero beat cosine to
    10% at equal characters (BENCHMARKS.md, the schedule), as it does for large language models."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if not (cfg.steps or cfg.minutes):
        return cfg.lr
    progress = max(step / cfg.steps if cfg.steps else 0.0, elapsed / (cfg.minutes * 60) if cfg.minutes else 0.0)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * (1 - min(progress, 1.0)))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW's groups: weight decay on the weight matrices, none on biases and the embedding, as nanoGPT
    does (it scored better than decaying all at equal characters: BENCHMARKS.md, the schedule)."""
    named = list(model.named_parameters())
    decayed = {n for n, p in named if p.dim() >= 2 and not n.startswith("embed.")}
    return [
        {"params": [p for n, p in named if n in decayed], "weight_decay": weight_decay},
        {"params": [p for n, p in named if n not in decayed], "weight_decay": 0.0},
    ]


def train_step(
    net, opt, x: torch.Tensor, y: torch.Tensor, state, dtype: torch.dtype, clip: float, shards: Shards | None = None
):
    """Forward, backward (by shards on a CPU with several cores), clip, AdamW: (loss without a host sync,
    the carried state detached)."""
    params = [p for g in opt.param_groups for p in g["params"]]
    opt.zero_grad(set_to_none=True)
    if shards:
        loss, state = shards.backward(net, x, y, state, dtype, params)
    else:
        with autocast(x.device, dtype):
            logits, state = net(x, state)
        loss = cross_entropy(logits, y)
        loss.backward()
    torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()
    return loss.detach(), detach_state(state)


class StopRequest:
    """While training, Ctrl-C and SIGTERM only set `requested`, which the loop reads after each step (and
    evaluation between windows): the snapshot written on the way out is consistent, and the interrupt is
    never raised inside a finalizer or library code that would swallow it."""

    def __init__(self) -> None:
        self.requested = False
        self.previous: dict = {}

    def __enter__(self) -> StopRequest:
        self.requested = False
        if threading.current_thread() is threading.main_thread():  # only there can handlers be set
            self.previous = {sig: signal.signal(sig, self.set) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def set(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}


class Trainer:
    """Owns one model directory: creates or resumes it as `start` says (`Start.resolve`), trains, snapshots,
    and calls its `hooks` at their points. `run()` blocks until a stop condition; Ctrl-C (or SIGTERM)
    snapshots and raises KeyboardInterrupt. Under torchrun every process makes the same Trainer and runs
    it: they train as one data-parallel job (distributed.py).

    Making a Trainer reads the snapshot it resumes from and writes nothing; `run()` writes. What hooks may
    read of it is `hooks.Run`."""

    def __init__(
        self, library: Library, start: Start, hooks: Sequence[Hook] = (), log: Callable[[str], None] = LOG
    ):
        cfg = self.cfg = start.train
        mcfg = replace(start.model, vocab_size=len(library.vocab))
        self.library, self.dir, self.device = library, start.dir, start.device
        self.dist = distributed.current()  # this process's place in a torchrun job (one process otherwise)
        self.log = log if self.dist.main else (lambda msg: None)
        self.dtype = pick_dtype(cfg.precision, self.device)
        torch.manual_seed(cfg.seed)
        self.gen = torch.Generator().manual_seed(cfg.seed)  # the data's random numbers
        self.model = CharRNN(mcfg).to(self.device)
        self.opt = torch.optim.AdamW(param_groups(self.model, cfg.weight_decay), lr=cfg.lr,
                                     betas=(0.9, 0.99), **({"fused": True} if self.device.type == "cuda" else {}))  # fmt: skip
        train, self.val = library.split(cfg.val_fraction)
        self.batches = Batches(train, cfg.batch_size, cfg.seq_len, self.gen, self.dist.rows(cfg.batch_size), self.device)
        # the training state: a snapshot holds all of it, so that resume continues exactly
        self.step, self.elapsed, self.best = 0, 0.0, math.inf
        self.state = None  # the recurrent state carried from batch to batch
        self.history: list[dict] = []
        self.config = config_json.build(mcfg, cfg, library, start.sizing)
        self.stop = StopRequest()
        self.shards: Shards | None = None  # while running on a CPU with several cores
        self.profile = dict.fromkeys(PROFILE, 0.0)
        self.hooks = list(hooks)
        self.unwritten = start.new  # run() starts the directory (over)
        if not start.new:
            self._resume(start.saved)
        self._seed_rank()

    def _resume(self, saved: dict) -> None:
        """Take in the newest snapshot (a kill between writing best and last leaves best ahead), or a
        PoetError if this run describes another model than the saved one."""
        changed = resume.changed_settings(saved, self.config, self.dir)
        if changed and self.dist.main:
            warnings.warn(f"resuming model {self.dir} with changed settings: {', '.join(changed)}", stacklevel=3)
        r = resume.restore(self.dir, self.config, self.model, self.opt, self.batches, self.gen)
        self.step, self.elapsed, self.best, self.state, self.history = r.step, r.elapsed, r.best, r.carried, r.history
        self.log(f"resuming {self.dir} from the {r.which} snapshot at step {self.step} ({self.elapsed / 60:.1f} min)")

    def _seed_rank(self) -> None:
        """Ranks after the first draw their own dropout masks (rank 0's RNG is the one snapshots keep)."""
        if not self.dist.main:
            torch.manual_seed(self.cfg.seed + 1_000_003 * self.dist.rank + self.step)

    def done(self) -> bool:
        c = self.cfg
        return bool((c.steps and self.step >= c.steps) or (c.minutes and self.elapsed >= c.minutes * 60))

    def trigger(self, event: str, *args) -> list:
        """Call each hook's `event` method; their answers in order."""
        return [getattr(hook, event)(self, *args) for hook in (self.hooks if self.dist.main else [])]

    # -- the run ------------------------------------------------------------------------------------

    @property
    def epoch(self) -> float:
        """Passes over the training text so far (all runs)."""
        return self.batches.position()

    def run(self) -> list[dict]:
        """Train until --steps/--minutes (totals for the model) or Ctrl-C; returns the history."""
        with distributed.job(self.device, self.cfg.batch_size), self._lock():
            self._open()
            if self.done():
                self.log(f"{self.dir} has already trained {self.step} steps / {self.elapsed / 60:.1f} min: "
                         "raise --minutes or --steps to go on")  # fmt: skip
                return self.history
            net = distributed.wrap(self.model, self.cfg.compile)  # the DDP wrapper: averages the gradients
            try:
                with self.stop, self._sharded(), self._hooks_running():
                    self._train(net)
            except KeyboardInterrupt:
                self._snapshot("last")
                self.log(f"interrupted: snapshot saved at step {self.step} in {self.dir}")
                raise
            except torch.OutOfMemoryError:
                b, t = self.cfg.batch_size, self.cfg.seq_len
                raise PoetError(
                    f"out of memory on {self.device} with batch {b} x {t} chars and {self.model.config.hidden} hidden "
                    f"units: lower --batch-size (e.g. {max(1, b // 2)}) or --seq-len, or use a smaller --hidden; "
                    f"the last snapshot in {self.dir} is intact"
                ) from None
        return self.history

    @contextmanager
    def _hooks_running(self) -> Iterator[None]:
        self.trigger("on_start")
        try:
            yield
        finally:
            self.trigger("on_end")

    @contextmanager
    def _sharded(self) -> Iterator[None]:
        """On a CPU, each batch by shards, one per core (shards.py); a process of a data-parallel job, or a
        compiled model, takes its rows whole."""
        if self.dist.world > 1 or self.cfg.compile:
            yield
            return
        with cpu_shards(self.device, self.cfg.batch_size) as self.shards:
            try:
                yield
            finally:
                self.shards = None

    def _lock(self):
        """Rank 0 holds the model's training lock for the job."""
        return training_lock(self.dir) if self.dist.main else nullcontext()

    def _open(self) -> None:
        """Rank 0 writes the model directory as the run starts: a new model's config.json and first snapshot
        (a loadable model from the very start), a resumed one's settings and history."""
        distributed.barrier()  # every rank has read what it resumes from before rank 0 writes
        if self.dist.main and self.unwritten:  # a new model, or one started over
            for which in snapshots.SNAPSHOTS:
                snapshots.path(self.dir, which).unlink(missing_ok=True)
            history.path(self.dir).unlink(missing_ok=True)
            config_json.write(self.dir, self.config)
            self._snapshot("last")
        elif self.dist.main:
            config_json.write(self.dir, self.config)
            history.write(self.dir, self.history)
        self.unwritten = False

    def _train(self, net: torch.nn.Module) -> None:
        """The loop, as nanoGPT's: a snapshot when one is due, the learning rate, a batch, forward and
        backward, the optimizer step, progress, and the stop check, until the run's horizon."""
        cfg = self.cfg
        self.model.train()
        self.profile = dict.fromkeys(PROFILE, 0.0)
        window = Window(self.elapsed, torch.zeros((), device=self.device))
        t0 = time.monotonic() - self.elapsed  # training time: evaluating, sampling and saving are left out
        while True:
            # evaluate and snapshot every --snapshot-every minutes, and at the end
            if self.done() or self.elapsed - window.start >= cfg.snapshot_every * 60:
                self._end_window(window, t0)
                if self.done():
                    return
                window = Window(self.elapsed, torch.zeros((), device=self.device))
                t0 = time.monotonic() - self.elapsed
            # the learning rate of this step
            for group in self.opt.param_groups:
                group["lr"] = lr_at(cfg, self.step, self.elapsed)
            # a batch: the next window of every stream; a new epoch starts the carried state over
            t = time.monotonic()
            x, y, new_epoch = self.batches.next()
            if new_epoch:
                self.state = None
            # forward, backward, clip and step
            t1 = time.monotonic()
            loss, self.state = train_step(net, self.opt, x, y, self.state, self.dtype, cfg.grad_clip, self.shards)
            self.step += 1
            window.add(loss, x.numel())
            now = time.monotonic()
            self.profile["data"] += t1 - t
            self.profile["train"] += now - t1
            # every rank takes the same time, and the same decision to stop
            stop, self.elapsed = distributed.agree(self.stop.requested, now - t0)
            if stop:
                raise KeyboardInterrupt
            self.trigger("on_step", window)

    def _end_window(self, window: Window, t0: float) -> None:
        """Validation, the history row, the snapshots (best when improved, last) and the hooks."""
        train_loss = distributed.mean(window.loss).item() / window.steps  # waits for the queued device work
        rate = window.chars * self.dist.world / max(time.monotonic() - t0 - window.start, 1e-9)
        if not self.dist.main:  # rank 0 evaluates alone (the one-process result); we hand in our state
            self._snapshot()
            return
        t = time.monotonic()
        # with several ranks an interrupt waits for the evaluation, so that all stop at the same step
        stop = (lambda: self.stop.requested) if self.dist.world == 1 else (lambda: False)
        val_loss, val_acc = evaluate(
            self.model, self.val, self.cfg.seq_len, self.dtype, self.cfg.eval_chars, stop, self.shards
        )
        self.profile["eval"] += time.monotonic() - t
        t = time.monotonic()
        columns = {k: v for answer in self.trigger("on_evaluate") for k, v in answer.items()}
        stats = Stats(
            time=round(self.elapsed, 2),
            step=self.step,
            epoch=round(self.epoch, 4),
            train_loss=round(train_loss, 4),
            val_loss=round(val_loss, 4),
            val_bpc=round(val_loss / LN2, 4),
            val_acc=round(val_acc, 4),
            sec_per_sample=round(self.cfg.seq_len / rate, 6) if rate else 0.0,
            chars_per_sec=round(rate, 1),
            lr=self.opt.param_groups[0]["lr"],
            wall=round(time.time(), 1),
            chars=round(self.epoch * len(self.batches.data)),
            **columns,
        )
        self.history.append(asdict(stats))
        self.profile["hooks"] += time.monotonic() - t
        t = time.monotonic()
        improved = val_loss < self.best
        if improved:
            self.best = val_loss
        # best first: a kill between leaves it ahead, and resume takes the newer one; history.jsonl last: each
        # snapshot holds its own row
        self._snapshot(*(["best"] if improved else []), "last")
        history.write(self.dir, self.history)
        plot_history(self.history, self.dir / "history.png", title=self.dir.name)
        self.profile["snapshot"] += time.monotonic() - t
        t = time.monotonic()
        self.trigger("on_snapshot", stats, improved)
        self.profile["hooks"] += time.monotonic() - t

    def _snapshot(self, *which: str) -> None:
        """Write the named snapshots (rank 0); every rank calls it, to hand in its rows of the state."""
        extra = resume.state_tensors(self.gen, self.device, self.state)
        if not self.dist.main:
            return
        meta = {
            "step": self.step,
            "elapsed": self.elapsed,
            "best": self.best,
            "data": self.batches.state(),
            "val_loss": self.history[-1]["val_loss"] if self.history else None,
            "stats": self.history[-1] if self.history else None,
            "owner": snapshots.owner(self.config),
        }
        for name in which:
            snapshots.save(snapshots.path(self.dir, name), self.model, self.opt, meta, extra)

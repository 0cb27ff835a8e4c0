"""The training loop: batches by indexing one token tensor, AdamW with warm-up and cosine decay, timed
snapshots with validation bits per char, periodic samples, and exact resume after any interruption."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from . import checkpoint, distributed
from .errors import PoetError
from .library import Library, readability
from .config import ModelConfig, TrainConfig
from .model import CharRNN, cross_entropy, detach_state
from .paths import atomic_write
from .plot import plot_history, read_history

LN2 = math.log(2)


def pick_device(name: str = "auto") -> torch.device:
    if name != "auto":
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise PoetError(f"--device {name} asked for, but CUDA is not available: use --device cpu")
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() and mps_lstm_works():
        return torch.device("mps")
    return torch.device("cpu")


def mps_lstm_works() -> bool:
    """Some PyTorch/macOS versions fail in the MPS LSTM backward; then CPU is the honest choice."""
    try:
        lstm = torch.nn.LSTM(4, 4).to("mps")
        lstm(torch.zeros(2, 1, 4, device="mps"))[0].sum().backward()
        return True
    except RuntimeError as e:
        warnings.warn(f"MPS LSTM backward failed ({e}); training on the CPU instead", stacklevel=2)
        return False


def cpu_has_bf16() -> bool:
    """Native bf16 matrix units (AVX512-BF16 or AMX): there oneDNN's bf16 LSTM runs about 2x fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if precision != "auto":
        raise PoetError(f"unknown precision {precision!r}: use auto, fp32 or bf16")
    if device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16()):
        return torch.bfloat16
    return torch.float32


def autocast(device: torch.device, dtype: torch.dtype):
    if dtype == torch.float32 or device.type not in ("cpu", "cuda"):
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


# --- data ----------------------------------------------------------------------------------------


class Streams:
    """Truncated backprop through time over `batch` contiguous streams of the corpus: batch k continues
    where batch k-1 stopped, so the carried state sees long context. Each epoch shifts the stream
    starts by a random offset. A batch is one gather by index, no per-sample Python. `rows` picks this
    process's share of the streams in data-parallel training."""

    def __init__(
        self, data: torch.Tensor, batch: int, seq_len: int, generator: torch.Generator, rows: slice = slice(None)
    ):
        self.data, self.batch, self.seq_len, self.gen, self.rows = data, batch, seq_len, generator, rows
        self.stream_len = (len(data) - 1) // batch
        if self.stream_len < seq_len + 1:
            raise PoetError(
                f"the training text ({len(data):,} chars) is shorter than one batch of {batch} windows of "
                f"{seq_len} chars: add books, or lower --batch-size/--seq-len"
            )
        self.steps_per_epoch = (self.stream_len - 1) // seq_len
        self.slack = self.stream_len - 1 - self.steps_per_epoch * seq_len  # room to shift the windows
        self.epoch, self.cursor, self.shift = 0, 0, 0
        self.offsets = torch.arange(seq_len + 1, device=data.device)

    def next(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """(inputs, targets, new_epoch): new_epoch tells the caller to reset the carried state."""
        new_epoch = self.cursor >= self.steps_per_epoch
        if new_epoch:
            self.epoch += 1
            self.cursor = 0
            self.shift = int(torch.randint(0, self.slack + 1, (1,), generator=self.gen))
        starts = torch.arange(self.batch, device=self.data.device)[self.rows] * self.stream_len + self.shift
        idx = starts.unsqueeze(1) + self.cursor * self.seq_len + self.offsets
        chunk = self.data[idx]
        self.cursor += 1
        return chunk[:, :-1], chunk[:, 1:], new_epoch

    def position(self) -> float:
        return self.epoch + self.cursor / self.steps_per_epoch

    def state(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor, "shift": self.shift}

    def restore(self, st: dict) -> None:
        self.epoch, self.cursor, self.shift = st["epoch"], st["cursor"], st["shift"]


@torch.no_grad()
def evaluate(
    model: CharRNN,
    data: torch.Tensor,
    seq_len: int,
    dtype: torch.dtype,
    max_chars: int | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> tuple[float, float]:
    """Mean cross-entropy (nats/char) and accuracy over `data`, split into a few contiguous streams
    whose recurrent state is carried across windows, as a reader would see the text. `stop()` is
    asked between windows, so an interrupt does not wait for the whole split."""
    was_training = model.training
    model.eval()
    if max_chars:  # None or 0: all
        data = data[:max_chars]
    streams = max(1, min(32, len(data) // (8 * seq_len)))  # each stream long enough to build up context
    n = (len(data) - 1) // streams
    if n < 1:
        raise PoetError("the validation split is empty: use a larger library or a larger --val-fraction")
    x = data[: streams * n].view(streams, n)
    y = data[1 : streams * n + 1].view(streams, n)
    device = next(model.parameters()).device
    total, correct, state = torch.zeros((), device=device), torch.zeros((), device=device), None
    for i in range(0, n, seq_len):
        if stop():
            raise KeyboardInterrupt
        with autocast(device, dtype):
            logits, state = model(x[:, i : i + seq_len], state)
        logits = logits.float()
        target = y[:, i : i + seq_len]
        total += torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), target.reshape(-1), reduction="sum"
        )
        correct += (logits.argmax(-1) == target).sum()
    model.train(was_training)
    count = streams * n
    return total.item() / count, correct.item() / count


# --- the loop --------------------------------------------------------------------------------------


def train_step(net, opt, x: torch.Tensor, y: torch.Tensor, state, dtype: torch.dtype, clip: float):
    """Forward, backward, clip, AdamW: (loss without a host sync, the carried state detached)."""
    with autocast(x.device, dtype):
        logits, state = net(x, state)
    loss = cross_entropy(logits, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], clip)
    opt.step()
    return loss.detach(), detach_state(state)


def lr_at(cfg: TrainConfig, step: int, elapsed: float) -> float:
    """Linear warm-up, then cosine decay over the run's horizon (--steps or --minutes, whichever is
    further along); constant when training runs until stopped."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = 0.0
    if cfg.steps:
        progress = max(progress, step / cfg.steps)
    if cfg.minutes:
        progress = max(progress, elapsed / (cfg.minutes * 60))
    if not (cfg.steps or cfg.minutes):
        return cfg.lr
    cos = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cos)


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
    # memorisation of a sample written at this snapshot (see `sample_figures`)
    quoted: float | None = None  # the share of its characters inside quotes of the library
    longest_quote: int | None = None  # its longest quote, in characters
    quotes_per_1000: float | None = None  # quotes per 1,000 characters
    readability: float | None = None  # the share of its words that are words of the library


def write_samples(trainer: "Trainer", log) -> None:
    """Text at a few temperatures from the prompt ". ", highlighted by source, printed and saved under
    samples/ (plain text and an HTML page with the quotes linked to their books)."""
    from .render import ansi, html_page, no_color
    from .sample import generate

    cfg, step = trainer.cfg, trainer.step
    index = trainer.attribution(log)
    rule = index.rule()
    parts, pages = [], []
    for temp in cfg.sample_temperatures:
        text = generate(trainer.model, trainer.library.vocab, sample_prompt(trainer.library.vocab), cfg.sample_length,
                        temperature=temp, seed=cfg.seed + step)[0]  # fmt: skip
        spans = index.segment(text)
        head = f"temperature {temp} · readability {readability(text, trainer.library.words):.0%}"
        parts.append(f"--- {head} ---\n{text}\n")
        if trainer.tensorboard is not None:
            trainer.tensorboard.add_text(f"sample/temperature {temp}", text, step)
        pages.append((head, spans))
        log(f"sample at {head}:\n{ansi(spans, sys.stderr.isatty() and not no_color(), rule)}\n")
    base = trainer.dir / "samples" / f"step{step:08d}"
    atomic_write(base.with_suffix(".txt"), "\n".join(parts).encode())
    page = html_page(pages, title=f"{trainer.dir.name}, step {step}", rule=rule)
    atomic_write(base.with_suffix(".html"), page.encode())


MEASURE_TEMPERATURE = 0.8  # the sample measured at each snapshot: generate's default temperature


def sample_prompt(vocab: str) -> str:
    """". " as far as the library has those characters (a library without full stops starts elsewhere)."""
    return "".join(c for c in ". " if c in vocab) or vocab[:1]


def sample_figures(trainer: "Trainer", log) -> dict:
    """Memorisation at this snapshot: one sample (sample_length chars at MEASURE_TEMPERATURE from ". ")
    segmented against the library, so that a long run shows where it stops learning style and starts
    reciting its books, and its readability. History columns: quoted, longest_quote, quotes_per_1000,
    readability."""
    from .attribution import summary
    from .sample import generate

    cfg = trainer.cfg
    text = generate(trainer.model, trainer.library.vocab, sample_prompt(trainer.library.vocab), cfg.sample_length,
                    temperature=MEASURE_TEMPERATURE, seed=cfg.seed + trainer.step)[0]  # fmt: skip
    trainer.model.train()
    figures = summary(trainer.attribution(log).segment(text)).figures
    return {"quoted": round(figures.fraction, 4), "longest_quote": figures.longest,
            "quotes_per_1000": round(figures.per_1000, 2),
            "readability": round(readability(text, trainer.library.words), 4)}  # fmt: skip


class Trainer:
    """Owns one model directory: creates or resumes it, trains, snapshots. `run()` blocks until a stop
    condition; Ctrl-C (or SIGTERM) snapshots and raises KeyboardInterrupt."""

    def __init__(
        self,
        library: Library,
        model_dir: str | os.PathLike,
        model_config: ModelConfig | None = None,
        train_config: TrainConfig | None = None,
        spec: dict | None = None,
        restart: bool = False,
        log=None,
        sizing: dict | None = None,
    ):
        self.library = library
        self.dir = Path(model_dir)
        self.cfg = train_config or TrainConfig()
        mcfg = model_config or ModelConfig()
        mcfg.vocab_size = len(library.vocab)
        device = pick_device(self.cfg.device)
        self.dist = distributed.setup(device, self.cfg.batch_size)  # one process unless started by torchrun
        self.device = distributed.device_for(device, self.dist)
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        if not self.dist.main:
            self.log = lambda msg: None
        self.dtype = pick_dtype(self.cfg.precision, self.device)
        torch.manual_seed(self.cfg.seed)
        self.gen = torch.Generator().manual_seed(self.cfg.seed)
        self.model = CharRNN(mcfg).to(self.device)
        self.net = self.model  # what the step runs: the model, or its DDP wrapper that averages gradients
        if self.dist.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if self.cfg.compile:
            self.net = torch.compile(self.net)
        self.opt = torch.optim.AdamW(
            self.model.parameters(),
            lr=self.cfg.lr,
            weight_decay=self.cfg.weight_decay,
            betas=(0.9, 0.99),
            **({"fused": True} if self.device.type == "cuda" else {}),
        )
        train, self.val = (t.to(self.device) for t in library.split(self.cfg.val_fraction))
        self.streams = Streams(train, self.cfg.batch_size, self.cfg.seq_len, self.gen, self.dist.rows(self.cfg.batch_size))
        self.step, self.elapsed, self.best = 0, 0.0, math.inf
        self._seed_rank()
        self.history: list[dict] = []
        self.state = None
        self.index = None  # the attribution index, built at the first snapshot (see `attribution`)
        self.tensorboard = tensorboard_writer(self.dir) if self.cfg.tensorboard else None
        self.config = {
            "model": asdict(mcfg),
            "train": asdict(self.cfg),
            "vocab": library.vocab,
            "library": {"spec": spec or {}, "fingerprint": library.fingerprint(), "texts": library.record()},
            **({"sizing": sizing} if sizing else {}),  # how the shape was picked (sizing.Choice.record)
        }
        resume = (self.dir / "config.json").exists() and not restart
        distributed.barrier()  # every rank has looked before rank 0 writes
        with self._lock():
            if resume:
                self._resume()
            elif self.dist.main:
                for name in ("last", "best"):
                    checkpoint.snapshot_path(self.dir, name).unlink(missing_ok=True)
                (self.dir / "history.jsonl").unlink(missing_ok=True)
                checkpoint.write_json(self.dir / "config.json", self.config)
                self._snapshot("last")  # a loadable model exists from the very start

    def _seed_rank(self) -> None:
        """Ranks after the first draw their own dropout masks (rank 0's RNG is the one snapshots keep)."""
        if not self.dist.main:
            torch.manual_seed(self.cfg.seed + 1_000_003 * self.dist.rank + self.step)

    def _lock(self):
        """Rank 0 holds the model's training lock for the job."""
        return checkpoint.training_lock(self.dir) if self.dist.main else nullcontext()

    # -- resume -------------------------------------------------------------------------------------

    def _resume(self) -> None:
        old = checkpoint.read_config(self.dir)
        where = f"model {self.dir}"
        fix = "use --model NEWNAME to train a new model beside it, or --restart to start this one over"
        if old["library"].get("fingerprint") != self.config["library"]["fingerprint"]:
            raise PoetError(f"{where} was trained on a different library (books or texts changed): {fix}")
        for k, v in self.config["model"].items():
            was = old["model"].get(k, ModelConfig.__dataclass_fields__[k].default)  # a field new since: its default
            if was != v:
                raise PoetError(f"{where} has {k}={was}, this run asks {k}={v}: {fix}")
        if "sizing" in old:
            self.config["sizing"] = old["sizing"]
        # any training setting may change on resume (with a warning); the model and the library may not
        new = json.loads(json.dumps(self.config["train"]))  # tuples compare as the lists JSON keeps
        changed = [k for k, v in new.items() if old.get("train", {}).get(k, v) != v]  # a setting new since: unchanged
        if changed and self.dist.main:
            warnings.warn(f"resuming {where} with changed settings: {', '.join(changed)}", stacklevel=3)
        # the newer of last and best: a kill between writing best and last leaves best ahead
        which, _, header = checkpoint.load_snapshot(self.dir, checkpoint.newest(self.dir), self._restore)
        meta = json.loads(header["meta"])
        self.history = [h for h in read_history(self.dir) if h["step"] <= self.step]
        row = meta.get("stats")  # the snapshot's own history row: lost if a kill came before history.jsonl
        if isinstance(row, dict) and all(h["step"] < self.step for h in self.history) and row.get("step") == self.step:
            self.history.append(row)
            if self.dist.main:
                self._write_history()
        if self.dist.main:
            checkpoint.write_json(self.dir / "config.json", self.config)
        self.log(f"resuming {self.dir} from the {which} snapshot at step {self.step} ({self.elapsed / 60:.1f} min)")

    def _restore(self, tensors: dict[str, torch.Tensor], header: dict[str, str]) -> None:
        """Take in a snapshot's training state, or a PoetError if it is not a complete one."""
        try:
            checkpoint.fit(self.model, checkpoint.split(tensors, "model."))
            self.opt.load_state_dict(checkpoint.optimizer_state(tensors, header))
            for g in self.opt.param_groups:
                g["weight_decay"] = self.cfg.weight_decay
            meta = json.loads(header["meta"])
            self.step, self.elapsed, self.best = meta["step"], meta["elapsed"], meta.get("best", math.inf)
            self.streams.restore(meta["data"])
            rng = checkpoint.split(tensors, "rng.")
            torch.set_rng_state(rng["torch"])
            self._seed_rank()
            self.gen.set_state(rng["data"])
            if "cuda" in rng and self.device.type == "cuda":
                torch.cuda.set_rng_state(rng["cuda"])
            carried = checkpoint.split(tensors, "state.")
            self.state = None
            if carried:  # all rows of the batch, whatever the number of processes that wrote it: take ours
                n, rows = len(self.model.rnns), self.streams.rows
                self.state = [
                    tuple(carried[f"{i}.{j}"][rows].to(self.device) for j in range(len(carried) // n)) for i in range(n)
                ]
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as e:
            raise PoetError(f"does not hold a complete training state ({type(e).__name__}: {e})") from None

    # -- snapshots ----------------------------------------------------------------------------------

    def _snapshot(self, *which: str) -> None:
        """Write the named snapshots (rank 0); every rank calls it, to hand in its rows of the state."""
        extra = {"rng.torch": torch.get_rng_state(), "rng.data": self.gen.get_state()}
        if self.device.type == "cuda":
            extra["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        if self.state is not None:  # the carried recurrent state, so resume continues exactly
            names = [f"state.{i}.{j}" for i, s in enumerate(self.state) for j in range(len(s))]
            extra.update(zip(names, distributed.gather_rows([t for s in self.state for t in s], dim=0)))
        if not self.dist.main:
            return
        meta = {
            "step": self.step,
            "elapsed": self.elapsed,
            "best": self.best,
            "data": self.streams.state(),
            "val_loss": self.history[-1]["val_loss"] if self.history else None,
            "stats": self.history[-1] if self.history else None,
        }
        for name in which:
            checkpoint.save_snapshot(checkpoint.snapshot_path(self.dir, name), self.model, self.opt, meta, extra)

    def attribution(self, log):
        """The library's attribution index, kept in <model dir>/index/ as Poet keeps it."""
        from .attribution import Index

        if self.index is None:
            self.index = Index.cached(self.dir / "index", self.library.texts, log)
        return self.index

    def _write_history(self) -> None:
        lines = "".join(json.dumps(h) + "\n" for h in self.history)
        atomic_write(self.dir / "history.jsonl", lines.encode())

    # -- the loop -----------------------------------------------------------------------------------

    def done(self) -> bool:
        c = self.cfg
        return bool((c.steps and self.step >= c.steps) or (c.minutes and self.elapsed >= c.minutes * 60))

    def run(self) -> list[dict]:
        """Train until --steps/--minutes (totals for the model) or Ctrl-C; returns the history."""
        if self.done():
            self.log(
                f"{self.dir} has already trained {self.step} steps / {self.elapsed / 60:.1f} min: "
                "raise --minutes or --steps to go on"
            )
            return self.history
        cfg = self.cfg
        self.model.train()
        prof = dict.fromkeys(("data", "train", "eval", "sampling", "snapshot"), 0.0)
        loss_sum, loss_n, seen = torch.zeros((), device=self.device), 0, 0
        last_snap = last_sample = self.elapsed
        t0 = time.monotonic() - self.elapsed
        display = Display(cfg, self.log, show=self.dist.main)
        try:
            with self._lock(), display, self._signals_deferred_during_steps():
                while not self.done():
                    t = time.monotonic()
                    x, y, new_epoch = self.streams.next()
                    if new_epoch:
                        self.state = None
                    t1 = time.monotonic()
                    prof["data"] += t1 - t
                    loss_sum += self._step(x, y)
                    loss_n += 1
                    seen += x.numel()
                    now = time.monotonic()
                    prof["train"] += now - t1
                    self._stop_requested, self.elapsed = distributed.agree(self._stop_requested, now - t0)
                    if self._stop_requested:
                        raise KeyboardInterrupt
                    display.update(self.step, self.elapsed, loss_sum, loss_n, seen / max(self.elapsed - last_snap, 1e-9))
                    if self.elapsed - last_snap < cfg.snapshot_every * 60 and not self.done():
                        continue
                    train_loss = distributed.mean(loss_sum).item() / loss_n  # waits for the queued GPU work
                    window = max(time.monotonic() - t0 - last_snap, 1e-9)
                    rate = seen * self.dist.world / window
                    self._report(train_loss, rate, prof, display.log)
                    loss_sum.zero_()
                    loss_n, seen = 0, 0
                    if self.elapsed - last_sample >= cfg.sample_every * 60 and train_loss < cfg.sample_below:
                        t2 = time.monotonic()
                        if self.dist.main:
                            write_samples(self, display.log)
                        self.model.train()
                        prof["sampling"] += time.monotonic() - t2
                        last_sample = self.elapsed
                    t0 = time.monotonic() - self.elapsed  # evaluating, sampling and saving is not training time
                    last_snap = self.elapsed
        except KeyboardInterrupt:
            self._snapshot("last")
            self.log(f"interrupted: snapshot saved at step {self.step} in {self.dir}")
            raise
        except torch.OutOfMemoryError:
            b, t = cfg.batch_size, cfg.seq_len
            raise PoetError(
                f"out of memory on {self.device} with batch {b} x {t} chars and {self.model.config.hidden} hidden "
                f"units: lower --batch-size (e.g. {max(1, b // 2)}) or --seq-len, or use a smaller --hidden; "
                f"the last snapshot in {self.dir} is intact"
            ) from None
        return self.history

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimizer step; returns the loss without a host sync."""
        for g in self.opt.param_groups:
            g["lr"] = lr_at(self.cfg, self.step, self.elapsed)
        loss, self.state = train_step(self.net, self.opt, x, y, self.state, self.dtype, self.cfg.grad_clip)
        self.step += 1
        return loss

    @contextmanager
    def _signals_deferred_during_steps(self):
        """Ctrl-C and SIGTERM only set a flag, which the loop reads after each step (and evaluation
        between windows): the snapshot written on the way out is consistent, and the interrupt is never
        raised inside a finalizer or library code that would swallow it."""
        self._stop_requested = False
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            self._stop_requested = True

        old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)

    def _report(self, train_loss: float, rate: float, prof: dict, log) -> None:
        if not self.dist.main:  # rank 0 evaluates alone (the single-process result); we hand in our state
            self._snapshot()
            return
        t = time.monotonic()
        # with several ranks an interrupt waits for the evaluation, so that all stop at the same step
        stop = (lambda: self._stop_requested) if self.dist.world == 1 else (lambda: False)
        val_loss, val_acc = evaluate(self.model, self.val, self.cfg.seq_len, self.dtype, self.cfg.eval_chars, stop)
        prof["eval"] += time.monotonic() - t
        stats = Stats(
            time=round(self.elapsed, 2),
            step=self.step,
            epoch=round(self.streams.position(), 4),
            train_loss=round(train_loss, 4),
            val_loss=round(val_loss, 4),
            val_bpc=round(val_loss / LN2, 4),
            val_acc=round(val_acc, 4),
            sec_per_sample=round(self.cfg.seq_len / rate, 6) if rate else 0.0,
            chars_per_sec=round(rate, 1),
            lr=self.opt.param_groups[0]["lr"],
            wall=round(time.time(), 1),
            **sample_figures(self, log),
        )
        self.history.append(asdict(stats))
        t = time.monotonic()
        improved = val_loss < self.best
        if improved:
            self.best = val_loss
        self._snapshot(*(["best"] if improved else []), "last")  # best first: a kill between leaves it ahead,
        self._write_history()  # and resume takes the newer one; history.jsonl last: each snapshot holds its row
        plot_history(self.history, self.dir / "history.png", title=self.dir.name)
        if self.tensorboard is not None:
            for key in ("train_loss", "val_loss", "val_bpc", "val_acc", "readability", "chars_per_sec", "lr"):
                self.tensorboard.add_scalar(key, getattr(stats, key), self.step, walltime=stats.wall)
            self.tensorboard.flush()
        prof["snapshot"] += time.monotonic() - t
        log(format_stats(stats, improved))
        if len(self.history) <= 3:
            total = sum(prof.values()) or 1.0
            log("  profile: " + ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in prof.items()))


def tensorboard_writer(model_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise PoetError("--tensorboard needs the tensorboard package: pip install 'torch-poet[tensorboard]'") from None
    return SummaryWriter(str(model_dir / "tensorboard"))


class Display:
    """Progress while training: a live status line with a bar on a terminal (rich), an HTML progress bar
    updated in place in Jupyter/Colab, and otherwise only the log lines at each snapshot."""

    def __init__(self, cfg: TrainConfig, log, show: bool = True):
        self.cfg, self.plain_log, self.last = cfg, log, 0.0
        self.live = show and sys.stderr.isatty()
        self.notebook = show and not self.live and in_notebook()
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=Console(stderr=True),
                transient=True,
            )
            self.task = self.progress.add_task("starting", total=self.horizon() or None)

    def horizon(self) -> float:
        """Progress in steps when --steps is the limit, else in seconds of --minutes."""
        return float(self.cfg.steps or (self.cfg.minutes or 0) * 60)

    def __enter__(self):
        if self.live:
            self.progress.start()
        if self.notebook:
            from IPython.display import HTML, display

            self.handle = display(HTML("<code>starting</code>"), display_id=True)
        return self

    def __exit__(self, *exc):
        if self.live:
            self.progress.stop()

    def update(self, step: int, elapsed: float, loss_sum: torch.Tensor, n: int, rate: float) -> None:
        if not (self.live or self.notebook) or time.monotonic() - self.last < 0.5:
            return
        self.last = time.monotonic()
        done = step if self.cfg.steps else elapsed
        status = f"step {step}  loss {loss_sum.item() / n:.3f}  {rate:,.0f} chars/s  {elapsed / 60:.1f} min"
        if self.live:
            self.progress.update(self.task, completed=done, description=status)
        else:
            from IPython.display import HTML

            total = self.horizon()
            bar = f'<progress value="{min(done, total)}" max="{total}"></progress> ' if total else ""
            self.handle.update(HTML(f"{bar}<code>{status}</code>"))

    def log(self, msg: str) -> None:
        if self.live:
            self.progress.console.print(msg, markup=False, highlight=False)
        else:
            self.plain_log(msg)


def in_notebook() -> bool:
    """Whether we run in a Jupyter (or Colab) kernel, where a terminal progress bar would not animate."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def format_stats(s: Stats, improved: bool) -> str:
    return (
        f"{s.time / 60:7.1f} min  step {s.step:>7}  epoch {s.epoch:6.2f}  train {s.train_loss:.3f}  "
        f"val {s.val_loss:.3f} ({s.val_bpc:.3f} bpc, acc {s.val_acc:.1%})  "
        f"{s.sec_per_sample:.6f} s/sample  {s.chars_per_sec:,.0f} chars/s"
        + (f"  quoted {s.quoted:.1%} (longest {s.longest_quote})" if s.quoted is not None else "")
        + (f"  readability {s.readability:.0%}" if s.readability is not None else "")
        + ("  *best" if improved else "")
    )


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

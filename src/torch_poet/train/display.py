"""Progress while training: a live status line with a bar on a terminal (rich), an HTML progress bar
updated in place in Jupyter/Colab, and otherwise only the lines each snapshot logs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from .hooks import Hook, Run, Stats, Window


class Display(Hook):
    """While live, rich shows what is printed to stderr (the log lines) above its bar."""

    def __init__(self, log: Callable[[str], None]):
        self.log, self.last = log, 0.0
        self.live = self.notebook = False

    def on_start(self, run: Run) -> None:
        self.live = sys.stderr.isatty()
        self.notebook = not self.live and in_notebook()
        self.horizon = horizon(run)
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.task = self.progress.add_task("starting", total=self.horizon or None)
            self.progress.start()
        if self.notebook:
            from IPython.display import HTML, display

            self.handle = display(HTML("<code>starting</code>"), display_id=True)

    def on_step(self, run: Run, window: Window) -> None:
        if not (self.live or self.notebook) or time.monotonic() - self.last < 0.5:
            return
        self.last = time.monotonic()
        step, elapsed = run.step, run.elapsed
        rate = window.rate(elapsed)
        done = step if run.cfg.steps else elapsed
        status = f"step {step}  loss {window.mean_loss():.3f}  {rate:,.0f} chars/s  {elapsed / 60:.1f} min"
        if self.live:
            self.progress.update(self.task, completed=done, description=status)
        else:
            from IPython.display import HTML

            bar = (
                f'<progress value="{min(done, self.horizon)}" max="{self.horizon}"></progress> ' if self.horizon else ""
            )
            self.handle.update(HTML(f"{bar}<code>{status}</code>"))

    def on_snapshot(self, run: Run, stats: Stats, improved: bool) -> None:
        self.log(format_stats(stats, improved))
        if len(run.history) <= 3:
            total = sum(run.profile.values()) or 1.0
            self.log("  profile: " + ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in run.profile.items()))

    def on_end(self, run: Run) -> None:
        if self.live:
            self.progress.stop()


def horizon(run: Run) -> float:
    """Progress in steps when --steps is the limit, else in seconds of --minutes (0: none)."""
    return float(run.cfg.steps or (run.cfg.minutes or 0) * 60)


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

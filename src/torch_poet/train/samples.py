"""The samples hook: at each snapshot, how much of the model's own text is quoted from its books (history
columns), and now and then samples at a few temperatures, highlighted by source, printed and saved."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..config import DEFAULT_PROMPT, SampleConfig
from ..library import readability
from ..paths import atomic_write
from .hooks import Hook, Stats, TensorBoard

if TYPE_CHECKING:
    from ..attribution import Index
    from .loop import Trainer

MEASURE_TEMPERATURE = 0.8  # the sample measured at each snapshot: generate's default temperature


def sample_prompt(vocab: str) -> str:
    """ ". " as far as the library has those characters (a library without full stops starts elsewhere)."""
    return "".join(c for c in DEFAULT_PROMPT if c in vocab) or vocab[:1]


class Samples(Hook):
    """Keeps the library's attribution index (in <model dir>/index/, as Poet keeps it, built at the first
    snapshot) and the time of the last samples written; hands their texts to `tensorboard` if given."""

    def __init__(self, tensorboard: TensorBoard | None = None):
        self.tensorboard = tensorboard
        self.index: Index | None = None
        self.last = 0.0  # training seconds when samples were last written

    def attribution(self, trainer: Trainer) -> Index:
        from ..attribution import Index

        if self.index is None:
            self.index = Index.cached(trainer.dir / "index", trainer.library.texts, trainer.log)
        return self.index

    def generate(self, trainer: Trainer, temperature: float) -> str:
        """sample_length characters from `sample_prompt`, seeded by the step: the same text for the same
        snapshot (generation leaves the model in the mode it found it in)."""
        from ..generate import generate

        cfg, vocab = trainer.cfg, trainer.library.vocab
        sampling = SampleConfig(cfg.sample_length, temperature=temperature, seed=cfg.seed + trainer.step)
        return generate(trainer.model, vocab, sample_prompt(vocab), sampling)[0]

    def on_start(self, trainer: Trainer) -> None:
        self.last = trainer.elapsed

    def on_evaluate(self, trainer: Trainer) -> dict:
        """Memorisation at this snapshot: one sample at MEASURE_TEMPERATURE segmented against the library, so
        that a long run shows where it stops learning style and starts reciting its books, and its
        readability. History columns: quoted, longest_quote, quotes_per_1000, readability."""
        from ..attribution import summary

        text = self.generate(trainer, MEASURE_TEMPERATURE)
        figures = summary(self.attribution(trainer).segment(text)).figures
        return {"quoted": round(figures.fraction, 4), "longest_quote": figures.longest,
                "quotes_per_1000": round(figures.per_1000, 2),
                "readability": round(readability(text, trainer.library.words), 4)}  # fmt: skip

    def on_snapshot(self, trainer: Trainer, stats: Stats, improved: bool) -> None:
        """Every sample_every minutes, once the train loss is below sample_below: text at each of the
        sample temperatures from the prompt ". ", highlighted by source, printed and saved under samples/
        (plain text and an HTML page with the quotes linked to their books)."""
        from ..render import ansi, html_page, no_color

        cfg = trainer.cfg
        if trainer.elapsed - self.last < cfg.sample_every * 60 or stats.train_loss >= cfg.sample_below:
            return
        index, step = self.attribution(trainer), trainer.step
        rule = index.rule()
        parts, pages = [], []
        for temp in cfg.sample_temperatures:
            text = self.generate(trainer, temp)
            spans = index.segment(text)
            head = f"temperature {temp} · readability {readability(text, trainer.library.words):.0%}"
            parts.append(f"--- {head} ---\n{text}\n")
            if self.tensorboard is not None:
                self.tensorboard.text(f"sample/temperature {temp}", text, step)
            pages.append((head, spans))
            trainer.log(f"sample at {head}:\n{ansi(spans, sys.stderr.isatty() and not no_color(), rule)}\n")
        base = trainer.dir / "samples" / f"step{step:08d}"
        atomic_write(base.with_suffix(".txt"), "\n".join(parts).encode())
        page = html_page(pages, title=f"{trainer.dir.name}, step {step}", rule=rule)
        atomic_write(base.with_suffix(".html"), page.encode())
        self.last = trainer.elapsed

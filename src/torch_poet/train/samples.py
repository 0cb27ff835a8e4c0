"""The samples hook: at each snapshot, how much of the model's own text is quoted from its books (history
columns), and now and then samples at a few temperatures, highlighted by source, printed and saved."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..config import DEFAULT_PROMPT, SampleConfig
from ..library import readability
from ..disk import samples as written
from .hooks import Hook, Run, Stats, TensorBoard

if TYPE_CHECKING:
    from ..attribution import Index, Span

MEASURE_TEMPERATURE = 0.8  # the sample measured at each snapshot: generate's default temperature


def sample_prompt(vocab: str) -> str:
    """ ". " as far as the library has those characters (a library without full stops starts elsewhere)."""
    return "".join(c for c in DEFAULT_PROMPT if c in vocab) or vocab[:1]


class Samples(Hook):
    """Keeps the library's attribution index (beside the prepared library, as Poet keeps it, built at the first
    snapshot) and the time of the last samples written; hands their texts to `tensorboard` if given."""

    def __init__(self, tensorboard: TensorBoard | None = None):
        self.tensorboard = tensorboard
        self.index: Index | None = None
        self.last = 0.0  # training seconds when samples were last written

    def attribution(self, run: Run) -> Index:
        from ..attribution import Index

        if self.index is None:
            self.index = Index.cached(run.library, run.log)
        return self.index

    def sample(self, run: Run, temperature: float) -> tuple[str, list[Span]]:
        """sample_length characters from `sample_prompt`, seeded by the step (the same text for the same
        snapshot; generation leaves the model in the mode it found it in), with its quotes: streamed and
        segmented by the one call every front-end uses (`attribution.segment_stream`)."""
        from ..attribution import segment_stream
        from ..generate import Sampler

        cfg, vocab = run.cfg, run.library.vocab
        sampling = SampleConfig(cfg.sample_length, temperature=temperature, seed=cfg.seed + run.step)
        generation = Sampler(run.model, vocab).stream(sample_prompt(vocab), sampling)
        chunks = (part[0] for part in generation)
        spans = [s for _, found in segment_stream(chunks, self.attribution(run).segmenter()) for s in found]
        return generation.texts[0], spans

    def on_start(self, run: Run) -> None:
        self.last = run.elapsed

    def on_evaluate(self, run: Run) -> dict:
        """Memorisation at this snapshot: one sample at MEASURE_TEMPERATURE segmented against the library, so
        that a long run shows where it stops learning style and starts reciting its books, and its
        readability. History columns: quoted, longest_quote, quotes_per_1000, readability."""
        from ..attribution import summary

        text, spans = self.sample(run, MEASURE_TEMPERATURE)
        figures = summary(spans).figures
        return {"quoted": round(figures.fraction, 4), "longest_quote": figures.longest,
                "quotes_per_1000": round(figures.per_1000, 2),
                "readability": round(readability(text, run.library.words), 4)}  # fmt: skip

    def on_snapshot(self, run: Run, stats: Stats, improved: bool) -> None:
        """Every sample_every minutes, once the train loss is below sample_below: text at each of the
        sample temperatures from the prompt ". ", highlighted by source, printed and saved under samples/
        (plain text and an HTML page with the quotes linked to their books)."""
        from ..render import ansi, html_page, no_color

        cfg = run.cfg
        if run.elapsed - self.last < cfg.sample_every * 60 or stats.train_loss >= cfg.sample_below:
            return
        index, step = self.attribution(run), run.step
        rule = index.rule()
        parts, pages = [], []
        for temp in cfg.sample_temperatures:
            text, spans = self.sample(run, temp)
            head = f"temperature {temp} · readability {readability(text, run.library.words):.0%}"
            parts.append((head, text))
            if self.tensorboard is not None:
                self.tensorboard.text(f"sample/temperature {temp}", text, step)
            pages.append((head, spans))
            run.log(f"sample at {head}:\n{ansi(spans, sys.stderr.isatty() and not no_color(), rule)}\n")
        page = html_page(pages, title=f"{run.dir.name}, step {step}", rule=rule)
        written.write(run.dir, step, parts, page)
        self.last = run.elapsed

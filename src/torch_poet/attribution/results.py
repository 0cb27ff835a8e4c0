"""What attribution finds, as plain data: where a quote occurs (`Source`), the spans of a text, the rule
that made them quotes, and the figures a reader wants first (`Summary`, kept running by `Tally`).

Plain data with no numpy and no torch in it: what `render` draws and the web app sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MIN_PHRASE = 10  # the original tool's quote length: now the shortest common phrase shown faintly (--phrases)
MAX_SOURCES = 50  # occurrences listed per quote; Span.count has the total
CONTEXT = 100  # characters of source text kept on each side of a quote, for tooltips


@dataclass(frozen=True, slots=True)
class Source:
    """One place a quote occurs: the book and the character offset of the quote in its cleaned text."""

    key: str
    title: str
    author: str
    url: str | None
    offset: int
    before: str = ""  # up to CONTEXT characters of the book before the quote
    after: str = ""  # and after it
    text: str = ""  # the quote as the book has it (its line breaks and quotation marks)


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of text: a quote or a common phrase (with sources), or original text (no sources)."""

    start: int
    end: int
    text: str
    sources: tuple[Source, ...] = ()  # in library order, then by offset; at most MAX_SOURCES
    count: int = 0  # occurrences in the library in total, which may exceed len(sources)
    phrase: bool = False  # a match shorter than the quote length: shown faintly, not counted

    @property
    def quoted(self) -> bool:
        return self.count > 0 and not self.phrase

    @property
    def books(self) -> tuple[str, ...]:
        """The distinct books among the sources, in order: a quote counts once per book."""
        return tuple(dict.fromkeys(s.key for s in self.sources))


@dataclass(frozen=True)
class Figures:
    """Memorisation as numbers: the share of characters inside quotes, the longest quote, quotes per 1,000."""

    fraction: float
    longest: int
    per_1000: float


CHANCE_WARNING = 0.05  # past this share of unseen text quoted, the rule's line says most quotes are chance


@dataclass(frozen=True)
class Rule:
    """What made a match a quote here: its length, whether that is the calibrated default, and what text
    the library has never seen scores under the same rule (the baseline for `Figures`)."""

    min_quote: int
    calibrated: bool
    library_chars: int
    unseen: Figures | None

    def describe(self) -> str:
        size = f"{self.library_chars / 1e6:,.1f} MB" if self.library_chars >= 1e5 else f"{self.library_chars:,}-char"
        why = f"longer than unseen text reaches by chance in this {size} library" if self.calibrated else "as asked"
        base = self.unseen
        if self.chancy:
            return (f"quotes ≥ {self.min_quote} chars ({why}; at this length most quotes are chance: text this library "
                    f"never saw scores {base.fraction:.0%})")  # fmt: skip
        seen = f"; unseen text: {base.fraction:.1%} quoted, longest {base.longest}" if base else ""
        return f"quotes ≥ {self.min_quote} chars ({why}{seen})"

    @property
    def chancy(self) -> bool:
        """Whether chance alone marks much of unseen text at this length (most of its quotes mean nothing)."""
        return self.unseen is not None and self.unseen.fraction > CHANCE_WARNING


@dataclass(frozen=True)
class SourceStats:
    """How much of a text one book contributed."""

    key: str
    title: str
    author: str
    url: str | None
    quotes: int
    chars: int


@dataclass(frozen=True)
class Summary:
    """The numbers a reader wants first: how much was quoted, the longest quote, and from which books."""

    chars: int
    quoted_chars: int
    fraction: float  # quoted_chars / chars
    quotes: int
    longest_chars: int
    longest_text: str
    sources: tuple[SourceStats, ...] = ()  # in order of first appearance
    rule: Rule | None = None

    @property
    def per_1000(self) -> float:
        return 1000 * self.quotes / self.chars if self.chars else 0.0

    @property
    def figures(self) -> Figures:
        return Figures(self.fraction, self.longest_chars, self.per_1000)


class Tally:
    """A running summary of spans as they come: books numbered in order of first appearance, what each
    contributed, the longest quote. A quote found in several books counts for each of them."""

    def __init__(self) -> None:
        self.chars = self.quoted_chars = self.quotes = 0
        self.longest = ""
        self.books: dict[str, list] = {}  # key -> [first source, quotes, chars], in order of first appearance

    def add(self, span: Span) -> None:
        self.chars += len(span.text)
        if not span.quoted:
            return
        self.quotes += 1
        self.quoted_chars += len(span.text)
        if len(span.text) > len(self.longest):
            self.longest = span.text
        first = {s.key: s for s in reversed(span.sources)}
        for key in span.books:
            entry = self.books.setdefault(key, [first[key], 0, 0])
            entry[1] += 1
            entry[2] += len(span.text)

    def summary(self, rule: Rule | None = None) -> Summary:
        return Summary(
            chars=self.chars,
            quoted_chars=self.quoted_chars,
            fraction=self.quoted_chars / self.chars if self.chars else 0.0,
            quotes=self.quotes,
            longest_chars=len(self.longest),
            longest_text=self.longest,
            sources=tuple(SourceStats(s.key, s.title, s.author, s.url, n, c) for s, n, c in self.books.values()),
            rule=rule,
        )


def summary(spans: Iterable[Span], rule: Rule | None = None) -> Summary:
    """Summarise a segmentation (see `Tally`)."""
    tally = Tally()
    for span in spans:
        tally.add(span)
    return tally.summary(rule)

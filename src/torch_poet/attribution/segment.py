"""Longest first: a text split into quotes, common phrases and original stretches, as it arrives.

Every position's longest match is a candidate; the longest candidates are kept first, a candidate wholly
covered by kept ones is dropped, and a partial overlap goes to the longer one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .folding import code_points, fold
from .results import MAX_SOURCES, MIN_PHRASE, Rule, Source, Span
from .suffix_array import SuffixArray

# the sources of each kept match: (first rows, last rows: one array a shard; folded sizes, at most this many) -> its
# sources
Sources = Callable[[list[np.ndarray], list[np.ndarray], np.ndarray, int], list[tuple[Source, ...]]]

_CHUNK = 1 << 16  # characters segmented at a time: memory follows this, not the length of the input


def select(starts: Sequence[int], lengths: Sequence[int], least: int, n: int) -> list[tuple[int, int]]:
    """Longest first: (start, end) of the kept matches, in text order.

    A candidate wholly covered by longer kept ones is dropped; one partly covered keeps its uncovered part
    if that is at least `least` long (it is contiguous: a kept match inside a longer candidate would have
    come from a candidate longer still, which would cover that one)."""
    covered = np.zeros(n + 1, dtype=bool)
    kept = []
    for length, start in sorted(zip(lengths, starts), key=lambda c: (-c[0], c[1])):
        free = np.flatnonzero(~covered[start : start + length])
        if free.size and free[-1] - free[0] + 1 >= least:
            a, b = start + int(free[0]), start + int(free[-1]) + 1
            covered[a:b] = True
            kept.append((a, b))
    return sorted(kept)


def left_maximal(ends: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Positions whose match reaches further than the one before: only these can be kept (a match that ends
    where the previous position's does lies inside that longer one)."""
    before = np.full_like(ends, -1)
    before[1:] = ends[:-1]
    return (ends > before) & (ends > starts)


class Segmenter:
    """Segmentation of a text that arrives in pieces (a stream being generated, a file read in chunks).

    feed() returns the spans that became final; finish() the rest. A span is final once no match that
    could still grow overlaps it, so the spans put together equal `Index.segment` of the whole text, and
    memory follows the undecided tail and _CHUNK, not the length of the text. It needs the library's suffix
    arrays (one a shard: a position's longest match is its longest in any), the quote rule and a way to name
    the sources of a match (`Index.segmenter` hands it these)."""

    def __init__(self, shards: Sequence[SuffixArray], rule: Rule, sources: Sources, phrases: bool = False,
                 max_sources: int = MAX_SOURCES):  # fmt: skip
        self.shards, self.sources = list(shards), sources
        self.rule = rule
        self.least = min(MIN_PHRASE, self.rule.min_quote) if phrases else self.rule.min_quote
        self.max_sources = max_sources
        self.pending = ""  # the undecided tail
        self.offset = 0  # where pending starts in the whole text

    def feed(self, text: str) -> list[Span]:
        """Add text; return the spans that became final."""
        out = []
        for at in range(0, len(text), _CHUNK):
            self.pending += text[at : at + _CHUNK]
            out += self._emit(*self._segment(self.pending, False))
        return out

    def finish(self) -> list[Span]:
        """The text is complete: the rest of the spans."""
        return self._emit(*self._segment(self.pending, True))

    def _emit(self, spans: list[Span], done: int) -> list[Span]:
        shifted = [
            Span(s.start + self.offset, s.end + self.offset, s.text, s.sources, s.count, s.phrase) for s in spans
        ]
        self.pending = self.pending[done:]
        self.offset += done
        return shifted

    def _segment(self, text: str, final: bool) -> tuple[list[Span], int]:
        """The spans of text that are settled, and where they end: everything when final, else up to the first
        match that could still grow (or the matches overlapping it)."""
        folded, keep = fold(code_points(text))
        origin = np.append(np.flatnonzero(keep), len(text))  # original offset of each folded char, then the end
        n = len(folded)
        found = _each(lambda shard: _search(shard, folded), self.shards)  # a shard's codes, keys, rows, depth, ends
        ends = np.max([f[-1] for f in found], axis=0)  # each shard's ends are exact: the longest of them
        pos = np.arange(n)
        candidates = np.flatnonzero(left_maximal(ends, pos) & (ends - pos >= self.least))
        done = n
        if not final:
            growing = np.flatnonzero(ends >= n)
            done = int(growing[0]) if growing.size else n
            for start in candidates[::-1].tolist():  # and every candidate overlapping what is left
                if start < done < ends[start]:
                    done = start
            candidates = candidates[ends[candidates] <= done]
        kept = select(candidates.tolist(), (ends[candidates] - candidates).tolist(), self.least, n)
        spans, at = [], 0
        if kept:
            starts = np.array([a for a, _ in kept], dtype=np.int64)
            sizes = np.array([b - a for a, b in kept], dtype=np.int64)

            def rows(k: int) -> tuple[np.ndarray, np.ndarray]:
                (codes, query, lo, hi, depth, _), shard = found[k], self.shards[k]
                known = sizes >= depth[starts]  # not cut short of the rows found for its start: narrow those
                return shard.find(codes, query, starts, sizes, np.where(known, lo[starts], 0),
                                  np.where(known, hi[starts], len(shard.sa)), np.where(known, depth[starts], 0))  # fmt: skip

            first, last = zip(*_each(rows, range(len(self.shards))))
            sources = self.sources(list(first), list(last), sizes, self.max_sources)
            counts = sum(la - f for f, la in zip(first, last)).tolist()
            for (a, b), named, count in zip(kept, sources, counts):
                start, end = int(origin[a]), int(origin[b])  # with the white space folded into its last char
                if start > at:
                    spans.append(Span(at, start, text[at:start]))
                spans.append(Span(start, end, text[start:end], named, count, b - a < self.rule.min_quote))
                at = end
        stop = int(origin[done])
        if stop > at:
            spans.append(Span(at, stop, text[at:stop]))
        return spans, stop


_SHARDS = ThreadPoolExecutor(4, thread_name_prefix="poet-shards")  # threads start when first needed


def _each(fn: Callable, items: Sequence) -> list:
    """fn of each item: of several shards at once, a thread each (numpy lets go of the GIL in the gathers and
    comparisons the searches are made of), so that a library in shards answers about as soon as one in one."""
    return [fn(items[0])] if len(items) == 1 else list(_SHARDS.map(fn, items))


def _search(shard: SuffixArray, folded: np.ndarray) -> tuple[np.ndarray, ...]:
    """A shard's query codes and keys, every position's longest-match rows (lo, hi) and depth, and where each
    position's longest match ends (exact: `SuffixArray.ends`)."""
    codes, query, (lengths, lo, hi, depth) = shard.lockstep(folded)
    return codes, query, lo, hi, depth, shard.ends(codes, query, lengths, lo, hi, depth)


def segment_stream(chunks: Iterable[str], segmenter: Segmenter | None) -> Iterator[tuple[str, list[Span]]]:
    """Each chunk of a text as it arrives (generated, or read from a file) with the spans that became final
    with it, then ("", the rest) once the text is complete: what a front-end shows while the text grows.
    Without a segmenter (`Index.segmenter`) the spans are empty: the text alone, for those who cannot or need
    not find quotes."""
    for chunk in chunks:
        yield chunk, segmenter.feed(chunk) if segmenter else []
    yield "", segmenter.finish() if segmenter else []

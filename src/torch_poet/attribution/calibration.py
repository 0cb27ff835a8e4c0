"""Calibrated against chance: the quote length that unseen prose seldom reaches in this library.

When the index is built, about half the library (of a sample of its books, past SAMPLE_CHARS) is indexed and
passages of the other half (books it has never seen) are segmented; the default quote length is the shortest that
marks at most CHANCE of their characters, scaled to the whole library's size. Shorter matches are common phrases, shown faintly on request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .folding import code_points, fold
from .results import MIN_PHRASE, Figures
from .segment import left_maximal, select
from .suffix_array import SuffixArray

CHANCE = 0.001  # the calibrated quote length lets unseen prose mark at most this share of its characters
PASSAGE = 2_000  # characters per held-out passage in the calibration
CALIBRATION_CHARS = 200_000  # held-out characters measured at most: the threshold moves a char or two, 100k to 800k
SAMPLE_CHARS = 32_000_000  # books calibrated on at most: half indexed, half held out; scaled to the library


@dataclass(frozen=True)
class Calibration:
    """The match lengths of held-out passages against an index of the rest of the library."""

    lengths: np.ndarray  # uint8, each position's longest match, capped at the lockstep search's reach
    passages: tuple[int, ...]  # their sizes, in order
    scale: float  # the whole library's size over the size of the index measured against
    reach: int  # lengths at least this long were capped there: shared passages, not chance

    @classmethod
    def measure(cls, bodies: Sequence[str], total: int | None = None) -> Calibration:
        """Index about half the bodies and measure how long the matches of passages of the rest get, scaled to
        `total` characters: the whole library, of which the bodies may be a sample (default: the bodies).

        Books go to the smaller side, longest first; a library of one book splits it in two."""
        bodies = [b for b in bodies if b]
        if len(bodies) == 1:
            bodies = [bodies[0][: len(bodies[0]) // 2], bodies[0][len(bodies[0]) // 2 :]]
        indexed, held = [], []
        for body in sorted(bodies, key=lambda b: -len(b)):
            (indexed if sum(map(len, indexed)) <= sum(map(len, held)) else held).append(body)
        part = SuffixArray.build(fold(code_points(b))[0] for b in indexed)
        measured = [part.match_lengths(p) for p in _passages(held, CALIBRATION_CHARS)]
        lengths = np.concatenate(measured) if measured else np.zeros(0, np.int64)
        scale = (total or sum(map(len, bodies))) / max(sum(map(len, indexed)), 1)
        return cls(np.minimum(lengths, 255).astype(np.uint8), tuple(len(m) for m in measured), scale, part.stop)

    @cached_property
    def chance(self) -> list[np.ndarray]:
        """Each passage's match lengths, zero inside passages the library shares (a match of `reach` chars
        or more, and what continues it): those are real quotes, not chance."""
        out = []
        for lengths in np.split(self.lengths.astype(np.int64), np.cumsum(self.passages)[:-1]):
            pos = np.arange(len(lengths))
            capped = lengths >= self.reach
            last = np.maximum.accumulate(np.where(capped, pos, -1))  # the latest capped position, if any
            out.append(np.where(capped | ((last >= 0) & (pos + lengths >= last + self.reach)), 0, lengths))
        return out

    def figures(self, least: int) -> Figures:
        """What the held-out passages score with quotes of at least `least` chars, scaled to the library."""
        kept = []
        for lengths in self.chance:
            pos = np.arange(len(lengths))
            candidates = (lengths >= least) & left_maximal(pos + lengths, pos)
            kept += [
                b - a for a, b in select(pos[candidates].tolist(), lengths[candidates].tolist(), least, len(lengths))
            ]
        total = max(sum(self.passages), 1)
        return Figures(
            min(1.0, self.scale * sum(kept) / total), max(kept, default=0), 1000 * self.scale * len(kept) / total
        )

    @cached_property
    def threshold(self) -> int:
        """The shortest quote length at which chance marks at most CHANCE of unseen text.

        Coverage is the union of the matches at least that long (they never run across passages), which
        shrinks as the length grows: a binary search finds the length."""
        lengths = np.concatenate(self.chance) if self.chance else np.zeros(0, np.int64)
        end = np.arange(len(lengths)) + lengths

        def rare(least: int) -> bool:
            at = np.flatnonzero(lengths >= least)
            before = np.concatenate([[0], np.maximum.accumulate(end[at])[:-1]])
            covered = np.maximum(0, end[at] - np.maximum(at, before)).sum()
            return self.scale * covered <= CHANCE * max(len(lengths), 1)

        lo, hi = MIN_PHRASE, self.reach
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if rare(mid) else (mid + 1, hi)
        return lo


def _passages(bodies: Iterable[str], budget: int) -> Iterable[str]:
    """Passages of PASSAGE chars spread evenly over the bodies, budget chars in all (or all of them)."""
    bodies = [b for b in bodies if b]
    total = sum(len(b) for b in bodies)
    for body in bodies:
        share = max(1, round(budget * len(body) / max(total, 1)) // PASSAGE)
        if share * PASSAGE >= len(body):
            yield from (body[i : i + PASSAGE] for i in range(0, len(body), PASSAGE))
        else:
            for k in range(share):
                at = (len(body) - PASSAGE) * k // max(share - 1, 1)
                yield body[at : at + PASSAGE]

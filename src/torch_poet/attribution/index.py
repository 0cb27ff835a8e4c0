"""The attribution index of a library: built once (and calibrated), saved next to the model, and asked where
each quote comes from.

`Index.segment` splits a text into quotes, common phrases and original stretches (`segment.Segmenter`);
the suffix array (`suffix_array.SuffixArray`) finds the matches, and the index names their books and offsets.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import PoetError
from ..paths import atomic_write, exclusive
from .calibration import Calibration
from .folding import fold_texts
from .results import CONTEXT, MAX_SOURCES, MIN_PHRASE, Figures, Rule, Source, Span
from .segment import Segmenter
from .suffix_array import SuffixArray, text_starts

if TYPE_CHECKING:
    from ..library import Text

FORMAT = 2  # bump when the files written by Index.save change meaning


def fingerprint(texts: Sequence[Text]) -> str:
    """What the index depends on: the keys and texts, in order (titles and urls may change freely)."""
    h = hashlib.sha256(f"torch-poet attribution index {FORMAT}\n".encode())
    for t in texts:
        data = t.text.encode("utf-8", "surrogatepass")
        h.update(f"{t.key}\0{len(data)}\0".encode("utf-8", "surrogatepass"))
        h.update(data)
    return h.hexdigest()


class StaleIndex(PoetError):
    """The saved index belongs to another library or version: it is rebuilt."""


class Index:
    """The training texts and the suffix array over them: `segment` finds the quotes in a text, `sources` names
    the books and offsets they come from."""

    def __init__(
        self, texts: Sequence[Text], suffixes: SuffixArray, drops: np.ndarray, calibration: Calibration | None = None
    ):
        self.texts = list(texts)
        self.suffixes = suffixes
        self.drops = drops  # folded positions (texts joined without separators) after each dropped character
        self.calibration = calibration
        lengths = np.array([len(t.text) for t in self.texts], dtype=np.int64)
        self.origins = np.cumsum(lengths) - lengths  # where each original text begins, joined without separators
        codes, n = suffixes.codes, len(suffixes.sa)
        folded = np.diff(np.append(np.flatnonzero(codes[:n] == 0), n)) - 1  # sizes, then a 0
        self.starts = text_starts(folded[:-1])
        if len(folded) != len(self.texts) + 1:
            raise PoetError("the attribution index does not match its texts; delete it to rebuild")
        self._figures: dict[int, Figures] = {}

    @property
    def chars(self) -> int:
        return int(sum(len(t.text) for t in self.texts))

    # --- building, saving, loading ---

    @classmethod
    def build(cls, texts: Sequence[Text], calibrate: bool = True) -> Index:
        """Index the texts (fold, then libdivsufsort) and, on the other core meanwhile, calibrate the quote
        length against a half-library index (libdivsufsort releases the GIL)."""
        keys = [t.key for t in texts]
        if len(set(keys)) != len(keys):
            raise ValueError("text keys must be unique")
        bodies = [t.text for t in texts]
        with ThreadPoolExecutor(1) as pool:
            calibration = pool.submit(Calibration.measure, bodies) if calibrate else None
            folded, sizes, drops = fold_texts(bodies)
            index = cls(texts, SuffixArray.build(folded, sizes), drops.astype(np.int64))
            index.calibration = calibration.result() if calibration else None
        return index

    def save(self, directory: str | os.PathLike) -> None:
        """Write the arrays as .npy and a meta.json last, each published whole (`atomic_write`: temp, fsync,
        rename), so a half-written index never loads; a full disk is a PoetError and leaves no temp file."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / "meta.json").unlink(missing_ok=True)
        s = self.suffixes
        arrays = {"codes": s.codes, "sa": s.sa, "alphabet": s.alphabet, "drops": self.drops}
        if self.calibration is not None:
            arrays["calibration"] = self.calibration.lengths
        for name, array in arrays.items():
            atomic_write(path / f"{name}.npy", lambda f, a=array: np.save(f, a, allow_pickle=False))
        meta = {"format": FORMAT, "fingerprint": fingerprint(self.texts), "keys": [t.key for t in self.texts]}
        if self.calibration is not None:
            c = self.calibration
            meta["calibration"] = {"threshold": self.threshold, "passages": list(c.passages), "scale": c.scale,
                                   "reach": c.reach}  # fmt: skip
        atomic_write(path / "meta.json", json.dumps(meta, indent=1).encode())

    @classmethod
    def load(cls, directory: str | os.PathLike, texts: Sequence[Text]) -> Index:
        """Load an index saved for exactly these texts; PoetError if it is missing, stale or damaged."""
        path = Path(directory)
        try:
            meta = json.loads((path / "meta.json").read_text())
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise StaleIndex(f"the attribution index in {path} was built by an older version")
            if meta.get("fingerprint") != fingerprint(texts):
                raise StaleIndex(f"the attribution index in {path} is for another library")
            names = ("codes", "sa", "alphabet", "drops")
            codes, sa, alphabet, drops = (np.load(path / f"{name}.npy", allow_pickle=False) for name in names)
            if len(sa) and (sa.min() < 0 or sa.max() >= len(sa)) or len(codes) and codes.max() > len(alphabet) + 1:
                raise ValueError("its arrays do not fit one another")
            suffixes = SuffixArray(alphabet, codes, sa)
            c = meta["calibration"]  # every saved index is calibrated: without one the rule would not mean chance
            passages, scale, reach = [int(p) for p in c["passages"]], float(c["scale"]), int(c["reach"])
            lengths = np.load(path / "calibration.npy", allow_pickle=False)
            if min(passages, default=1) < 1 or sum(passages) != len(lengths) or not 1 <= scale < math.inf or reach < 1:
                raise ValueError(f"its calibration is not one ({str(c)[:60]})")
            calibration = Calibration(lengths, tuple(passages), scale, reach)
        except (OSError, ValueError, KeyError, TypeError, EOFError) as e:  # json.JSONDecodeError is a ValueError
            raise PoetError(f"cannot read the attribution index in {path} ({e})") from e
        return cls(texts, suffixes, drops, calibration)

    @classmethod
    def cached(
        cls, directory: str | os.PathLike, texts: Sequence[Text], log: Callable[[str], None] | None = None
    ) -> Index:
        """Load the index saved in directory if it was built from these texts, else build and save it. One
        process at a time (the others wait, then load it); temp files of a save that a kill cut short are
        removed. An index that cannot be saved (a full disk, a read-only folder) is used all the same."""
        path = Path(directory)
        say = log or (lambda message: None)
        try:
            return cls.load(path, texts)  # its files are published whole, meta.json last: reading needs no lock
        except StaleIndex as e:
            why = f"{e}: rebuilding it (once)"
        except PoetError as e:
            why = "building the attribution index (first time only)" if not (path / "meta.json").exists() else \
                f"{e}: rebuilding it"  # fmt: skip
        index = None
        try:
            with exclusive(path.parent / f".{path.name}.lock"):  # one process builds; the others wait, then load
                with contextlib.suppress(PoetError):
                    return cls.load(path, texts)
                say(why)
                for leftover in [*path.glob(".*.tmp"), *path.glob("*.tmp.npy")]:  # of a save a kill cut short
                    leftover.unlink(missing_ok=True)
                index = cls.build(texts)
                index.save(path)
                return index
        except OSError as e:  # a read-only folder
            problem = e.strerror or str(e)
        except PoetError as e:  # a full disk
            problem = str(e)
        say(f"warning: the attribution index could not be saved ({problem}): it is built again at each start")
        return index if index is not None else cls.build(texts)

    # --- the quote rule ---

    @property
    def threshold(self) -> int:
        """The default quote length: calibrated against chance for this library (MIN_PHRASE uncalibrated)."""
        return self.calibration.threshold if self.calibration is not None else MIN_PHRASE

    def rule(self, min_quote: int | None = None) -> Rule:
        """The quote rule with min_quote chars (default: the calibrated threshold) and its unseen-text baseline."""
        least = self.threshold if min_quote is None else min_quote
        if least < 1:
            raise ValueError("min_quote must be at least 1")
        if self.calibration is not None and least not in self._figures:
            self._figures[least] = self.calibration.figures(least)
        return Rule(least, min_quote is None and self.calibration is not None, self.chars, self._figures.get(least))

    # --- segmentation ---

    def segment(
        self, text: str, min_quote: int | None = None, phrases: bool = False, max_sources: int = MAX_SOURCES
    ) -> list[Span]:
        """Split text into quotes (at least min_quote chars, default the calibrated threshold), common phrases
        (with phrases=True: MIN_PHRASE chars or more) and original stretches, longest quotes first."""
        segmenter = self.segmenter(min_quote, phrases, max_sources)
        spans: list[Span] = []
        for span in segmenter.feed(text) + segmenter.finish():
            if spans and not spans[-1].count and not span.count:  # pieces of one original stretch
                span = Span(spans[-1].start, span.end, spans.pop().text + span.text)
            spans.append(span)
        return spans

    def segmenter(
        self, min_quote: int | None = None, phrases: bool = False, max_sources: int = MAX_SOURCES
    ) -> Segmenter:
        """Segmentation of a text that arrives in pieces (see `Segmenter`), by this index's rule."""
        return Segmenter(self.suffixes, self.rule(min_quote), self.sources, phrases, max_sources)

    def sources(
        self, first: np.ndarray, last: np.ndarray, sizes: np.ndarray, max_sources: int
    ) -> list[tuple[Source, ...]]:
        """The sources of each quote (rows [first, last), size folded chars): books and original offsets."""
        rows = [np.sort(self.suffixes.sa[f:la])[:max_sources] for f, la in zip(first.tolist(), last.tolist())]
        counts = [len(r) for r in rows]
        rows = np.concatenate(rows).astype(np.int64)
        books = np.searchsorted(self.starts, rows, side="right") - 1
        folded = rows - books - 1  # without the separators before each text
        begin = self._original(folded) - self.origins[books]
        stop = self._original(folded + np.repeat(sizes, counts)) - self.origins[books]
        found = [self._source(b, o, e) for b, o, e in zip(books.tolist(), begin.tolist(), stop.tolist())]
        ends = np.cumsum(counts).tolist()
        return [tuple(found[e - c : e]) for c, e in zip(counts, ends)]

    def _source(self, book: int, start: int, end: int) -> Source:
        """One occurrence: the book, the quote as the book has it, and CONTEXT characters on each side."""
        t = self.texts[book]
        before, after = t.text[max(0, start - CONTEXT) : start], t.text[end : end + CONTEXT]
        return Source(t.key, t.title, t.author, t.url, start, before, after, t.text[start:end])

    def _original(self, folded: np.ndarray) -> np.ndarray:
        """Original offsets (texts joined without separators) of folded ones (likewise joined)."""
        return folded + np.searchsorted(self.drops, folded, side="right")

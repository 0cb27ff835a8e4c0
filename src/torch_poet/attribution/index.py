"""The attribution index of a library: built once (and calibrated) beside the prepared library, memory-mapped
by every process that asks where a quote comes from.

`Index.segment` splits a text into quotes, common phrases and original stretches (`segment.Segmenter`); the
suffix arrays (`suffix_array.SuffixArray`) find the matches, and the index names their books and offsets. A
library larger than one shard (what fits in memory to sort, 2^31 characters at most) has several, each over
consecutive texts, queried one after the other: the result is the one index over everything would give.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import PoetError
from ..library import Library
from ..paths import atomic_write, exclusive
from .calibration import SAMPLE_CHARS, Calibration
from .folding import fold_texts, folded_alphabet
from .results import CONTEXT, MAX_SOURCES, MIN_PHRASE, Figures, Rule, Source, Span
from .segment import Segmenter
from .suffix_array import SuffixArray, text_starts

FORMAT = 3  # bump when the files written by Index.save change meaning
BYTES_PER_CHAR = 6  # what building a shard holds per character: its codes and its suffix array, with room
SPLIT_CHARS = 256_000_000  # past this, a library is sorted in one shard per core, at once (below, one is faster)


def shard_plan(library: Library, most: int | None = None) -> tuple[list[int], int]:
    """(where the shards begin and end, at whole texts: shard k holds texts [bounds[k], bounds[k + 1]), cut as
    evenly as the texts allow; how many are sorted at once). A library past SPLIT_CHARS is cut into one shard per
    core (four at most), sorted at once and searched at once: at 1 GB on 2 cores, two shards sort at 15 MB/s
    against 8 for one, and answer as soon. The shards sorted at once hold a quarter of the machine's memory at most
    (BYTES_PER_CHAR a character), none past 2^31 characters (the suffix array's int32 positions). `most` caps a
    shard's characters instead (the tests' small shards)."""
    sizes = np.array([e.chars for e in library.entries], dtype=np.int64)
    total = max(int(sizes.sum()), 1)
    workers = min(os.cpu_count() or 1, 4) if total > SPLIT_CHARS else 1
    if most is None:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        most = min(2**31 - 2**16, memory // 4 // BYTES_PER_CHAR // workers)
        count = max(workers, -(-total // most))
    else:
        count = -(-total // most)
    starts = np.cumsum(sizes) - sizes
    cuts = np.searchsorted(starts, [total * k / count for k in range(1, count)])
    return sorted({0, *cuts.tolist(), len(sizes)}), workers


def _sample(library: Library) -> tuple[list[str], int]:
    """The texts to calibrate on (all of a library of up to SAMPLE_CHARS; past it, books drawn at random from all
    of it, SAMPLE_CHARS in all: the cost stays bounded) and the library's size, which the figures are scaled to."""
    bodies, size = [], 0
    for i in np.random.default_rng(0).permutation(len(library.entries)).tolist():
        if size >= SAMPLE_CHARS:
            break
        bodies.append(library.text(i, 0, SAMPLE_CHARS - size))
        size += len(bodies[-1])
    return bodies, library.chars


class StaleIndex(PoetError):
    """The saved index belongs to another library or version: it is rebuilt."""


class Index:
    """A library and the suffix arrays over its texts: `segment` finds the quotes in a text, `sources` names
    the books and offsets they come from."""

    def __init__(self, library: Library, shards: Sequence[SuffixArray], bounds: Sequence[int], sizes: np.ndarray,
                 drops: np.ndarray, calibration: Calibration | None = None):  # fmt: skip
        self.library = library
        self.shards = list(shards)
        self.bounds = list(bounds)  # shard k indexes texts [bounds[k], bounds[k + 1])
        self.sizes = sizes  # each text's folded size
        self.drops = drops  # folded positions (texts joined without separators) after each dropped character
        self.calibration = calibration
        lengths = np.array([e.chars for e in library.entries], dtype=np.int64)
        self.origins = np.cumsum(lengths) - lengths  # where each original text begins, joined without separators
        self.folded_origins = np.cumsum(sizes) - sizes  # likewise, folded
        self.starts = [text_starts(sizes[a:b]) for a, b in zip(self.bounds, self.bounds[1:])]  # in each shard
        for shard, a, b in zip(self.shards, self.bounds, self.bounds[1:]):
            if len(shard.sa) != int(sizes[a:b].sum()) + (b - a) + 1:
                raise ValueError("a shard does not match its texts")
        if len(sizes) != len(library.entries) or self.bounds[0] != 0 or self.bounds[-1] != len(sizes):
            raise ValueError("the index does not match its library's texts")
        self._figures: dict[int, Figures] = {}

    @property
    def chars(self) -> int:
        return self.library.chars

    # --- building, saving, loading ---

    @classmethod
    def build(cls, library: Library, calibrate: bool = True, most: int | None = None) -> Index:
        """Index the library shard by shard (`shard_plan`; `most` characters a shard at most), each text folded
        and coded as it is read, then sorted by libdivsufsort, the shards at once, one a thread; and meanwhile
        calibrate the quote length against a sample of the library (libdivsufsort releases the GIL)."""
        bounds, workers = shard_plan(library, most)
        alphabet = folded_alphabet(np.array([ord(c) for c in library.vocab], dtype=np.uint32))

        def shard(a: int, b: int) -> tuple[SuffixArray, list[np.ndarray]]:
            drops: list[np.ndarray] = []
            texts = fold_texts((library.points(i) for i in range(a, b)), drops)
            return SuffixArray.build(texts, alphabet, sum(e.chars for e in library.entries[a:b])), drops

        with ThreadPoolExecutor(1) as side, ThreadPoolExecutor(workers) as pool:
            calibration = side.submit(Calibration.measure, *_sample(library)) if calibrate else None
            built = list(pool.map(shard, bounds[:-1], bounds[1:]))
            drops = [d for _, ds in built for d in ds]
            folded = np.concatenate(drops) if drops else np.zeros(0, np.int64)
            sizes = np.array([e.chars for e in library.entries], dtype=np.int64) - np.array([len(d) for d in drops])
            at = np.cumsum(sizes) - sizes  # the drops of each text were counted from 0
            folded += np.repeat(at, [len(d) for d in drops])
            index = cls(library, [sa for sa, _ in built], bounds, sizes, folded.astype(np.int64))
            index.calibration = calibration.result() if calibration else None
        return index

    def save(self, directory: str | os.PathLike) -> None:
        """Write the arrays as .npy and a meta.json last, each published whole (`atomic_write`: temp, fsync,
        rename), so a half-written index never loads; a full disk is a PoetError naming the space needed and
        leaves no temp file."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / "meta.json").unlink(missing_ok=True)
        arrays = {"sizes": self.sizes, "drops": self.drops, "alphabet": self.shards[0].alphabet}
        for k, s in enumerate(self.shards):
            arrays.update({f"codes.{k}": s.codes, f"sa.{k}": s.sa, f"head.{k}": s.head})
        if self.calibration is not None:
            arrays["calibration"] = self.calibration.lengths
        try:
            for name, array in arrays.items():
                atomic_write(path / f"{name}.npy", lambda f, a=array: np.save(f, a, allow_pickle=False))
        except PoetError as e:
            need = sum(a.nbytes for a in arrays.values()) / 1e6
            raise PoetError(f"{str(e).split(':')[0]}: the attribution index needs about {need:,.0f} MB in {path}; "
                            "free that much there, or set POET_CACHE to a larger disk") from None  # fmt: skip
        meta = {"format": FORMAT, "fingerprint": self.library.fingerprint, "bounds": self.bounds}
        if self.calibration is not None:
            c = self.calibration
            meta["calibration"] = {"threshold": self.threshold, "passages": list(c.passages), "scale": c.scale,
                                   "reach": c.reach}  # fmt: skip
        atomic_write(path / "meta.json", json.dumps(meta, indent=1).encode())

    @classmethod
    def load(cls, directory: str | os.PathLike, library: Library) -> Index:
        """The index saved for exactly this library, memory-mapped (opening costs the same at any size); a
        PoetError if it is missing, stale or damaged. The arrays are checked where it is cheap: their sizes
        against one another, and a sample of their values."""
        path = Path(directory)
        try:
            meta = json.loads((path / "meta.json").read_text())
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise StaleIndex(f"the attribution index in {path} was built by an older version")
            if meta.get("fingerprint") != library.fingerprint:
                raise StaleIndex(f"the attribution index in {path} is for another library")

            def array(name: str) -> np.ndarray:  # mapped, not read: opening costs the same at any size
                return np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False)

            bounds, alphabet = [int(b) for b in meta["bounds"]], array("alphabet")
            shards = []
            for k in range(len(bounds) - 1):
                codes, sa = array(f"codes.{k}"), array(f"sa.{k}")
                sample = np.asarray(sa[:: max(1, len(sa) // 64)])  # a page each (and the read-ahead around it)
                if len(sa) and (sample.min() < 0 or sample.max() >= len(sa)) or codes[:: max(1, len(codes) // 64)].max() > len(alphabet) + 1:
                    raise ValueError("its arrays do not fit one another")
                shards.append(SuffixArray(alphabet, codes, sa, array(f"head.{k}")))
            c = meta["calibration"]  # every saved index is calibrated: without one the rule would not mean chance
            passages, scale, reach = [int(p) for p in c["passages"]], float(c["scale"]), int(c["reach"])
            lengths = np.load(path / "calibration.npy", allow_pickle=False)
            if min(passages, default=1) < 1 or sum(passages) != len(lengths) or not 1 <= scale < math.inf or reach < 1:
                raise ValueError(f"its calibration is not one ({str(c)[:60]})")
            calibration = Calibration(lengths, tuple(passages), scale, reach)
            return cls(library, shards, bounds, np.asarray(array("sizes")), array("drops"), calibration)
        except (OSError, ValueError, KeyError, TypeError, EOFError) as e:  # json.JSONDecodeError is a ValueError
            raise PoetError(f"cannot read the attribution index in {path} ({e})") from e

    @classmethod
    def cached(cls, library: Library, log: Callable[[str], None] | None = None) -> Index:
        """The index saved beside the prepared library if it is the one of this library, else built and saved
        there (in memory only for a library held in memory). One process builds at a time (the others wait,
        then load it); temp files of a save that a kill cut short are removed. An index that cannot be saved (a
        full disk, a read-only folder) is used all the same."""
        if library.home is None:
            return cls.build(library)
        path = library.home / "index"
        say = log or (lambda message: None)
        try:
            return cls.load(path, library)  # its files are published whole, meta.json last: reading needs no lock
        except StaleIndex as e:
            why = f"{e}: rebuilding it (once)"
        except PoetError as e:
            why = "building the attribution index (first time only)" if not (path / "meta.json").exists() else \
                f"{e}: rebuilding it"  # fmt: skip
        index = None
        try:
            with exclusive(path.parent / f".{path.name}.lock"):  # one process builds; the others wait, then load
                with contextlib.suppress(PoetError):
                    return cls.load(path, library)
                say(why)
                for leftover in [*path.glob(".*.tmp"), *path.glob("*.tmp.npy")]:  # of a save a kill cut short
                    leftover.unlink(missing_ok=True)
                index = cls.build(library)
                index.save(path)
                return index
        except OSError as e:  # a read-only folder
            problem = e.strerror or str(e)
        except PoetError as e:  # a full disk
            problem = str(e)
        say(f"warning: the attribution index could not be saved ({problem}): it is built again at each start")
        return index if index is not None else cls.build(library)

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
        return Segmenter(self.shards, self.rule(min_quote), self.sources, phrases, max_sources)

    def sources(self, first: Sequence[np.ndarray], last: Sequence[np.ndarray], sizes: np.ndarray,
                max_sources: int) -> list[tuple[Source, ...]]:  # fmt: skip
        """The sources of each quote (rows [first[k], last[k]) of shard k, size folded chars): books and original
        offsets, the first max_sources in library order (shards hold consecutive texts, in order)."""
        found: list[list[tuple[int, int]]] = [[] for _ in sizes]
        for shard, starts, base, f, la in zip(self.shards, self.starts, self.bounds, first, last):
            for k, (a, b) in enumerate(zip(f.tolist(), la.tolist())):
                want = max_sources - len(found[k])
                if a < b and want > 0:
                    rows = np.sort(shard.sa[a:b])[:want].astype(np.int64)
                    local = np.searchsorted(starts, rows, side="right") - 1
                    books = base + local
                    found[k] += zip(books.tolist(), (self.folded_origins[books] + rows - starts[local]).tolist())
        out = []
        for places, size in zip(found, sizes.tolist()):
            books = np.array([b for b, _ in places], dtype=np.int64)
            folded = np.array([f for _, f in places], dtype=np.int64)
            begin = self._original(folded) - self.origins[books]
            stop = self._original(folded + size) - self.origins[books]
            out.append(tuple(self._source(b, o, e) for b, o, e in zip(books.tolist(), begin.tolist(), stop.tolist())))
        return out

    def _source(self, book: int, start: int, end: int) -> Source:
        """One occurrence: the book, the quote as the book has it, and CONTEXT characters on each side."""
        e, at = self.library.entries[book], max(0, start - CONTEXT)
        around = self.library.text(book, at, end + CONTEXT)
        return Source(e.key, e.title, e.author, e.url, start, around[: start - at], around[end - at :],
                      around[start - at : end - at])  # fmt: skip

    def _original(self, folded: np.ndarray) -> np.ndarray:
        """Original offsets (texts joined without separators) of folded ones (likewise joined)."""
        return folded + np.searchsorted(self.drops, folded, side="right")

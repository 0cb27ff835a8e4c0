"""Which parts of a text are verbatim quotes from the training library, and from where.

Three rules make a highlighted quote mean something:

- Layout-blind: any run of white space matches any other, typographic apostrophes and quotation marks match
  straight ones, and a run of hyphens (--) matches an em dash. Case is kept: a capital is part of the words
  (BENCHMARKS.md has the figures behind both choices). Spans and source offsets point into the original
  texts, so tooltips and links show the real passage.
- Longest first: every position's longest match is a candidate; the longest candidates are kept first, a
  candidate wholly covered by kept ones is dropped, and a partial overlap goes to the longer one.
- Calibrated against chance: when the index is built, books left out of a half-library index are segmented,
  and the default quote length is the shortest that marks at most CHANCE of their characters (scaled to the
  whole library's size). Shorter matches are common phrases, shown faintly on request.

A suffix array over all training texts answers "the longest substring starting here that occurs anywhere"
for every position of a text at once: numpy runs one binary search per position in lockstep, comparing a
key of 8 bytes per step. Matches longer than _ROUNDS keys (a model reciting its training text) are finished
one at a time, and only where they can start a quote.

Representation: every distinct character of the folded library gets a code (1..K, in code point order, so
code order is character order), each text becomes one code per folded character and the texts are joined
with code 0, which no query character maps to, so no match runs across two books. Codes are stored
big-endian in 1, 2 or 4 bytes, so 8 consecutive bytes read as one unsigned integer compare like the
characters they hold ("keys").
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from pydivsufsort import divsufsort

from .errors import PoetError
from .library import Text
from .paths import atomic_write

MIN_PHRASE = 10  # the original tool's quote length: now the shortest common phrase shown faintly (--phrases)
CHANCE = 0.001  # the calibrated quote length lets unseen prose mark at most this share of its characters
MAX_SOURCES = 50  # occurrences listed per quote; Span.count has the total
CONTEXT = 100  # characters of source text kept on each side of a quote, for tooltips
FORMAT = 2  # bump when the files written by Index.save change meaning
PASSAGE = 2_000  # characters per held-out passage in the calibration
CALIBRATION_CHARS = 200_000  # held-out characters measured at most: the threshold moves by a char or two from 100k to 800k
_CHUNK = 1 << 16  # characters segmented at a time: memory follows this, not the length of the input
_ROUNDS = 8  # keys compared for all positions at once; longer matches are extended one by one, on demand
_FEW = 8  # rows few enough to compare character by character
_SAMPLE = 16  # the leading key of every 16th suffix starts each search 4 steps from its end
_POWERS = np.array([256**k for k in range(8)], dtype=np.uint64)  # xor < 256**k <=> the top 8-k bytes agree

# --- layout-blind text ------------------------------------------------------------------------------------------

_FOLD = np.arange(0x3001, dtype=np.uint32)  # code points up to U+3000 (the last white space) -> folded
_FOLD[[c for c in range(0x3001) if chr(c).isspace()]] = ord(" ")
_FOLD[[0x2018, 0x2019]] = ord("'")
_FOLD[[0x201C, 0x201D]] = ord('"')
_EM_DASH = 0x2014
_FOLD16 = np.arange(0x10000, dtype=np.uint16)
_FOLD16[: len(_FOLD)] = _FOLD


def _code_points(s: str) -> np.ndarray:
    """The text's code points: 2 bytes each unless it has characters beyond U+FFFF."""
    data = s.encode("utf-16-le", "surrogatepass")
    if len(data) == 2 * len(s):
        return np.frombuffer(data, dtype="<u2")
    return np.frombuffer(s.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def fold(points: np.ndarray, first: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(the folded code points, which original positions they come from as a keep mask).

    first marks positions that begin a text, where no run continues from the character before."""
    if points.dtype == np.uint16:
        p = _FOLD16[points]
    else:
        p = np.where(points <= 0x3000, _FOLD[np.minimum(points, 0x3000)], points).astype(np.uint32)
    space, hyphen = p == ord(" "), p == ord("-")
    run_space, run_hyphen = space[1:] & space[:-1], hyphen[1:] & hyphen[:-1]  # position i+1 continues a run
    if first is not None:
        run_space[first[1:]] = run_hyphen[first[1:]] = False
    keep = np.ones(len(p), dtype=bool)
    keep[1:] = ~(run_space | run_hyphen)
    dash = np.flatnonzero(run_hyphen & keep[:-1])  # a hyphen that a run continues, and that starts it
    p[dash] = _EM_DASH
    return p[keep], keep


# --- results ----------------------------------------------------------------------------------------------------


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
        why = (
            f"longer than unseen text reaches by chance in this {size} library"
            if self.calibrated
            else "set by --min-quote"
        )
        base = self.unseen
        seen = f"; unseen text: {base.fraction:.1%} quoted, longest {base.longest}" if base else ""
        return f"quotes ≥ {self.min_quote} chars ({why}{seen})"


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


# --- longest first ----------------------------------------------------------------------------------------------


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


def _left_maximal(ends: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Positions whose match reaches further than the one before: only these can be kept (a match that ends
    where the previous position's does lies inside that longer one)."""
    before = np.full_like(ends, -1)
    before[1:] = ends[:-1]
    return (ends > before) & (ends > starts)


# --- the index --------------------------------------------------------------------------------------------------


def fingerprint(texts: Sequence[Text]) -> str:
    """What the index depends on: the keys and texts, in order (titles and urls may change freely)."""
    h = hashlib.sha256(f"torch-poet attribution index {FORMAT}\n".encode())
    for t in texts:
        data = t.text.encode("utf-8", "surrogatepass")
        h.update(f"{t.key}\0{len(data)}\0".encode("utf-8", "surrogatepass"))
        h.update(data)
    return h.hexdigest()


def _symbol_dtype(alphabet_size: int) -> np.dtype:
    """The narrowest big-endian codes holding 0 (separator), 1..K (characters) and K+1 (unknown)."""
    for width in (1, 2, 4):
        if alphabet_size + 2 < 256**width:  # the all-ones symbol never occurs, so key + 1 never overflows
            return np.dtype(f">u{width}")
    raise AssertionError("more characters than Unicode has")


def _key_view(codes: np.ndarray) -> np.ndarray:
    """keys[p] = the 8 bytes of codes starting at symbol p as one big-endian integer (a view, no copy)."""
    width = codes.itemsize
    return np.ndarray(((codes.nbytes - 8) // width + 1,), dtype=">u8", buffer=codes, strides=(width,))


def _common(a: np.ndarray, b: np.ndarray, width: int) -> np.ndarray:
    """How many leading symbols two arrays of keys share."""
    return (8 - np.searchsorted(_POWERS, a ^ b, side="right")) // width


def _starts(lengths: np.ndarray) -> np.ndarray:
    """Where each text begins in the joined codes: a 0 precedes every text, and one follows the last."""
    return np.cumsum(lengths + 1) - lengths


@dataclass(frozen=True)
class Calibration:
    """The match lengths of held-out passages against an index of the rest of the library."""

    lengths: np.ndarray  # uint8, each position's longest match, capped at the lockstep search's reach
    passages: tuple[int, ...]  # their sizes, in order
    scale: float  # the whole library's size over the size of the index measured against
    reach: int  # lengths at least this long were capped there: shared passages, not chance

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
            candidates = (lengths >= least) & _left_maximal(pos + lengths, pos)
            kept += [b - a for a, b in select(pos[candidates].tolist(), lengths[candidates].tolist(), least, len(lengths))]
        total = max(sum(self.passages), 1)
        return Figures(min(1.0, self.scale * sum(kept) / total), max(kept, default=0), 1000 * self.scale * len(kept) / total)

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


class Index:
    """A suffix array over the folded training texts; `segment` finds the quotes in a text."""

    def __init__(
        self,
        texts: Sequence[Text],
        codes: np.ndarray,
        sa: np.ndarray,
        alphabet: np.ndarray,
        drops: np.ndarray,
        calibration: Calibration | None = None,
    ):
        self.texts = list(texts)
        self.codes = codes  # the joined folded texts as symbols, then one key's worth of padding
        self.sa = sa  # suffix array of codes without the padding
        self.alphabet = alphabet  # sorted folded code points; character alphabet[j] has code j + 1
        self.drops = drops  # folded positions (texts joined without separators) after each dropped character
        self.calibration = calibration
        lengths = np.array([len(t.text) for t in self.texts], dtype=np.int64)
        self.origins = np.cumsum(lengths) - lengths  # where each original text begins, joined without separators
        folded = np.diff(np.append(np.flatnonzero(codes[: len(sa)] == 0), len(sa))) - 1  # sizes, then a 0
        self.starts = _starts(folded[:-1])
        if len(folded) != len(self.texts) + 1 or len(codes) != len(sa) + self._step:
            raise PoetError("the attribution index does not match its texts; delete it to rebuild")
        self._keys = _key_view(codes)
        self._head = self._keys[sa[::_SAMPLE]].astype(np.uint64)
        bits = 8 * codes.itemsize
        self._masks = np.array([2**64 - 2 ** (64 - bits * p) for p in range(self._step)], dtype=np.uint64)
        self._figures: dict[int, Figures] = {}

    @property
    def _step(self) -> int:
        return 8 // self.codes.itemsize  # symbols per key

    @property
    def _stop(self) -> int:
        return _ROUNDS * self._step  # matches at least this long are finished one at a time

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
        with ThreadPoolExecutor(1) as pool:
            calibration = pool.submit(_calibrate, texts) if calibrate else None
            index = cls._build(texts)
            index.calibration = calibration.result() if calibration else None
        return index

    @classmethod
    def _build(cls, texts: Sequence[Text]) -> Index:
        lengths = np.array([len(t.text) for t in texts], dtype=np.int64)
        points = _code_points("".join(t.text for t in texts))
        first = np.zeros(len(points), dtype=bool)
        first[(np.cumsum(lengths) - lengths)[lengths > 0]] = True
        folded, keep = fold(points, first)
        dropped = np.flatnonzero(~keep)
        in_text = np.searchsorted(np.cumsum(lengths), dropped, side="right")
        sizes = lengths - np.bincount(in_text, minlength=len(texts))[: len(texts)]
        drops = dropped - np.arange(len(dropped))  # folded position of the first character after each drop
        alphabet = np.flatnonzero(np.bincount(folded)).astype(np.uint32) if folded.size else np.zeros(0, np.uint32)
        dtype = _symbol_dtype(len(alphabet))
        table = np.zeros(int(alphabet[-1]) + 1 if alphabet.size else 0, dtype=dtype)
        table[alphabet] = np.arange(1, len(alphabet) + 1)
        step = 8 // dtype.itemsize
        codes = np.zeros(len(folded) + len(texts) + 1 + step, dtype=dtype)
        inside = np.ones(len(codes) - step, dtype=bool)
        inside[_starts(sizes) - 1] = False
        inside[-1] = False
        codes[: len(inside)][inside] = table[folded]
        n = len(codes) - step
        sa = divsufsort(codes[:n].view(np.uint8))
        if dtype.itemsize > 1:  # byte-wise order of big-endian symbols is symbol order
            sa = sa[sa % dtype.itemsize == 0] // dtype.itemsize
        sa = sa.astype(np.int32 if n < 2**31 else np.int64, copy=False)
        return cls(texts, codes, sa, alphabet, drops.astype(np.int64))

    def save(self, directory: str | os.PathLike) -> None:
        """Write the arrays as .npy and a meta.json last, so a half-written index never loads."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / "meta.json").unlink(missing_ok=True)
        arrays = {"codes": self.codes, "sa": self.sa, "alphabet": self.alphabet, "drops": self.drops}
        if self.calibration is not None:
            arrays["calibration"] = self.calibration.lengths
        for name, array in arrays.items():
            tmp = path / f"{name}.{os.getpid()}.tmp.npy"  # another process may be saving the same index
            np.save(tmp, array, allow_pickle=False)
            os.replace(tmp, path / f"{name}.npy")
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
            arrays = [np.load(path / f"{name}.npy", allow_pickle=False) for name in names]
            calibration = None
            if isinstance(meta.get("calibration"), dict):
                c = meta["calibration"]
                lengths = np.load(path / "calibration.npy", allow_pickle=False)
                calibration = Calibration(lengths, tuple(int(p) for p in c["passages"]), float(c["scale"]), int(c["reach"]))
        except (OSError, ValueError, KeyError, TypeError) as e:  # json.JSONDecodeError is a ValueError
            raise PoetError(f"cannot read the attribution index in {path} ({e}); delete it to rebuild") from e
        return cls(texts, *arrays, calibration)

    @classmethod
    def cached(cls, directory: str | os.PathLike, texts: Sequence[Text], log: Callable[[str], None] | None = None) -> Index:
        """Load the index saved in directory if it was built from these texts, else build and save it."""
        path = Path(directory)
        try:
            return cls.load(path, texts)
        except StaleIndex as e:
            if log is not None:
                log(f"{e}: rebuilding it (once)")
        except PoetError:
            if log is not None and not (path / "meta.json").exists():
                log("building the attribution index (first time only)")
        index = cls.build(texts)
        index.save(path)
        return index

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
        segmenter = Segmenter(self, min_quote, phrases, max_sources)
        spans: list[Span] = []
        for span in segmenter.feed(text) + segmenter.finish():
            if spans and not spans[-1].count and not span.count:  # pieces of one original stretch
                span = Span(spans[-1].start, span.end, spans.pop().text + span.text)
            spans.append(span)
        return spans

    def _segment(self, text: str, rule: Rule, least: int, final: bool, max_sources: int) -> tuple[list[Span], int]:
        """The spans of text that are settled, and where they end: everything when final, else up to the first
        match that could still grow (or the matches overlapping it)."""
        folded, keep = fold(_code_points(text))
        origin = np.append(np.flatnonzero(keep), len(text))  # original offset of each folded char, then the end
        n = len(folded)
        codes, query, (lengths, lo, hi, depth) = self._lockstep(folded)
        ends = self._ends(codes, query, lengths, lo, hi, depth)
        pos = np.arange(n)
        candidates = np.flatnonzero(_left_maximal(ends, pos) & (ends - pos >= least))
        done = n
        if not final:
            growing = np.flatnonzero(ends >= n)
            done = int(growing[0]) if growing.size else n
            for start in candidates[::-1].tolist():  # and every candidate overlapping what is left
                if start < done < ends[start]:
                    done = start
            candidates = candidates[ends[candidates] <= done]
        kept = select(candidates.tolist(), (ends[candidates] - candidates).tolist(), least, n)
        spans, at = [], 0
        if kept:
            starts = np.array([a for a, _ in kept], dtype=np.int64)
            sizes = np.array([b - a for a, b in kept], dtype=np.int64)
            known = sizes >= depth[starts]  # not cut short of the rows found for its start: narrow those
            first, last = self._find(codes, query, starts, sizes, np.where(known, lo[starts], 0),
                                     np.where(known, hi[starts], len(self.sa)), np.where(known, depth[starts], 0))  # fmt: skip
            for (a, b), sources, count in zip(kept, self._sources(first, last, sizes, max_sources), (last - first).tolist()):
                start, end = int(origin[a]), int(origin[b])  # with the white space folded into its last char
                if start > at:
                    spans.append(Span(at, start, text[at:start]))
                spans.append(Span(start, end, text[start:end], sources, count, b - a < rule.min_quote))
                at = end
        stop = int(origin[done])
        if stop > at:
            spans.append(Span(at, stop, text[at:stop]))
        return spans, stop

    def _lockstep(self, folded: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
        """The query's codes and keys, and every position's longest match from the lockstep search (lengths
        capped at _stop, with the rows and depth `_extend` goes on from)."""
        n = len(folded)
        codes = self._encode(folded)
        query = _key_view(codes)
        everywhere = np.zeros(n, np.int64), np.full(n, len(self.sa), np.int64)
        return codes, query, self._longest_matches(query, np.arange(n), *everywhere, 0, self._stop)

    def _encode(self, folded: np.ndarray) -> np.ndarray:
        """Codes of folded text, characters outside the library as K+1, which matches nothing."""
        code = np.searchsorted(self.alphabet, folded)
        known = code < len(self.alphabet)
        known[known] = self.alphabet[code[known]] == folded[known]
        unknown = len(self.alphabet) + 1
        codes = np.full(len(folded) + self._step, unknown, dtype=self.codes.dtype)
        codes[: len(folded)] = np.where(known, code + 1, unknown)
        return codes

    def _ends(self, codes, query, lengths, lo, hi, depth) -> np.ndarray:
        """Where each position's longest match ends, exactly wherever it matters to the longest-first rule
        (and lo, hi, depth updated in place for the matches extended here).

        A match of at least stop chars is extended; then the next position whose match reaches past its end
        is found by binary search (a suffix of a match is a match, so "query[j:e+1] occurs" is monotone in j)
        and extended in turn. Positions in between lie inside the longer match: they get its end, which
        makes them not left-maximal, as they are."""
        n = len(lengths)
        stop = self._stop
        ends = np.arange(n) + lengths
        reach = -1
        for i in np.flatnonzero(lengths >= stop).tolist():
            if i <= reach:
                continue
            while True:
                length, lo[i], hi[i], depth[i] = self._extend(codes, query, i, int(lo[i]), int(hi[i]), int(depth[i]))
                e = ends[i] = i + length
                j = self._next_start(codes, query, lengths, i, e)
                last = e if j is None else j - 1
                ends[i + 1 : last + 1] = e
                reach = last
                if j is None or lengths[j] < stop:
                    break
                i = j
        return ends

    def _next_start(self, codes, query, lengths, i: int, e: int) -> int | None:
        """The first position after i whose match runs past e (None if there is none)."""
        n, stop = len(lengths), self._stop

        def reaches(j: int) -> bool:
            if j > e - stop:  # the lockstep length tells
                return bool(lengths[j] >= e + 1 - j)
            return self._occurs(codes, query, j, e + 1 - j)

        if e >= n or not reaches(e):
            return None
        a, b = i + 1, e
        while a < b:
            mid = (a + b) // 2
            if reaches(mid):
                b = mid
            else:
                a = mid + 1
        return a

    def _key_at(self, rows: np.ndarray, depth: int | np.ndarray) -> np.ndarray:
        return self._keys[self.sa[rows] + depth]

    def _lower_bounds(self, lo: np.ndarray, size: np.ndarray, depth, targets: np.ndarray) -> np.ndarray:
        """For each target, the first row in [lo, lo + size) whose key at depth is >= it (in lockstep).

        The rows of each range share their first depth symbols, so their keys at depth are sorted.
        """
        base, size = lo.copy(), size.copy()
        while size.size and size.max() > 1:
            half = size >> 1
            base += half * (self._key_at(base + half, depth) < targets)
            size -= half
        last = np.minimum(base, len(self.sa) - 1)
        return base + ((size > 0) & (self._key_at(last, depth) < targets))

    def _root_bounds(self, targets: np.ndarray) -> np.ndarray:
        """_lower_bounds over all rows at depth 0: the sampled keys jump close, a short search does the rest."""
        j = np.searchsorted(self._head, targets)
        base = np.maximum(j - 1, 0) * _SAMPLE
        return self._lower_bounds(base, np.minimum(j * _SAMPLE, len(self.sa)) - base, 0, targets)

    def _neighbour_common(self, rows: np.ndarray, valid: np.ndarray, depth: int, targets: np.ndarray) -> np.ndarray:
        """How many leading symbols of targets the keys at depth of the given rows share (0 where not valid)."""
        rows = np.clip(rows, 0, len(self.sa) - 1)
        keys = self._keys[np.minimum(self.sa[rows] + depth, len(self._keys) - 1)]
        return np.where(valid, _common(keys, targets, self.codes.itemsize), 0)

    def _longest_matches(
        self, query: np.ndarray, active: np.ndarray, a_lo: np.ndarray, a_hi: np.ndarray, d: int, stop: int
    ) -> tuple[np.ndarray, ...]:
        """For the given query positions, each known to match the d characters shared by the suffixes in rows
        [a_lo, a_hi): the length of the longest match (stop where it is at least stop), and the rows [lo, hi)
        of the suffixes that match its first `depth` characters (length rounded down to whole keys)."""
        lengths, lo, hi, depth = (np.zeros(active.size, dtype=np.int64) for _ in range(4))
        where = np.argsort(query[active + d])  # in key order the searches touch neighbouring rows: cache hits
        active, a_lo, a_hi = active[where], a_lo[where], a_hi[where]
        while where.size:
            if d >= stop:  # long matches: leave them to _extend
                lengths[where], lo[where], hi[where], depth[where] = d, a_lo, a_hi, d
                break
            targets = query[active + d].astype(np.uint64)
            both = np.concatenate([targets, targets + 1])  # first row >= t, first row > t
            if d == 0:
                bounds = self._root_bounds(both)
            else:
                bounds = self._lower_bounds(np.tile(a_lo, 2), np.tile(a_hi - a_lo, 2), d, both)
            left, right = bounds[: active.size], bounds[active.size :]
            found = left < right  # all of this key occurs after the d matched characters
            end = ~found  # the match ends inside this key: the best neighbour of its insertion row tells where
            e_left, e_lo, e_hi, e_t = left[end], a_lo[end], a_hi[end], targets[end]
            common = np.maximum(
                self._neighbour_common(e_left - 1, e_left > e_lo, d, e_t),
                self._neighbour_common(e_left, e_left < e_hi, d, e_t),
            )
            done = where[end]
            lengths[done], lo[done], hi[done], depth[done] = d + common, e_lo, e_hi, d
            active, where, a_lo, a_hi = active[found], where[found], left[found], right[found]
            d += self._step
        return lengths, lo, hi, depth

    def _extend(self, codes: np.ndarray, query: np.ndarray, start: int, lo: int, hi: int, d: int) -> tuple[int, ...]:
        """(length, lo, hi, depth) of the match at start, whose first d characters the rows [lo, hi) match.

        Key by key while many suffixes share the match, then character by character against each of the
        few left: a model that recites its training text makes matches thousands of characters long.
        """
        one = np.array([start])
        while hi - lo > _FEW:
            match = self._longest_matches(query, one, np.array([lo]), np.array([hi]), d, d + self._step)
            length, lo, hi, depth = (int(a[0]) for a in match)
            if length < d + self._step:
                return length, lo, hi, depth
            d = depth
        common = [_mismatch(self.codes[p + d :], codes[start + d :]) for p in self.sa[lo:hi].tolist()]
        best = max(common)
        rows = [lo + k for k, c in enumerate(common) if c == best]  # adjacent: they share a longer prefix
        return d + best, rows[0], rows[-1] + 1, d + best

    def _find(self, codes, query, starts, sizes, first, last, depth) -> tuple[np.ndarray, np.ndarray]:
        """Rows [first, last) of the suffixes that begin with codes[s : s + size], for each (s, size), given
        rows [first, last) known to match its first `depth` chars: narrowed in lockstep key by key; a range
        down to a few rows is checked character by character."""
        step = self._step
        first, last, d = first.astype(np.int64), last.astype(np.int64), depth.astype(np.int64)
        todo = np.flatnonzero(sizes > d)
        while todo.size:
            dd = d[todo]
            rest = sizes[todo] - dd
            targets = query[starts[todo] + dd].astype(np.uint64)
            mask = np.where(rest < step, self._masks[np.minimum(rest, step - 1)], np.uint64(2**64 - 1))
            both = np.concatenate([targets & mask, (targets | ~mask) + np.uint64(1)])  # all keys with that prefix
            lo, size = np.tile(first[todo], 2), np.tile(last[todo] - first[todo], 2)
            bounds = self._lower_bounds(lo, size, np.tile(dd, 2), both)
            first[todo], last[todo] = bounds[: todo.size], bounds[todo.size :]
            d[todo] += step
            settled = (rest <= step) | (first[todo] >= last[todo])
            few = ~settled & (last[todo] - first[todo] <= _FEW)
            for k in todo[few].tolist():  # compare the rest of the quote with each row
                s, size, done = int(starts[k]), int(sizes[k]), int(d[k])
                rows = self.sa[first[k] : last[k]].tolist()
                match = [np.array_equal(self.codes[r + done : r + size], codes[s + done : s + size]) for r in rows]
                hits = np.flatnonzero(match)  # contiguous: the rows are sorted and share the first `done` symbols
                first[k], last[k] = (first[k] + hits[0], first[k] + hits[-1] + 1) if hits.size else (first[k], first[k])
            todo = todo[~settled & ~few]
        return first, last

    def _occurs(self, codes, query, start: int, size: int) -> bool:
        one = np.array([start])
        first, last = self._find(codes, query, one, np.array([size]), np.zeros(1), np.full(1, len(self.sa)), np.zeros(1))
        return bool(first[0] < last[0])

    def _original(self, folded: np.ndarray) -> np.ndarray:
        """Original offsets (texts joined without separators) of folded ones (likewise joined)."""
        return folded + np.searchsorted(self.drops, folded, side="right")

    def _sources(self, first, last, sizes, max_sources) -> list[tuple[Source, ...]]:
        """The sources of each quote (rows [first, last), size folded chars): books and original offsets."""
        rows = [np.sort(self.sa[f:la])[:max_sources] for f, la in zip(first.tolist(), last.tolist())]
        counts = [len(r) for r in rows]
        rows = np.concatenate(rows).astype(np.int64)
        books = np.searchsorted(self.starts, rows, side="right") - 1
        folded = rows - books - 1  # without the separators before each text
        begin = self._original(folded) - self.origins[books]
        stop = self._original(folded + np.repeat(sizes, counts)) - self.origins[books]
        sources, k = [], 0
        for count in counts:
            found = []
            for b, o, e in zip(books[k : k + count].tolist(), begin[k : k + count].tolist(), stop[k : k + count].tolist()):
                t = self.texts[b]
                before, after = t.text[max(0, o - CONTEXT) : o], t.text[e : e + CONTEXT]
                found.append(Source(t.key, t.title, t.author, t.url, o, before, after, t.text[o:e]))
            sources.append(tuple(found))
            k += count
        return sources

    def match_lengths(self, text: str) -> np.ndarray:
        """Each folded position's longest match (capped at the lockstep reach), for the calibration."""
        folded, _ = fold(_code_points(text))
        lengths = self._lockstep(folded)[2][0]
        return np.minimum(lengths, len(folded) - np.arange(len(folded)))


class StaleIndex(PoetError):
    """The saved index belongs to another library or version: it is rebuilt."""


def _mismatch(a: np.ndarray, b: np.ndarray) -> int:
    """Where two code arrays first differ; the padding at both ends (0 / unknown) makes sure they do."""
    n = min(len(a), len(b))
    return int(np.argmin(a[:n] == b[:n]))


def _calibrate(texts: Sequence[Text]) -> Calibration:
    """Index about half the library and measure how long the matches of passages of the rest get.

    Books go to the smaller side, longest first; a library of one book splits it in two."""
    texts = [t for t in texts if t.text]
    if len(texts) == 1:
        body = texts[0].text
        texts = [Text("a", "", "", body[: len(body) // 2]), Text("b", "", "", body[len(body) // 2 :])]
    indexed, held = [], []
    for t in sorted(texts, key=lambda t: -len(t.text)):
        (indexed if sum(len(x.text) for x in indexed) <= sum(len(x.text) for x in held) else held).append(t)
    part = Index._build(indexed)
    passages = list(_passages([t.text for t in held], CALIBRATION_CHARS))
    measured = [part.match_lengths(p) for p in passages]
    lengths = np.concatenate(measured) if measured else np.zeros(0, np.int64)
    scale = sum(len(t.text) for t in texts) / max(part.chars, 1)
    return Calibration(np.minimum(lengths, 255).astype(np.uint8), tuple(len(m) for m in measured), scale, part._stop)


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


class Segmenter:
    """Segmentation of a text that arrives in pieces (a stream being generated, a file read in chunks).

    feed() returns the spans that became final; finish() the rest. A span is final once no match that
    could still grow overlaps it, so the spans put together equal `Index.segment` of the whole text, and
    memory follows the undecided tail and _CHUNK, not the length of the text."""

    def __init__(self, index: Index, min_quote: int | None = None, phrases: bool = False, max_sources: int = MAX_SOURCES):
        self.index = index
        self.rule = index.rule(min_quote)
        self.least = min(MIN_PHRASE, self.rule.min_quote) if phrases else self.rule.min_quote
        self.max_sources = max_sources
        self.pending = ""  # the undecided tail
        self.offset = 0  # where pending starts in the whole text

    def feed(self, text: str) -> list[Span]:
        """Add text; return the spans that became final."""
        out = []
        for at in range(0, len(text), _CHUNK):
            self.pending += text[at : at + _CHUNK]
            spans, done = self.index._segment(self.pending, self.rule, self.least, False, self.max_sources)
            out += self._emit(spans, done)
        return out

    def finish(self) -> list[Span]:
        """The text is complete: the rest of the spans."""
        spans, done = self.index._segment(self.pending, self.rule, self.least, True, self.max_sources)
        return self._emit(spans, done)

    def _emit(self, spans: list[Span], done: int) -> list[Span]:
        shifted = [Span(s.start + self.offset, s.end + self.offset, s.text, s.sources, s.count, s.phrase) for s in spans]
        self.pending = self.pending[done:]
        self.offset += done
        return shifted

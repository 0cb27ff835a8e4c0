"""Which parts of a generated text are verbatim quotes from the training library, and from where.

A suffix array over all training texts answers "the longest substring starting here that occurs anywhere"
for every position of a generated text at once: numpy runs one binary search per position in lockstep,
comparing a key of 8 bytes per step, so a 10,000-char text is segmented in milliseconds where the original
tool's substring search took seconds. Matches longer than _ROUNDS keys (a model reciting its training text)
are finished one at a time, and only where the greedy scan lands, so they cost O(length), not O(length²).

Representation: every distinct character of the library gets a small code (1..K, in code point order, so
code order is character order), each text becomes one code per character and the texts are joined with
code 0, which no generated character maps to, so no match runs across two books. Because there is exactly
one code per character, suffix-array positions are character offsets in the Python strings. Codes are
stored big-endian in 1, 2 or 4 bytes, so 8 consecutive bytes read as one unsigned integer compare like
the characters they hold ("keys": 8 characters per key for most libraries).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydivsufsort import divsufsort

from .errors import PoetError
from .library import Text
from .paths import atomic_write

MIN_QUOTE = 10  # shorter common substrings are everyday language, not quotes
MAX_SOURCES = 50  # occurrences listed per quote; Span.count has the total
CONTEXT = 100  # characters of source text kept on each side of a quote, for tooltips
FORMAT = 1  # bump when the files written by Index.save change meaning
_ROUNDS = 8  # keys compared for all positions at once; longer matches are extended one by one, on demand
_FEW = 8  # rows few enough to compare character by character
_SAMPLE = 16  # the leading key of every 16th suffix starts each search 4 steps from its end
_POWERS = np.array([256**k for k in range(8)], dtype=np.uint64)  # xor < 256**k <=> the top 8-k bytes agree


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


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of generated text: a quote (with sources) or original text (no sources)."""

    start: int
    end: int
    text: str
    sources: tuple[Source, ...] = ()  # in library order, then by offset; at most MAX_SOURCES
    count: int = 0  # occurrences in the library in total, which may exceed len(sources)

    @property
    def quoted(self) -> bool:
        return self.count > 0

    @property
    def books(self) -> tuple[str, ...]:
        """The distinct books among the sources, in order: a quote counts once per book."""
        return tuple(dict.fromkeys(s.key for s in self.sources))


@dataclass(frozen=True)
class SourceStats:
    """How much of a generated text one book contributed."""

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


def summary(spans: Sequence[Span]) -> Summary:
    """Summarise a segmentation; a quote found in several books counts for each of them."""
    quotes = [s for s in spans if s.quoted]
    chars = sum(len(s.text) for s in spans)
    quoted = sum(len(s.text) for s in quotes)
    longest = max(quotes, key=lambda s: len(s.text), default=None)
    stats: dict[str, list] = {}  # key -> [first source, quotes, chars], in order of first appearance
    for span in quotes:
        first = {s.key: s for s in reversed(span.sources)}
        for key in span.books:
            entry = stats.setdefault(key, [first[key], 0, 0])
            entry[1] += 1
            entry[2] += len(span.text)
    return Summary(
        chars=chars,
        quoted_chars=quoted,
        fraction=quoted / chars if chars else 0.0,
        quotes=len(quotes),
        longest_chars=len(longest.text) if longest else 0,
        longest_text=longest.text if longest else "",
        sources=tuple(SourceStats(s.key, s.title, s.author, s.url, n, c) for s, n, c in stats.values()),
    )


def fingerprint(texts: Sequence[Text]) -> str:
    """What the index depends on: the keys and texts, in order (titles and urls may change freely)."""
    h = hashlib.sha256(f"torch-poet attribution index {FORMAT}\n".encode())
    for t in texts:
        data = t.text.encode("utf-8", "surrogatepass")
        h.update(f"{t.key}\0{len(data)}\0".encode("utf-8", "surrogatepass"))
        h.update(data)
    return h.hexdigest()


def _code_points(s: str) -> np.ndarray:
    return np.frombuffer(s.encode("utf-32-le", "surrogatepass"), dtype="<u4")


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


def _starts(texts: Sequence[Text]) -> np.ndarray:
    """Where each text begins in the joined codes: a 0 precedes every text, and one follows the last."""
    lengths = np.array([len(t.text) for t in texts], dtype=np.int64)
    return np.cumsum(lengths + 1) - lengths


def _mismatch(a: np.ndarray, b: np.ndarray) -> int:
    """Where two code arrays first differ; the padding at both ends (0 / unknown) makes sure they do."""
    n = min(len(a), len(b))
    return int(np.argmin(a[:n] == b[:n]))


class Index:
    """A suffix array over the training texts; `segment` finds the quotes in a generated text."""

    def __init__(self, texts: Sequence[Text], codes: np.ndarray, sa: np.ndarray, alphabet: np.ndarray):
        self.texts = list(texts)
        self.codes = codes  # the joined texts as symbols, then one key's worth of padding
        self.sa = sa  # suffix array of codes without the padding
        self.alphabet = alphabet  # sorted code points; character alphabet[j] has code j + 1
        self.starts = _starts(self.texts)
        if len(sa) != sum(len(t.text) + 1 for t in self.texts) + 1 or len(codes) != len(sa) + self._step:
            raise PoetError("the attribution index does not match its texts; delete it to rebuild")
        self._keys = _key_view(codes)
        self._head = self._keys[sa[::_SAMPLE]].astype(np.uint64)
        bits = 8 * codes.itemsize
        self._masks = np.array([2**64 - 2 ** (64 - bits * p) for p in range(self._step)], dtype=np.uint64)

    @property
    def _step(self) -> int:
        return 8 // self.codes.itemsize  # symbols per key

    @classmethod
    def build(cls, texts: Sequence[Text]) -> Index:
        """Index the texts: one O(n) pass to encode, then libdivsufsort."""
        keys = [t.key for t in texts]
        if len(set(keys)) != len(keys):
            raise ValueError("text keys must be unique")
        points = _code_points("".join(t.text for t in texts))
        alphabet = np.flatnonzero(np.bincount(points)).astype(np.uint32) if points.size else np.zeros(0, np.uint32)
        dtype = _symbol_dtype(len(alphabet))
        table = np.zeros(int(alphabet[-1]) + 1 if alphabet.size else 0, dtype=dtype)
        table[alphabet] = np.arange(1, len(alphabet) + 1)
        step = 8 // dtype.itemsize
        codes = np.zeros(len(points) + len(texts) + 1 + step, dtype=dtype)
        done = 0
        for start, t in zip(_starts(texts).tolist(), texts):
            codes[start : start + len(t.text)] = table[points[done : done + len(t.text)]]
            done += len(t.text)
        n = len(codes) - step
        sa = divsufsort(codes[:n].view(np.uint8))
        if dtype.itemsize > 1:  # byte-wise order of big-endian symbols is symbol order
            sa = sa[sa % dtype.itemsize == 0] // dtype.itemsize
        return cls(texts, codes, sa.astype(np.int32 if n < 2**31 else np.int64, copy=False), alphabet)

    def save(self, directory: str | os.PathLike) -> None:
        """Write the arrays as .npy and a meta.json last, so a half-written index never loads."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / "meta.json").unlink(missing_ok=True)
        for name in ("codes", "sa", "alphabet"):
            tmp = path / f"{name}.{os.getpid()}.tmp.npy"  # another process may be saving the same index
            np.save(tmp, getattr(self, name), allow_pickle=False)
            os.replace(tmp, path / f"{name}.npy")
        meta = {"format": FORMAT, "fingerprint": fingerprint(self.texts), "keys": [t.key for t in self.texts]}
        atomic_write(path / "meta.json", json.dumps(meta, indent=1).encode())

    @classmethod
    def load(cls, directory: str | os.PathLike, texts: Sequence[Text]) -> Index:
        """Load an index saved for exactly these texts; PoetError if it is missing, stale or damaged."""
        path = Path(directory)
        try:
            meta = json.loads((path / "meta.json").read_text())
            if meta.get("format") != FORMAT or meta.get("fingerprint") != fingerprint(texts):
                raise PoetError(f"the attribution index in {path} is for another library; use Index.cached to rebuild")
            arrays = [np.load(path / f"{name}.npy", allow_pickle=False) for name in ("codes", "sa", "alphabet")]
        except (OSError, ValueError) as e:  # json.JSONDecodeError is a ValueError
            raise PoetError(f"cannot read the attribution index in {path} ({e}); delete it to rebuild") from e
        return cls(texts, *arrays)

    @classmethod
    def cached(cls, directory: str | os.PathLike, texts: Sequence[Text]) -> Index:
        """Load the index saved in directory if it was built from these texts, else build and save it."""
        try:
            return cls.load(directory, texts)
        except PoetError:
            index = cls.build(texts)
            index.save(directory)
            return index

    def segment(self, text: str, min_quote: int = MIN_QUOTE, max_sources: int = MAX_SOURCES) -> list[Span]:
        """Split text into quotes and original stretches with the greedy rule of the original tool.

        Left to right: the longest substring starting here that occurs verbatim in a training text is a
        quote if it has at least min_quote characters, and the scan continues after it; otherwise the
        character is original and the scan moves on by one.
        """
        if min_quote < 1:
            raise ValueError("min_quote must be at least 1")
        codes = self._encode(text)
        query = _key_view(codes)
        n, stop = len(text), _ROUNDS * self._step
        everywhere = np.zeros(n, dtype=np.int64), np.full(n, len(self.sa), dtype=np.int64)
        matches = self._longest_matches(query, np.arange(n), *everywhere, 0, stop)
        candidates = np.flatnonzero(matches[0] >= min(min_quote, stop))
        quotes = []  # (start, length, lo, hi, depth)
        pos = 0
        for start, length, lo, hi, depth in zip(candidates.tolist(), *(a[candidates].tolist() for a in matches)):
            if start < pos:
                continue  # inside the previous quote
            if length >= stop:  # only "at least stop" so far: resolve it now that the scan needs it
                length, lo, hi, depth = self._extend(codes, query, start, lo, hi, depth)
            if length >= min_quote:
                quotes.append((start, length, lo, hi, depth))
                pos = start + length
        spans, pos = [], 0
        for (start, length), (first, last) in zip((q[:2] for q in quotes), self._occurrences(query, quotes)):
            if start > pos:
                spans.append(Span(pos, start, text[pos:start]))
            spans.append(self._quote(text, start, length, first, last, max_sources))
            pos = start + length
        if pos < n:
            spans.append(Span(pos, n, text[pos:]))
        return spans

    def _encode(self, text: str) -> np.ndarray:
        """Codes of a generated text, characters outside the library as K+1, which matches nothing."""
        points = _code_points(text)
        code = np.searchsorted(self.alphabet, points)
        known = code < len(self.alphabet)
        known[known] = self.alphabet[code[known]] == points[known]
        unknown = len(self.alphabet) + 1
        codes = np.full(len(text) + self._step, unknown, dtype=self.codes.dtype)
        codes[: len(text)] = np.where(known, code + 1, unknown)
        return codes

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
            if d >= stop:  # long matches: leave them to _extend, where the greedy scan needs them
                lengths[where], lo[where], hi[where], depth[where] = d, a_lo, a_hi, d
                break
            targets = query[active + d].astype(np.uint64)
            both = np.concatenate([targets, targets + 1])  # first row >= t, first row > t
            if d == 0:  # all rows: jump close with the sampled keys, then search what is left
                j = np.searchsorted(self._head, both)
                base = np.maximum(j - 1, 0) * _SAMPLE
                bounds = self._lower_bounds(base, np.minimum(j * _SAMPLE, len(self.sa)) - base, 0, both)
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

    def _occurrences(self, query: np.ndarray, quotes: list[tuple]) -> list[tuple[int, int]]:
        """Rows [first, last) of the suffixes that start with each quote: [lo, hi) narrowed by the quote's
        characters after depth (fewer than a key)."""
        if not quotes:
            return []
        starts, lengths, first, last, d = (np.array(a, dtype=np.int64) for a in zip(*quotes))
        cut = np.flatnonzero(lengths > d)
        d_cut = d[cut]
        targets = query[starts[cut] + d_cut].astype(np.uint64)
        mask = self._masks[lengths[cut] - d_cut]  # the quote's characters in the key
        targets = np.concatenate([targets & mask, (targets | ~mask) + 1])  # all keys starting with them
        lo, size = np.tile(first[cut], 2), np.tile(last[cut] - first[cut], 2)
        bounds = self._lower_bounds(lo, size, np.tile(d_cut, 2), targets)
        first[cut], last[cut] = bounds[: cut.size], bounds[cut.size :]
        return list(zip(first.tolist(), last.tolist()))

    def _quote(self, text: str, start: int, length: int, first: int, last: int, max_sources: int) -> Span:
        positions = np.sort(self.sa[first:last])[:max_sources]
        books = np.searchsorted(self.starts, positions, side="right") - 1
        sources = []
        for b, p in zip(books.tolist(), positions.tolist()):
            t = self.texts[b]
            offset = p - int(self.starts[b])
            before = t.text[max(0, offset - CONTEXT) : offset]
            after = t.text[offset + length : offset + length + CONTEXT]
            sources.append(Source(t.key, t.title, t.author, t.url, offset, before, after))
        return Span(start, start + length, text[start : start + length], tuple(sources), last - first)

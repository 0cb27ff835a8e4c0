"""The longest match of every position of a text in the library at once, from a suffix array.

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

from collections.abc import Iterable

import numpy as np
from pydivsufsort import divsufsort

from .folding import code_points, fold

_ROUNDS = 8  # keys compared for all positions at once; longer matches are extended one by one, on demand
_FEW = 8  # rows few enough to compare character by character
_SAMPLE = 16  # the leading key of every 16th suffix starts each search 4 steps from its end
_POWERS = np.array([256**k for k in range(8)], dtype=np.uint64)  # xor < 256**k <=> the top 8-k bytes agree


def text_starts(sizes: np.ndarray) -> np.ndarray:
    """Where each text begins in the joined codes: a 0 precedes every text, and one follows the last."""
    return np.cumsum(sizes + 1) - sizes


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


def _mismatch(a: np.ndarray, b: np.ndarray) -> int:
    """Where two code arrays first differ; the padding at both ends (0 / unknown) makes sure they do."""
    n = min(len(a), len(b))
    return int(np.argmin(a[:n] == b[:n]))


class SuffixArray:
    """The joined folded texts as codes, then one key's worth of padding, and the suffix array over them."""

    def __init__(self, alphabet: np.ndarray, codes: np.ndarray, sa: np.ndarray, head: np.ndarray | None = None):
        self.alphabet = alphabet  # sorted folded code points; character alphabet[j] has code j + 1
        self.codes = codes
        self.sa = sa  # suffix array of codes without the padding
        self.step = 8 // codes.itemsize  # symbols per key
        self.stop = _ROUNDS * self.step  # matches at least this long are finished one at a time
        if len(codes) != len(sa) + self.step:
            raise ValueError(f"{len(codes)} codes for {len(sa)} suffixes")
        self._keys = _key_view(codes)
        self.head = self._keys[sa[::_SAMPLE]].astype(np.uint64) if head is None else head
        if len(self.head) != -(-len(sa) // _SAMPLE):
            raise ValueError(f"{len(self.head)} sampled keys for {len(sa)} suffixes")
        bits = 8 * codes.itemsize
        self._masks = np.array([2**64 - 2 ** (64 - bits * p) for p in range(self.step)], dtype=np.uint64)

    @classmethod
    def build(cls, texts: Iterable[np.ndarray], alphabet: np.ndarray | None = None, most: int | None = None) -> SuffixArray:
        """The suffix array (libdivsufsort) of folded texts (code points, `folding.fold`), each preceded by a 0
        and the last followed by one. alphabet: the code points they may hold (default: those they hold), so
        that the shards of one library share their codes. most: how many characters the texts hold at most,
        where they come one by one (a generator): each is then written as codes into place as it comes, so that
        building holds one code per character beside the suffix array, not the texts."""
        if alphabet is None or most is None:
            texts = list(texts)
            most = sum(len(t) for t in texts)
        if alphabet is None:
            alphabet = np.unique(np.concatenate([np.unique(t) for t in texts] or [np.zeros(0, np.uint32)]))
        alphabet = alphabet.astype(np.uint32)
        dtype = _symbol_dtype(len(alphabet))
        table = np.zeros(int(alphabet[-1]) + 1 if alphabet.size else 0, dtype=dtype)
        table[alphabet] = np.arange(1, len(alphabet) + 1)
        step = 8 // dtype.itemsize
        codes = np.zeros(most + 2**20, dtype=dtype)  # zeroed lazily by the system: the unused end costs nothing
        at = 1  # a 0 before each text
        for text in texts:
            codes[at : at + len(text)] = table[text]
            at += len(text) + 1
        n = max(at, 1)
        codes = codes[: n + step]
        sa = divsufsort(codes[:n].view(np.uint8))
        if dtype.itemsize > 1:  # byte-wise order of big-endian symbols is symbol order
            sa = sa[sa % dtype.itemsize == 0] // dtype.itemsize
        return cls(alphabet, codes, sa.astype(np.int32 if n < 2**31 else np.int64, copy=False))

    def lockstep(self, folded: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
        """The query's codes and keys, and every position's longest match from the lockstep search (lengths
        capped at stop, with the rows and depth `_extend` goes on from)."""
        n = len(folded)
        codes = self._encode(folded)
        query = _key_view(codes)
        everywhere = np.zeros(n, np.int64), np.full(n, len(self.sa), np.int64)
        return codes, query, self._longest_matches(query, np.arange(n), *everywhere, 0, self.stop)

    def match_lengths(self, text: str) -> np.ndarray:
        """Each folded position's longest match (capped at the lockstep reach), for the calibration."""
        folded, _ = fold(code_points(text))
        lengths = self.lockstep(folded)[2][0]
        return np.minimum(lengths, len(folded) - np.arange(len(folded)))

    def ends(
        self,
        codes: np.ndarray,
        query: np.ndarray,
        lengths: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        depth: np.ndarray,
    ) -> np.ndarray:
        """Where each position's longest match ends, exactly wherever it matters to the longest-first rule
        (and lo, hi, depth updated in place for the matches extended here).

        A match of at least stop chars is extended; then the next position whose match reaches past its end
        is found by binary search (a suffix of a match is a match, so "query[j:e+1] occurs" is monotone in j)
        and extended in turn. Positions in between lie inside the longer match: they get its end, which
        makes them not left-maximal, as they are."""
        n = len(lengths)
        stop = self.stop
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

    def find(
        self,
        codes: np.ndarray,
        query: np.ndarray,
        starts: np.ndarray,
        sizes: np.ndarray,
        first: np.ndarray,
        last: np.ndarray,
        depth: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows [first, last) of the suffixes that begin with codes[s : s + size], for each (s, size), given
        rows [first, last) known to match its first `depth` chars: narrowed in lockstep key by key; a range
        down to a few rows is checked character by character."""
        step = self.step
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

    def _encode(self, folded: np.ndarray) -> np.ndarray:
        """Codes of folded text, characters outside the library as K+1, which matches nothing."""
        code = np.searchsorted(self.alphabet, folded)
        known = code < len(self.alphabet)
        known[known] = self.alphabet[code[known]] == folded[known]
        unknown = len(self.alphabet) + 1
        codes = np.full(len(folded) + self.step, unknown, dtype=self.codes.dtype)
        codes[: len(folded)] = np.where(known, code + 1, unknown)
        return codes

    def _next_start(self, codes, query, lengths, i: int, e: int) -> int | None:
        """The first position after i whose match runs past e (None if there is none)."""
        n, stop = len(lengths), self.stop

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

    def _occurs(self, codes, query, start: int, size: int) -> bool:
        one = np.array([start])
        first, last = self.find(codes, query, one, np.array([size]), np.zeros(1), np.full(1, len(self.sa)), np.zeros(1))
        return bool(first[0] < last[0])

    def _extend(self, codes: np.ndarray, query: np.ndarray, start: int, lo: int, hi: int, d: int) -> tuple[int, ...]:
        """(length, lo, hi, depth) of the match at start, whose first d characters the rows [lo, hi) match.

        Key by key while many suffixes share the match, then character by character against each of the
        few left: a model that recites its training text makes matches thousands of characters long.
        """
        one = np.array([start])
        while hi - lo > _FEW:
            match = self._longest_matches(query, one, np.array([lo]), np.array([hi]), d, d + self.step)
            length, lo, hi, depth = (int(a[0]) for a in match)
            if length < d + self.step:
                return length, lo, hi, depth
            d = depth
        common = [_mismatch(self.codes[p + d :], codes[start + d :]) for p in self.sa[lo:hi].tolist()]
        best = max(common)
        rows = [lo + k for k, c in enumerate(common) if c == best]  # adjacent: they share a longer prefix
        return d + best, rows[0], rows[-1] + 1, d + best

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
            d += self.step
        return lengths, lo, hi, depth

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
        j = np.searchsorted(self.head, targets)
        base = np.maximum(j - 1, 0) * _SAMPLE
        return self._lower_bounds(base, np.minimum(j * _SAMPLE, len(self.sa)) - base, 0, targets)

    def _neighbour_common(self, rows: np.ndarray, valid: np.ndarray, depth: int, targets: np.ndarray) -> np.ndarray:
        """How many leading symbols of targets the keys at depth of the given rows share (0 where not valid)."""
        rows = np.clip(rows, 0, len(self.sa) - 1)
        keys = self._keys[np.minimum(self.sa[rows] + depth, len(self._keys) - 1)]
        return np.where(valid, _common(keys, targets, self.codes.itemsize), 0)

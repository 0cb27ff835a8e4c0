"""A library prepared once into files, then memory-mapped by every run that uses it (nanoGPT's train.bin idea).

$POET_CACHE/libraries/<fingerprint>/ holds the texts as tokens (one byte each where the vocabulary fits, else
two), joined as "\\n\\n".join(texts) would be; texts.json, the table of the texts (key, title, author, link,
where each begins, its size and sha256); words.txt, the library's word set; meta.json, written last, with the
vocabulary, the sizes and checksums that tell a damaged library. It is written into a temporary folder, each
file fsynced, and published by renaming the folder: a killed preparation leaves no library, only a temporary
folder that the next preparation removes. Data-parallel workers on one machine map the same file, so the page
cache holds one copy. The attribution index is built beside it (index/), shared by every model of the library.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..config import LibrarySpec
from ..errors import PoetError, say
from ..paths import atomic_write, cache_root, exclusive
from .texts import Text, words_of

FORMAT = 1  # bump when the files change meaning
SEP = "\n\n"  # between two texts
MAX_VOCAB = 65536  # distinct characters that two-byte tokens hold
# the word set (readability) is taken from this many characters at most, the same share of every text: past it,
# splitting words costs more than the rest of the preparation together, and adds names and misprints
WORD_CHARS = 32_000_000
_BLOCKS, _BLOCK = 64, 4096  # the sampled checksum: this many blocks of this many bytes, spread over the tokens


@dataclass(frozen=True)
class Entry:
    """One text of a prepared library: who wrote it, where it is from, and where its tokens are."""

    key: str
    title: str
    author: str
    url: str | None
    book_id: int | None
    path: str | None
    start: int  # its first token
    chars: int
    sha256: str  # of its UTF-8 text: what config.json keeps to know the text again


@dataclass(frozen=True)
class Part:
    """The training or the validation side of a library as one sequence, read from the tokens without a copy:
    each text's share followed by SEP (none after the last), as the texts' shares joined by SEP would be."""

    tokens: np.ndarray
    begin: np.ndarray  # where each text's share begins in the tokens
    size: np.ndarray  # its length
    after: np.ndarray  # where the SEP that follows it is in the tokens
    at: np.ndarray  # where each share begins in the part

    def __len__(self) -> int:
        return int(self.at[-1] + self.size[-1])

    def take(self, positions: np.ndarray) -> np.ndarray:
        """The tokens at these positions of the part, as int64 (one gather: a batch costs no Python loop)."""
        text = np.searchsorted(self.at, positions, side="right") - 1
        inside = positions - self.at[text]
        share = self.size[text]
        where = np.where(inside < share, self.begin[text] + inside, self.after[text] + inside - share)
        return self.tokens[where].astype(np.int64)


class Library:
    """The texts of a library as tokens, memory-mapped from its prepared files (`prepare`), or held in memory
    (`from_texts`, for texts given directly). Texts are decoded from the tokens only where they are read."""

    def __init__(self, entries: list[Entry], tokens: np.ndarray, vocab: str, fingerprint: str,
                 spec: LibrarySpec | None = None, home: Path | None = None, words: frozenset[str] | None = None):  # fmt: skip
        self.entries, self.tokens, self.vocab, self.fingerprint = entries, tokens, vocab, fingerprint
        self.spec = spec  # what it was built from, kept in config.json (None: texts given directly)
        self.home = home  # its folder (None: in memory only)
        if words is not None:
            self.__dict__["words"] = words
        wide = vocab and max(vocab) > "\uffff"
        self._points = np.array([ord(c) for c in vocab], dtype=np.uint32 if wide else np.uint16)

    @classmethod
    def from_texts(cls, texts: Sequence[Text], spec: LibrarySpec | None = None) -> Library:
        """A library held in memory, for texts given directly (a Python caller, a test)."""
        read = [lambda t=t: t for t in texts]
        fingerprint, digests, _ = _fingerprint(read)
        vocab = vocabulary(read)
        entries, tokens, words = [], [], set()
        for entry, ids, found in _encoded(read, vocab, digests):
            entries.append(entry)
            tokens.append(ids)
            words |= found
        return cls(entries, np.concatenate(tokens), vocab, fingerprint, spec, None, frozenset(words))

    @property
    def chars(self) -> int:
        return sum(e.chars for e in self.entries)

    def text(self, i: int, start: int = 0, end: int | None = None) -> str:
        """Characters [start, end) of text i, decoded from its tokens."""
        return self.points(i, start, end).astype(np.uint32).tobytes().decode("utf-32-le")

    def points(self, i: int, start: int = 0, end: int | None = None) -> np.ndarray:
        """The code points of characters [start, end) of text i (uint16 unless the vocabulary needs more)."""
        e = self.entries[i]
        end = e.chars if end is None else min(end, e.chars)
        return self._points[self.tokens[e.start + start : e.start + max(start, end)]]

    def encode(self, s: str) -> np.ndarray:
        """Token ids of s; a PoetError names the characters outside the vocabulary."""
        return encode(s, _table(self.vocab)).astype(np.int64)

    def split(self, val_fraction: float = 0.05) -> tuple[Part, Part]:
        """Train and validation tokens: the last `val_fraction` of every text is validation, never trained on."""
        begin = np.array([e.start for e in self.entries], dtype=np.int64)
        chars = np.array([e.chars for e in self.entries], dtype=np.int64)
        cut = chars - (chars * val_fraction).astype(np.int64)

        def part(start: np.ndarray, size: np.ndarray) -> Part:
            at = np.cumsum(size + len(SEP)) - size - len(SEP)
            return Part(self.tokens, start, size, begin + chars, at)

        return part(begin, cut), part(begin + cut, chars - cut)

    @cached_property
    def words(self) -> frozenset[str]:
        """Every word (run of letters), lower-cased, of the library (past WORD_CHARS, of that many characters,
        the same share of every text): what `readability` checks against."""
        assert self.home is not None  # one held in memory has its words from the start
        return frozenset((self.home / "words.txt").read_text(encoding="utf-8").split("\n")) - {""}

    def record(self) -> list[dict]:
        """What config.json keeps of each text, enough to find it again and to know if it changed."""
        return [{k: v for k, v in asdict(e).items() if k != "start"} for e in self.entries]


Reader = Callable[[], Text]  # reads one text of a library when called: one text in memory at a time


def prepare(read: Sequence[Reader], spec: LibrarySpec | None = None, cache: str | os.PathLike | None = None,
            log: Callable[[str], None] = say) -> Library:  # fmt: skip
    """The library of these texts, prepared in $POET_CACHE/libraries/<fingerprint>/ unless it is there already
    (then only read and hashed, to know it). One process prepares at a time; the others wait, then map it. A
    damaged one is prepared again; where nothing can be written, the library is held in memory, with a warning."""
    fingerprint, digests, chars = _fingerprint(read)
    root = cache_root(cache) / "libraries"
    home = root / fingerprint
    try:
        return open_prepared(home, spec)  # published whole, meta.json last: reading needs no lock
    except PoetError as e:
        problem = e if home.exists() else None
    try:
        root.mkdir(parents=True, exist_ok=True)
        with exclusive(root / f".{fingerprint}.lock"):
            with contextlib.suppress(PoetError):
                return open_prepared(home, spec)  # another process prepared it while this one waited
            for leftover in root.glob(f".{fingerprint}.*.tmp"):  # of a preparation a kill cut short
                shutil.rmtree(leftover, ignore_errors=True)
            if problem:
                log(f"{problem}: preparing it again")
                shutil.rmtree(home)
            elif chars > 50_000_000:
                log(f"preparing the library ({chars / 1e6:,.0f} MB, once) in {home}")
            _write(read, fingerprint, digests, home, chars)
            return open_prepared(home, spec)
    except OSError as e:  # a read-only cache
        log(f"warning: the library cannot be prepared in {root} ({e.strerror or e}): it is held in memory instead")
    return Library.from_texts([r() for r in read], spec)


def open_prepared(home: Path, spec: LibrarySpec | None = None) -> Library:
    """The library prepared in home, memory-mapped; PoetError if it is missing, damaged or of another version."""
    try:
        meta = json.loads((home / "meta.json").read_text())
        if meta.get("format") != FORMAT or meta.get("fingerprint") != home.name:
            raise ValueError("an older version prepared it")
        dtype = np.dtype(meta["dtype"])
        size = (home / "tokens.bin").stat().st_size
        if size != meta["tokens"] * dtype.itemsize or _checksum(home / "tokens.bin") != meta["checksum"]:
            raise ValueError("its tokens are not the ones written")
        if (home / "words.txt").stat().st_size != meta["words"]:
            raise ValueError("its word list is not the one written")
        table = (home / "texts.json").read_bytes()
        if hashlib.sha256(table).hexdigest() != meta["texts"]:
            raise ValueError("its table of texts is not the one written")
        entries = [Entry(**e) for e in json.loads(table)]
        ends = [e.start + e.chars + len(SEP) for e in entries]
        if not entries or [e.start for e in entries] != [0, *ends[:-1]] or ends[-1] - len(SEP) != meta["tokens"]:
            raise ValueError("its table does not fit its tokens")
        tokens = np.memmap(home / "tokens.bin", dtype=dtype, mode="r", shape=(meta["tokens"],))
        return Library(entries, tokens, meta["vocab"], home.name, spec, home)
    except (OSError, ValueError, KeyError, TypeError) as e:  # json.JSONDecodeError is a ValueError
        raise PoetError(f"the prepared library in {home} is missing or damaged ({e})") from e


def _write(read: Sequence[Reader], fingerprint: str, digests: list[str], home: Path, chars: int) -> None:
    """Prepare the library into a temporary folder, each file fsynced, then publish the folder by a rename."""
    tmp = home.parent / f".{fingerprint}.{os.getpid()}.tmp"
    try:
        tmp.mkdir()
        vocab = vocabulary(read)
        dtype = np.dtype(np.uint8 if len(vocab) <= 256 else "<u2")
        entries, words = [], set()
        with open(tmp / "tokens.bin", "wb") as f:
            for entry, ids, found in _encoded(read, vocab, digests, min(1.0, WORD_CHARS / max(chars, 1))):
                f.write(ids.astype(dtype).tobytes())
                entries.append(entry)
                words |= found
            f.flush()
            os.fsync(f.fileno())
        table = json.dumps([asdict(e) for e in entries], ensure_ascii=False).encode()
        atomic_write(tmp / "texts.json", table)
        words = "\n".join(sorted(words)).encode()
        atomic_write(tmp / "words.txt", words)
        tokens = entries[-1].start + entries[-1].chars
        meta = {"format": FORMAT, "fingerprint": fingerprint, "vocab": vocab, "dtype": dtype.str, "tokens": tokens,
                "checksum": _checksum(tmp / "tokens.bin"), "texts": hashlib.sha256(table).hexdigest(),
                "words": len(words)}  # fmt: skip
        atomic_write(tmp / "meta.json", json.dumps(meta, ensure_ascii=False).encode())
        os.rename(tmp, home)
        _fsync_folder(home.parent)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        full = isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)
        if full or isinstance(e, PoetError) and str(e).startswith("the disk is full"):
            raise PoetError(f"the disk is full: preparing the library in {home.parent} needs about "
                            f"{chars * 1.2 / 1e6:,.0f} MB there; free space, or set POET_CACHE to a larger disk") from None  # fmt: skip
        raise


def _fsync_folder(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _checksum(path: Path) -> str:
    """sha256 of the file's size and of _BLOCKS blocks spread over it (all of a small file): a truncated, zeroed
    or replaced file shows at the cost of a few reads, whatever its size."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        if size <= _BLOCKS * _BLOCK:
            h.update(f.read())
        else:
            for k in range(_BLOCKS):
                f.seek((size - _BLOCK) * k // (_BLOCKS - 1))
                h.update(f.read(_BLOCK))
    return h.hexdigest()


def _fingerprint(read: Sequence[Reader]) -> tuple[str, list[str], int]:
    """(what a library is: its texts' keys and contents, in order; titles and links may change freely; each
    text's sha256, which its entry keeps; its size in characters). Reads every text; a key given twice is refused
    here, before anything is written."""
    h, keys, digests, chars = hashlib.sha256(), set(), [], 0
    for r in read:
        t = r()
        if t.key in keys:
            raise PoetError(f"the library names {t.key} twice: give each text once")
        keys.add(t.key)
        digest = hashlib.sha256(t.text.encode())
        h.update(t.key.encode())
        h.update(digest.digest())
        digests.append(digest.hexdigest())
        chars += len(t.text)
    if not keys:
        raise PoetError("the library is empty: name books with --book/--author/--file, or check the mirror")
    return h.hexdigest()[:16], digests, chars


def vocabulary(read: Sequence[Reader]) -> str:
    """The sorted characters of the texts, with the newline of SEP when there are two texts or more; a
    PoetError past what two-byte tokens hold."""
    chars = set(SEP) if len(read) > 1 else set()
    for r in read:
        text = r().text  # its UTF-16 code units counted: several times faster than a set of its characters
        counts = np.bincount(np.frombuffer(text.encode("utf-16-le", "surrogatepass"), np.uint16), minlength=65536)
        chars.update(text if counts[0xD800:0xE000].any() else map(chr, np.flatnonzero(counts).tolist()))
    if len(chars) > MAX_VOCAB:
        raise PoetError(f"the library has {len(chars):,} distinct characters, more than the {MAX_VOCAB:,} a model "
                        "can read: leave out the texts in other scripts, or split the library")  # fmt: skip
    return "".join(sorted(chars))


def _encoded(read: Sequence[Reader], vocab: str, digests: list[str],
             share: float = 1.0) -> Iterator[tuple[Entry, np.ndarray, set[str]]]:  # fmt: skip
    """Each text in turn: its entry (with its sha256 from `_fingerprint`), its tokens (and SEP's, but after the
    last), and the words of its first `share` (up to a space, so that no word is cut)."""
    table, start = _table(vocab), 0
    for i, (r, digest) in enumerate(zip(read, digests)):
        t = r()
        ids = encode(t.text + (SEP if i < len(read) - 1 else ""), table)
        head = t.text if share >= 1 else t.text[: max(0, t.text.rfind(" ", 0, int(len(t.text) * share)))]
        yield Entry(t.key, t.title, t.author, t.url, t.book_id, t.path, start, len(t.text), digest), ids, words_of(head)
        start += len(ids)


def _table(vocab: str) -> np.ndarray:
    """Code point -> token id (-1: not in the vocabulary); its last entry is always -1."""
    table = np.full(max(map(ord, vocab), default=0) + 2, -1, dtype=np.int32)
    table[[ord(c) for c in vocab]] = np.arange(len(vocab))
    return table


def encode(s: str, table: np.ndarray) -> np.ndarray:
    """Token ids (int32) of s by a code-point lookup, the code points read as the narrowest of UTF-8 (ASCII),
    UTF-16 (no character past U+FFFF) and UTF-32 that holds them."""
    codes = np.frombuffer(s.encode(), np.uint8) if s.isascii() else np.frombuffer(s.encode("utf-16-le"), np.uint16)
    if len(codes) != len(s):  # surrogate pairs: characters past U+FFFF
        codes = np.frombuffer(s.encode("utf-32-le"), np.uint32)
    ids = table[np.minimum(codes, min(len(table) - 1, np.iinfo(codes.dtype).max))]
    if (ids < 0).any():
        vocab = set(np.flatnonzero(table >= 0).tolist())
        missing = sorted({c for c in s if ord(c) not in vocab})
        raise PoetError(f"characters not in the vocabulary: {''.join(missing)!r}")
    return ids

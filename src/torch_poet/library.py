"""The training texts: built from a Gutenberg search, ids or local files; vocabulary, encoding, split."""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections import Counter
from collections.abc import Set
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from .config import LibrarySpec
from .errors import PoetError
from .paths import cache_root, exclusive


@dataclass(frozen=True)
class Text:
    """One cleaned text of a library, with what attribution needs to name and link it."""

    key: str  # stable and unique within a library: "pg1342" for Gutenberg books, "file:<name>" for local files
    title: str
    author: str
    text: str
    url: str | None = None  # https://www.gutenberg.org/ebooks/<ID> for Gutenberg books
    book_id: int | None = None
    path: str | None = None  # local files: where the text was read from


@dataclass
class Library:
    texts: list[Text]
    vocab: str  # sorted characters; a char's index is its token id
    spec: LibrarySpec | None = None  # what it was built from, kept in config.json (None: texts given directly)

    @classmethod
    def from_texts(cls, texts: list[Text], vocab: str | None = None, spec: LibrarySpec | None = None) -> "Library":
        if not texts:
            raise PoetError("the library is empty: name books with --book/--author/--file, or check the mirror")
        twice = sorted(k for k, n in Counter(t.key for t in texts).items() if n > 1)
        if twice:
            raise PoetError(f"the library names {', '.join(twice[:3])} twice: give each text once")
        return cls(texts, vocab if vocab is not None else "".join(sorted(set("".join(t.text for t in texts)))), spec)

    def encode(self, s: str) -> np.ndarray:
        """chars -> int tensor via a code-point lookup table (fast for megabytes of text)."""
        table = np.full(max(max(map(ord, self.vocab)), 255) + 1, -1, dtype=np.int64)
        table[[ord(c) for c in self.vocab]] = np.arange(len(self.vocab))
        codes = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32)
        codes = np.minimum(codes, len(table) - 1)
        ids = table[codes]
        if (ids < 0).any():
            missing = sorted({c for c in s if c not in self.vocab})
            raise PoetError(f"characters not in the vocabulary: {''.join(missing)!r}")
        return ids

    def split(self, val_fraction: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
        """Train and validation tokens: the last `val_fraction` of every text is validation, never trained on."""
        train, val = [], []
        for t in self.texts:
            cut = len(t.text) - int(len(t.text) * val_fraction)
            train.append(t.text[:cut])
            val.append(t.text[cut:])
        sep = "\n\n"
        return (
            torch.from_numpy(self.encode(sep.join(train)).astype(np.int64)),
            torch.from_numpy(self.encode(sep.join(val)).astype(np.int64)),
        )

    @cached_property
    def words(self) -> frozenset[str]:
        """Every word (run of letters) of the library, lower-cased: what `readability` checks against."""
        return frozenset(w for t in self.texts for w in set(WORD.findall(t.text.lower())))

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for t in self.texts:
            h.update(t.key.encode())
            h.update(hashlib.sha256(t.text.encode()).digest())
        return h.hexdigest()[:16]

    def record(self) -> list[dict]:
        """What config.json keeps of each text, enough to find it again and to know if it changed."""
        rec = []
        for t in self.texts:
            d = {k: v for k, v in asdict(t).items() if k != "text"}
            d.update(chars=len(t.text), sha256=hashlib.sha256(t.text.encode()).hexdigest())
            rec.append(d)
        return rec


WORD = re.compile(r"[^\W\d_]+")  # a run of letters, in any script


def readability(text: str, words: Set[str]) -> float:
    """Share of the words (runs of letters, case ignored) of `text` that occur as words in the library
    (`Library.words`); 0 for a text without words. Letter soup scores 10-40%, a decent model over 90%."""
    found = WORD.findall(text.lower())
    return sum(w in words for w in found) / len(found) if found else 0.0


def read_file(path: Path) -> Text:
    """A user's own text file, decoded like a Gutenberg book, stripped of boilerplate when it has any."""
    from .gutenberg import clean
    from .gutenberg.clean import marked_encoding, text_problem

    try:
        data = path.read_bytes()
    except OSError as e:
        raise PoetError(f"cannot read {path}: {e.strerror}") from None
    problem = text_problem(data)
    if problem is None:
        try:
            data.decode(marked_encoding(data) or "utf-8")
        except UnicodeDecodeError as e:
            problem = f"not UTF-8 (byte {e.start:,} is {data[e.start]:#04x}; read as a legacy 8-bit encoding)"
    if problem:
        warnings.warn(f"{path} does not look like a text file: it is {problem}; check it is the file you meant, "
                      "or convert it to UTF-8 text", stacklevel=2)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a plain file without Gutenberg markers is normal here
        text = clean(data, name=str(path))
    return Text(key=f"file:{path.name}", title=path.stem, author="", text=text, path=str(path.resolve()))


def build(spec: LibrarySpec, source: str | None = None, cache: str | os.PathLike | None = None) -> Library:
    """Every text the spec names; one that cannot be had is skipped with a warning naming it."""
    texts: list[Text] = []
    if spec.has_search() or spec.books:
        # the first process of a machine downloads; those waiting behind it find its books in the cache
        with exclusive(cache_root(cache) / "gutenberg" / "download.lock"):
            texts += _books(spec, source, cache)
    paths = [Path(f) for f in spec.files]
    for d in map(Path, spec.dirs):
        if not d.is_dir():
            raise PoetError(f"{d} is not a directory: give a folder of .txt files with --dir")
        paths += sorted(p for p in d.rglob("*.txt") if p.is_file())
    paths = list({p.resolve(): p for p in paths}.values())  # a file named twice (--file X --file X, --dir) once
    keys = file_keys(paths)
    for p in paths:
        try:
            texts.append(replace(read_file(p), key=keys[p]))
        except PoetError as e:
            if spec.files and p in map(Path, spec.files):
                raise
            warnings.warn(f"skipping {p}: {e}", stacklevel=2)
    if not texts:
        raise PoetError("no book of the library could be loaded: check the mirror (--mirror) and the ids")
    return Library.from_texts(texts, spec=spec)


def file_keys(paths: list[Path]) -> dict[Path, str]:
    """Each file's key: "file:<name>", or as many of its folders before the name as make it unique (a/x.txt and
    b/x.txt are "file:a/x.txt" and "file:b/x.txt"), so that two files of one name are two texts."""
    parts = {p: p.resolve().parts for p in paths}
    keys = {}
    for p, whole in parts.items():
        depth = 1
        while depth < len(whole) and any(q != p and parts[q][-depth:] == whole[-depth:] for q in paths):
            depth += 1
        keys[p] = "file:" + "/".join(whole[-depth:])
    return keys


def _books(spec: LibrarySpec, source: str | None, cache: str | os.PathLike | None) -> list[Text]:
    """The Gutenberg books of the spec: its search and its ids, downloaded as `poet download` does (what is cached
    skipped, several at a time from a mirror, a progress bar on a terminal); one that fails is skipped, named."""
    from . import gutenberg
    from .gutenberg.bulk import fetch

    catalog = gutenberg.load_catalog(source, cache)
    ids: list[int] = list(spec.books)
    if spec.has_search():
        found = gutenberg.search(
            catalog, author=spec.author, title=spec.title, language=spec.language, subject=spec.subject
        )
        if not found:
            raise PoetError("the search matched no books: loosen --author/--title/--language/--subject")
        ids += [b.id for b in found]
    meta = {b.id: b for b in gutenberg.search(catalog, ids=ids)}
    fetched = fetch(ids, source, cache)
    for book_id, why in fetched.failed.items():
        warnings.warn(f"skipping book {book_id}: {why}", stacklevel=3)
    texts = []
    for book_id, path in fetched.paths.items():
        body = path.read_text(encoding="utf-8")
        b = meta.get(book_id)
        texts.append(
            Text(
                key=f"pg{book_id}",
                title=b.title if b else f"Gutenberg #{book_id}",
                author=b.author if b else "",
                text=body,
                url=f"https://www.gutenberg.org/ebooks/{book_id}",
                book_id=book_id,
            )
        )
    return texts


def reload(record: list[dict], vocab: str, source: str | None = None, cache: str | os.PathLike | None = None) -> Library:
    """The library a model was trained on, from its config.json record (cached books, local files)."""
    from . import gutenberg

    texts = []
    for r in record:
        if r.get("book_id") is not None:
            body = gutenberg.book_text(int(r["book_id"]), source, cache)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # said when the model was trained on it
                body = read_file(Path(r["path"])).text
        fields = {k: r.get(k) for k in ("key", "title", "author", "url", "book_id", "path")}
        if r.get("sha256") not in (None, hashlib.sha256(body.encode()).hexdigest()):
            raise PoetError(f"{r.get('path') or fields['key']} has changed since the model was trained on it, so its "
                            "quotes would be traced to another text: put the trained version back, or retrain")
        texts.append(Text(text=body, **fields))
    return Library(texts, vocab)

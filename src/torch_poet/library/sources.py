"""Where a library's texts come from: a spec (a Gutenberg search, ids, local files and folders), or the record a
model keeps of the library it was trained on. Each text is read when the preparation asks for it."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..config import LibrarySpec
from ..errors import PoetError, say
from ..paths import cache_root, exclusive
from .prepared import Library, Reader, open_prepared, prepare
from .texts import Text, file_keys, read_file


def build(spec: LibrarySpec, source: str | None = None, cache: str | os.PathLike | None = None,
          log: Callable[[str], None] = say) -> Library:  # fmt: skip
    """The library the spec names, prepared once (`prepare`); a text that cannot be had is skipped with a
    warning naming it."""
    read: list[Reader] = []
    if spec.has_search() or spec.books:
        # the first process of a machine downloads; those waiting behind it find its books in the cache
        with exclusive(cache_root(cache) / "gutenberg" / "download.lock"):
            read += _books(spec, source, cache, log)
    paths = [Path(f) for f in spec.files]
    for d in map(Path, spec.dirs):
        if not d.is_dir():
            raise PoetError(f"{d} is not a directory: give a folder of .txt files with --dir")
        paths += sorted(p for p in d.rglob("*.txt") if p.is_file())
    paths = list({p.resolve(): p for p in paths}.values())  # a file named twice (--file X --file X, --dir) once
    keys = file_keys(paths)
    for p in paths:
        try:
            read_file(p)  # a file that cannot be read is said now, before the library is prepared
        except PoetError as e:
            if spec.files and p in map(Path, spec.files):
                raise
            warnings.warn(f"skipping {p}: {e}", stacklevel=2)
            continue
        read.append(lambda p=p: _quiet(lambda: replace(read_file(p), key=keys[p])))
    if not read:
        raise PoetError("no book of the library could be loaded: check the mirror (--mirror) and the ids")
    return prepare(read, spec, cache, log)


def _quiet(read: Reader) -> Text:
    """A text read again, without the warnings said when it was first read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read()


def _books(spec: LibrarySpec, source: str | None, cache: str | os.PathLike | None,
           log: Callable[[str], None]) -> list[Reader]:  # fmt: skip
    """The Gutenberg books of the spec: its search (other editions of a work it found skipped, and named, unless
    spec.all_editions) and its ids, downloaded as `poet download` does (what is cached skipped, several at a time
    from a mirror, a progress bar on a terminal); one that fails is skipped, named."""
    from .. import gutenberg
    from ..gutenberg.bulk import fetch, first_editions

    catalog = gutenberg.load_catalog(source, cache)
    ids: list[int] = list(spec.books)
    if spec.has_search():
        found = gutenberg.search(
            catalog, author=spec.author, title=spec.title, language=spec.language, subject=spec.subject
        )
        if not found:
            raise PoetError("the search matched no books: loosen --author/--title/--language/--subject")
        ids += [b.id for b in first_editions(found, spec.all_editions, log)]
    meta = {b.id: b for b in gutenberg.search(catalog, ids=ids)}
    fetched = fetch(ids, source, cache)
    for book_id, why in fetched.failed.items():
        warnings.warn(f"skipping book {book_id}: {why}", stacklevel=3)

    def book(book_id: int, path: Path) -> Text:
        b = meta.get(book_id)
        return Text(key=f"pg{book_id}", title=b.title if b else f"Gutenberg #{book_id}", author=b.author if b else "",
                    text=path.read_text(encoding="utf-8"), url=f"https://www.gutenberg.org/ebooks/{book_id}",
                    book_id=book_id)  # fmt: skip

    return [lambda i=i, p=p: book(i, p) for i, p in fetched.paths.items()]


def reopen(record: list[dict], fingerprint: str | None, spec: LibrarySpec | None = None, source: str | None = None,
           cache: str | os.PathLike | None = None, log: Callable[[str], None] = say) -> Library:  # fmt: skip
    """The library a model was trained on (spec: what it was asked as): its prepared files when they are there,
    else prepared again from its config.json record (cached books, local files), each text checked against the
    sha256 kept there. A resume and the model's readers take this, not the search run again: the catalog grows."""
    if fingerprint:
        try:
            return open_prepared(cache_root(cache) / "libraries" / fingerprint, spec)
        except PoetError:
            pass  # prepared again below
    from .. import gutenberg

    def text(r: dict) -> Text:
        if r.get("book_id") is not None:
            body = gutenberg.book_text(int(r["book_id"]), source, cache)
        else:
            body = _quiet(lambda: read_file(Path(r["path"]))).text  # said when the model was trained on it
        if r.get("sha256") not in (None, hashlib.sha256(body.encode()).hexdigest()):
            raise PoetError(f"{r.get('path') or r['key']} has changed since the model was trained on it, so its "
                            "quotes would be traced to another text: put the trained version back, or retrain")
        return Text(text=body, **{k: r.get(k) for k in ("key", "title", "author", "url", "book_id", "path")})

    return prepare([lambda r=r: text(r) for r in record], spec, cache, log)

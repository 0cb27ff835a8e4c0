"""Load, cache and search Project Gutenberg's catalog (`pg_catalog.csv`, about 75,000 books).

The CSV is parsed once after each download and kept as column lists in JSON, so a warm start is a single
`json.loads`. Searching matches folded (lowercase, accent-free) words against one big string per column, which
keeps a search over the whole catalog in the low milliseconds.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
import unicodedata
import warnings
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PoetError
from ..paths import cache_root
from ..paths import atomic_write
from .fetch import Mirror, get, parse_book_id, resolve_mirror

FEEDS = ("cache/epub/feeds/pg_catalog.csv.gz", "cache/epub/feeds/pg_catalog.csv")  # smaller one first
MAX_AGE = 7 * 24 * 3600  # seconds; Gutenberg adds books daily, but a week-old catalog is fine for training
PARSED_FORMAT = 1  # bump when the JSON layout changes, so old caches are rebuilt
MAX_CATALOG_BYTES = 256 * 2**20  # the catalog is about 15 MB as CSV (5 MB gzipped), and grows slowly
MIN_KEPT = 0.9  # a new catalog with fewer rows than this fraction of the cached one is cut short, not newer
CSV_COLUMNS = {  # CSV header → our column name
    "Text#": "id",
    "Type": "type",
    "Issued": "issued",
    "Title": "title",
    "Language": "language",
    "Authors": "authors",
    "Subjects": "subjects",
    "Bookshelves": "bookshelves",
}
MULTI = ("language", "authors", "subjects", "bookshelves")  # "; "-separated lists in the CSV
WORD_COLUMNS = ("title", "authors", "subjects", "bookshelves")  # searched by words; language and type by value
WORD_FIELDS = {"author": "authors", "title": "title", "subject": "subjects", "bookshelf": "bookshelves"}  # → column
SPEC_ALIASES = {"authors": "author", "titles": "title", "subjects": "subject", "bookshelves": "bookshelf",
                "languages": "language", "id": "ids"}  # fmt: skip

# Language names people type → ISO 639 codes used by the catalog (codes themselves are accepted too).
LANGUAGES = {
    "english": "en", "german": "de", "deutsch": "de", "french": "fr", "francais": "fr", "spanish": "es",
    "espanol": "es", "italian": "it", "italiano": "it", "portuguese": "pt", "portugues": "pt", "dutch": "nl",
    "nederlands": "nl", "latin": "la", "greek": "el", "finnish": "fi", "suomi": "fi", "swedish": "sv",
    "svenska": "sv", "danish": "da", "dansk": "da", "norwegian": "no", "norsk": "no", "russian": "ru",
    "polish": "pl", "polski": "pl", "czech": "cs", "hungarian": "hu", "magyar": "hu", "chinese": "zh",
    "japanese": "ja", "esperanto": "eo", "catalan": "ca", "catala": "ca", "tagalog": "tl", "welsh": "cy",
    "irish": "ga", "icelandic": "is", "hebrew": "he", "arabic": "ar", "romanian": "ro", "galician": "gl",
    "bulgarian": "bg", "serbian": "sr", "croatian": "hr", "slovenian": "sl", "ukrainian": "uk", "turkish": "tr",
}  # fmt: skip


@dataclass(frozen=True)
class Book:
    """One catalog entry; multi-valued fields are tuples in catalog order."""

    id: int
    title: str
    authors: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    bookshelves: tuple[str, ...] = ()
    type: str = "Text"
    issued: str = ""

    @property
    def author(self) -> str:
        """The first author as a short display name, e.g. "Brontë, Charlotte"."""
        return short_author(self.authors[0]) if self.authors else "Unknown"

    @property
    def url(self) -> str:
        return f"https://www.gutenberg.org/ebooks/{self.id}"


class Books(list):
    """Search results: a plain list of `Book`s that shows as a linked table in Jupyter."""

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f'<tr><td><a href="{b.url}" target="_blank">{b.id}</a></td><td>{escape(b.author)}</td>'
            f"<td>{escape(b.title)}</td><td>{escape(', '.join(b.language))}</td>"
            f"<td>{escape('; '.join(b.subjects[:3]))}</td></tr>"
            for b in self
        )
        head = "".join(f"<th>{h}</th>" for h in ("id", "author", "title", "language", "subjects"))
        return (
            f"<table><caption>{len(self)} book{'' if len(self) == 1 else 's'}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        )


def short_author(name: str) -> str:
    """"Brontë, Charlotte, 1816-1855; Townsend, F. H. (Frederick Henry) [Illustrator]" → "Brontë, Charlotte".

    The first author without dates, roles or fuller forms: how training and attribution name a book.
    """
    name = re.sub(r"\s*[\[(][^\])]*[\])]", "", name.split("; ")[0])  # "[Illustrator]", "(Frederick Henry)"
    parts = [p for p in name.split(",") if p.strip() and not re.search(r"\d", p)]  # "1816-1855", "active 1700"
    return ",".join(parts).strip() or "Unknown"


def fold(text: str) -> str:
    """Case- and accent-free form for matching: "Brontë" and "BRONTE" both become "bronte"."""
    text = unicodedata.normalize("NFKD", text.casefold())
    if text.isascii():
        return text
    marks = "".join(c for c in set(text) if unicodedata.combining(c))  # one pass over distinct characters only
    return re.sub(f"[{re.escape(marks)}]", "", text) if marks else text


class _Words:
    """A free-text column as one folded string: "\\n" before every row, ";" between entries of a row.

    Finding a word is then one regex scan in C, and numpy maps match offsets back to entries and rows.
    """

    def __init__(self, text: str, multi: bool):
        self.text = text
        chars = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        newline = chars == ord("\n")
        self.row_ends = np.flatnonzero(newline)[1:]
        self.entry_ends = np.flatnonzero(newline | (chars == ord(";")))[1:] if multi else self.row_ends
        self.entry_starts = np.concatenate(([1], self.entry_ends[:-1] + 1))

    @staticmethod
    def fold_column(values: list[str]) -> str:
        return fold("\n" + "\n".join(v.replace("\n", " ") for v in values) + "\n")

    def rows(self, words: list[str]) -> np.ndarray:
        """Rows where a single entry (one author, one subject, …) contains every word as a substring."""
        scan, *others = sorted(words, key=len, reverse=True)  # scan for the longest (likely rarest) word…
        hits = np.fromiter((m.start() for m in re.finditer(re.escape(scan), self.text)), dtype=np.int64)
        entries = np.unique(np.searchsorted(self.entry_ends, hits)).tolist()
        if others:  # …and check the others within each entry found
            starts, ends = self.entry_starts, self.entry_ends
            entries = [e for e in entries if all(w in self.text[starts[e] : ends[e]] for w in others)]
        return np.searchsorted(self.row_ends, self.entry_ends[entries])


class _Values:
    """A column with few distinct values (language, type), each row stored as the number of its value."""

    def __init__(self, values: list[str]):
        distinct: dict[str, int] = {}
        self.codes = np.array([distinct.setdefault(v, len(distinct)) for v in values], dtype=np.int64)
        self.distinct = [v.split("; ") for v in distinct]

    def rows(self, entry: str) -> np.ndarray:
        """Rows having `entry` among their values, e.g. "en" for "en; fr"."""
        return np.flatnonzero(np.isin(self.codes, [i for i, v in enumerate(self.distinct) if entry in v]))


class Catalog:
    """The parsed catalog as columns (lists of strings, "; "-joined for multi-valued fields) plus search indexes.

    `folded` holds each searchable column folded by `_Words.fold_column`; it is computed if not given (the
    parsed cache keeps it, since folding 20 MB of text is most of the cost of building a catalog).
    """

    def __init__(self, columns: dict[str, list], folded: dict[str, str] | None = None):
        self.columns = columns
        self.ids = np.asarray(columns["id"], dtype=np.int64)
        self.folded = folded or {name: _Words.fold_column(columns[name]) for name in WORD_COLUMNS}
        self.words = {name: _Words(self.folded[name], multi=name in MULTI) for name in WORD_COLUMNS}
        self.languages = _Values(columns["language"])
        self.is_text = self.mask(_Values(columns["type"]).rows("Text"))

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[Book]:
        return (self.book_at(row) for row in range(len(self)))

    def book_at(self, row: int) -> Book:
        c = self.columns
        multi = {name: tuple(c[name][row].split("; ")) if c[name][row] else () for name in MULTI}
        return Book(id=int(self.ids[row]), title=c["title"][row], type=c["type"][row], issued=c["issued"][row], **multi)

    def get(self, book_id: int | str) -> Book | None:
        """The book with this id, or None if the catalog has no such row."""
        rows = np.flatnonzero(self.ids == parse_book_id(book_id))
        return self.book_at(int(rows[0])) if len(rows) else None

    def mask(self, rows: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(self), dtype=bool)
        mask[rows] = True
        return mask


def parse_catalog(data: bytes, name: str = "pg_catalog.csv") -> dict[str, list]:
    """Columns of a `pg_catalog.csv` (plain or gzip); malformed rows are skipped with a warning."""
    try:
        text = (_gunzip(data, name) if data[:2] == b"\x1f\x8b" else data).decode("utf-8-sig")
    except (OSError, zlib.error, UnicodeDecodeError) as e:
        raise PoetError(f"{name} is not a Project Gutenberg catalog ({e}): delete it or use another --mirror") from e
    rows = csv.reader(io.StringIO(text, newline=""))  # titles hold line breaks inside quoted fields
    header = next(rows, [])
    if not set(CSV_COLUMNS) <= set(header):
        raise PoetError(
            f"{name} is not a Project Gutenberg catalog (its header lacks {', '.join(CSV_COLUMNS)}): "
            "use --mirror with a source that has cache/epub/feeds/pg_catalog.csv"
        )
    if text and not text.endswith("\n"):  # the catalog ends with a line break: a cut in a row shows
        raise PoetError(f"{name} is cut short (it ends in the middle of a row): nothing was cached; try again "
                        "later or use another --mirror")  # fmt: skip
    where = {column: header.index(field) for field, column in CSV_COLUMNS.items()}
    columns: dict[str, list] = {column: [] for column in where}
    skipped = 0
    try:
        for row in rows:
            if len(row) != len(header) or not row[where["id"]].isdigit():
                skipped += bool(row)  # a blank line is not a malformed row
                continue
            for column, i in where.items():
                columns[column].append(int(row[i]) if column == "id" else row[i].replace("\r\n", "\n"))
    except csv.Error as e:
        raise PoetError(f"{name} is malformed near line {rows.line_num} ({e}): delete it or use --refresh") from e
    if not columns["id"]:
        raise PoetError(f"{name} has no readable catalog rows: use --refresh or another --mirror")
    if skipped:
        warnings.warn(f"{name}: skipped {skipped} malformed row(s)", stacklevel=2)
    return columns


def _gunzip(data: bytes, name: str) -> bytes:
    """Decompressed, refusing more than MAX_CATALOG_BYTES (a small file may unpack to gigabytes)."""
    unpack = zlib.decompressobj(wbits=31)
    out = unpack.decompress(data, MAX_CATALOG_BYTES)
    if unpack.unconsumed_tail:
        raise PoetError(f"{name} unpacks to more than {MAX_CATALOG_BYTES / 1e6:,.0f} MB, more than a catalog can be: "
                        "use another --mirror")  # fmt: skip
    if not unpack.eof:
        raise PoetError(f"{name} is cut short (its gzip stream ends early): nothing was cached; try again later or "
                        "use another --mirror")  # fmt: skip
    return out


def load_catalog(
    source: str | os.PathLike | Mirror | None = None, cache: str | os.PathLike | None = None, refresh: bool = False
) -> Catalog:
    """The catalog: from the cache if under a week old, else from the source (falling back to the stale cache,
    with a warning, if the source fails and `refresh` was not asked for)."""
    folder = cache_root(cache) / "gutenberg"
    parsed = folder / "catalog.json"
    if not refresh and parsed.is_file() and time.time() - parsed.stat().st_mtime < MAX_AGE:
        cached = _read_parsed(parsed)
        if cached is not None:
            return cached
    try:
        name, data = _download(resolve_mirror(source))
        catalog = Catalog(parse_catalog(data, name))
        _check_rows(catalog, name, parsed)
    except PoetError as e:
        stale = None if refresh else _read_parsed(parsed)
        if stale is None:
            raise
        warnings.warn(f"could not refresh the catalog, using the cached one: {e}", stacklevel=2)
        return stale
    atomic_write(folder / Path(name).name, data)  # the catalog as downloaded, for anyone who wants to read it
    payload = {"format": PARSED_FORMAT, "columns": catalog.columns, "folded": catalog.folded}
    atomic_write(parsed, json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    return catalog


def _check_rows(catalog: Catalog, name: str, parsed: Path) -> None:
    """Gutenberg's catalog only grows: a download with far fewer rows than the cached one was cut short."""
    before = _read_parsed(parsed) if parsed.is_file() else None
    if before is not None and len(catalog) < MIN_KEPT * len(before):
        raise PoetError(f"{name} has {len(catalog):,} books where the cached catalog has {len(before):,}: it looks "
                        "cut short, so it was not cached; try again later or use another --mirror")  # fmt: skip


def _download(mirror: Mirror) -> tuple[str, bytes]:
    """(where the catalog came from, its bytes), the smaller form first."""
    for rel in FEEDS:
        data = get(mirror, rel, MAX_CATALOG_BYTES)
        if data is not None:
            return mirror.where(rel), data
    raise PoetError(f"no {FEEDS[1]}(.gz) on {mirror.base}: use --mirror with a source that has the catalog")


def _read_parsed(path: Path) -> Catalog | None:
    """The cached catalog, or None if the file is missing, damaged or from another version."""
    try:
        payload = json.loads(path.read_bytes())
        return Catalog(payload["columns"], payload["folded"]) if payload.get("format") == PARSED_FORMAT else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def search(
    catalog: Catalog,
    spec: Mapping[str, str | Iterable] | None = None,
    *,
    author: str | Iterable[str] = (),
    title: str | Iterable[str] = (),
    language: str | Iterable[str] = (),
    subject: str | Iterable[str] = (),
    bookshelf: str | Iterable[str] = (),
    ids: int | str | Iterable[int | str] = (),
    include_all_types: bool = False,
) -> Books:
    """Books matching every given field and, within a field, any of its values; only type Text by default.

    `spec` is the same as a dict, e.g. `{"author": ["brontë", "Jane Austen"], "language": ["english"]}`.
    Matching ignores case and accents and goes word by word: every word of a value must occur (as a substring)
    in one author, title, subject or bookshelf, so "jane austen" finds "Austen, Jane, 1775-1817" but not a book
    by "Austen, Cassandra; Smith, Jane". Languages are names or codes ("english", "en").
    """
    given = {"author": author, "title": title, "subject": subject, "bookshelf": bookshelf, "language": language,
             "ids": ids}  # fmt: skip
    criteria = {field: _as_list(values) for field, values in given.items()}
    for key, values in (spec or {}).items():
        field = SPEC_ALIASES.get(key, key)
        if field not in criteria:
            raise PoetError(f"unknown search field {key!r}: use one of {', '.join(given)}")
        criteria[field] += _as_list(values)
    criteria = {field: values for field, values in criteria.items() if values}
    if not criteria:
        raise PoetError("empty search: give one of --author, --title, --language, --subject, --bookshelf, --id")
    mask = np.ones(len(catalog), dtype=bool) if include_all_types else catalog.is_text.copy()
    for field, values in criteria.items():
        mask &= catalog.mask(np.concatenate([_rows(catalog, field, value) for value in values]))
    return Books(catalog.book_at(row) for row in np.flatnonzero(mask))


def _as_list(values: str | int | Iterable | None) -> list[str]:
    values = [values] if isinstance(values, (str, int)) else list(values or ())
    return [str(v).strip() for v in values if str(v).strip()]


def _rows(catalog: Catalog, field: str, value: str) -> np.ndarray:
    if field == "ids":
        return np.flatnonzero(np.isin(catalog.ids, parse_book_id(value)))
    if field == "language":
        return catalog.languages.rows(language_code(value, catalog))
    return catalog.words[WORD_FIELDS[field]].rows(fold(value).split())


def language_code(name: str, catalog: Catalog | None = None) -> str:
    """"English", "en" → "en"; "Deutsch" → "de". Unknown names are an error, not an empty result."""
    key = fold(name)
    if key in LANGUAGES:
        return LANGUAGES[key]
    if key in LANGUAGES.values() or (catalog is not None and any(key in v for v in catalog.languages.distinct)):
        return key
    raise PoetError(
        f"unknown language {name!r}: use a name such as english, german, french, spanish "
        "or an ISO 639 code such as en, de, fr, es"
    )

"""Polite, robust downloads from gutenberg.org, an HTTP mirror or a local directory, into an atomic cache.

gutenberg.org asks robots to go slowly and bulk users to use a mirror
(https://www.gutenberg.org/policy/robot_access.html), hence the delay between requests and the daily limit.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urljoin, urlsplit
from urllib.request import Request, urlopen

from ..errors import PoetError
from ..paths import atomic_write, cache_root
from .clean import clean

DEFAULT_SOURCE = "https://www.gutenberg.org/"
USER_AGENT = "torch-poet/0.1 (character-level language models; Python urllib)"
GUTENBERG_HOSTS = {"gutenberg.org", "www.gutenberg.org"}
GUTENBERG_DELAY = 2.0  # seconds between two requests to gutenberg.org itself
DAILY_LIMIT = 100  # books a day from gutenberg.org itself; more is bulk use, which belongs on a mirror


@dataclass(frozen=True)
class Source:
    """Where books come from (a URL ending in "/" or a local directory) and how politely to ask."""

    base: str
    delay: float = 0.0  # seconds between two requests
    timeout: float = 30.0  # for the connection and for each read
    retries: int = 3  # further tries after a 5xx, a timeout or a dropped connection
    backoff: float = 1.0  # the first retry waits this long, each later one twice as long

    @property
    def is_local(self) -> bool:
        return "://" not in self.base

    @property
    def host(self) -> str:
        return "" if self.is_local else (urlsplit(self.base).hostname or "")


def resolve_source(source: str | os.PathLike | Source | None = None) -> Source:
    """`--mirror`, else $POET_GUTENBERG_URL, else gutenberg.org; a URL or a local directory."""
    if isinstance(source, Source):
        return source
    base = os.fspath(source or os.environ.get("POET_GUTENBERG_URL") or DEFAULT_SOURCE)
    if "://" not in base:
        path = Path(base).expanduser()
        if not path.is_dir():
            raise PoetError(f"mirror directory {path} does not exist: pass an existing directory or a URL to --mirror")
        return Source(str(path))
    if urlsplit(base).scheme not in ("http", "https"):
        raise PoetError(f"unsupported mirror {base!r}: use an http(s):// URL or a local directory")
    base = base if base.endswith("/") else base + "/"
    host = urlsplit(base).hostname or ""
    return Source(base, delay=GUTENBERG_DELAY if host in GUTENBERG_HOSTS else 0.0)


def parse_book_id(value: int | str) -> int:
    """A positive integer book id; anything else (`../x`, `-1`, `0`, `abc`) is refused before it reaches a path."""
    text = str(value).strip() if not isinstance(value, bool) else ""
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) == 0:
        raise PoetError(f"invalid book id {value!r}: use a positive number such as 1342 (see `poet search`)")
    return int(text)


def candidates(book_id: int) -> list[str]:
    """Paths of a book's plain text relative to a source, most current first.

    gutenberg.org serves `cache/epub/<ID>/pg<ID>.txt`, older `files/<ID>/` names still exist, and rsync mirrors
    use the classic tree `1/3/4/1342/` (ids below 10 under `0/<ID>/`), where `-0` is UTF-8 and `-8` Latin-1.
    """
    digits = str(book_id)
    classic = "/".join(digits[:-1] or "0") + f"/{digits}"
    names = [f"{book_id}-0.txt", f"{book_id}.txt", f"{book_id}-8.txt"]
    return (
        [f"cache/epub/{book_id}/pg{book_id}.txt"]
        + [f"files/{book_id}/{name}" for name in names]
        + [f"{classic}/{name}" for name in names]
    )


class _Retry(Exception):
    """A failure worth another try: 5xx, timeout, refused or dropped connection, truncated body."""


_request_lock = threading.Lock()  # one request at a time, from any thread
_last_request: dict[str, float] = {}  # host → time.monotonic() of its last request


def get(source: Source, rel: str) -> bytes | None:
    """The bytes of `rel` under the source, or None if it does not exist there."""
    if source.is_local:
        path = Path(source.base, rel)
        return path.read_bytes() if path.is_file() else None
    url = urljoin(source.base, rel)
    for attempt in range(source.retries + 1):
        try:
            with _request_lock:
                wait = _last_request.get(source.host, -source.delay) + source.delay - time.monotonic()
                time.sleep(max(0.0, wait))
                try:
                    return _request(url, source.timeout)
                finally:
                    _last_request[source.host] = time.monotonic()
        except _Retry as e:
            problem = e
            if attempt < source.retries:
                time.sleep(source.backoff * 2**attempt)
    raise PoetError(
        f"could not download {url} ({problem}; {source.retries + 1} tries): "
        "check your connection, or use another mirror with --mirror URL or a local directory"
    )


def _request(url: str, timeout: float) -> bytes | None:
    try:
        with urlopen(Request(url, headers={"User-Agent": USER_AGENT}), timeout=timeout) as response:
            data = response.read()
            expected = response.headers.get("Content-Length")
    except HTTPError as e:
        e.close()  # its body (an error page) is not needed
        if e.code in (404, 410):
            return None
        if e.code >= 500 or e.code == 429:
            raise _Retry(f"HTTP {e.code} {e.reason}") from e
        raise PoetError(f"{url} answered HTTP {e.code} {e.reason}: check the --mirror URL") from e
    except (http.client.IncompleteRead, ConnectionError) as e:
        raise _Retry(f"connection dropped: {e!r}") from e
    except (TimeoutError, URLError, http.client.HTTPException, OSError) as e:
        reason = getattr(e, "reason", e)
        raise _Retry("timed out" if isinstance(reason, TimeoutError) else str(reason)) from e
    if expected is not None and expected.isdigit() and len(data) != int(expected):
        raise _Retry(f"truncated: got {len(data)} of {expected} bytes")
    return data


def reserve_download(host: str, folder: Path, today: date | None = None, limit: int = DAILY_LIMIT) -> None:
    """Count one book fetched from gutenberg.org today (in `folder`); refuse once `limit` is reached."""
    if host not in GUTENBERG_HOSTS:
        return
    path = folder / "gutenberg.org-downloads.json"
    day = (today or date.today()).isoformat()
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        state = {}
    count = state.get("count", 0) if state.get("date") == day else 0
    if count >= limit:
        raise PoetError(
            f"already {count} books downloaded from {host} today, the daily limit torch-poet keeps to: "
            "use a mirror (--mirror URL or a local rsync copy, see https://www.gutenberg.org/MIRRORS.ALL) or wait a day"
        )
    atomic_write(path, json.dumps({"date": day, "count": count + 1}).encode())


def book_path(book_id: int | str, cache: str | os.PathLike | None = None) -> Path:
    """Where the cleaned text of a book is (or will be) cached."""
    return cache_root(cache) / "gutenberg" / "books" / f"{parse_book_id(book_id)}.txt"


def download(
    book_id: int | str, source: str | os.PathLike | Source | None = None, cache: str | os.PathLike | None = None
) -> Path:
    """The cached cleaned text of a book, fetched and cleaned first if needed; a cached book needs no network."""
    path = book_path(book_id, cache)
    if path.is_file():
        return path
    book_id, source = parse_book_id(book_id), resolve_source(source)
    reserve_download(source.host, path.parent.parent)
    for rel in candidates(book_id):
        data = get(source, rel)
        if data is not None:
            atomic_write(path, clean(data, f"book {book_id}").encode("utf-8"))
            return path
    raise PoetError(
        f"book {book_id} not found on {source.base}: check the id (`poet search`) or try another --mirror"
    )


def book_text(
    book_id: int | str, source: str | os.PathLike | Source | None = None, cache: str | os.PathLike | None = None
) -> str:
    """The cleaned text of a book (from the cache when present)."""
    return download(book_id, source, cache).read_text(encoding="utf-8")

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
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urljoin, urlsplit
from urllib.request import Request, urlopen

from ..errors import PoetError, say
from ..paths import atomic_write, cache_root
from .clean import book_problem, clean

DEFAULT_SOURCE = "https://www.gutenberg.org/"
USER_AGENT = "torch-poet/0.1 (character-level language models; Python urllib)"
GUTENBERG_HOSTS = {"gutenberg.org", "www.gutenberg.org"}
GUTENBERG_DELAY = 2.0  # seconds between two requests to gutenberg.org itself
DAILY_LIMIT = 100  # books a day from gutenberg.org itself; more is bulk use, which belongs on a mirror
MAX_BOOK_BYTES = 64 * 2**20  # the longest Gutenberg texts are about 20 MB
PROGRESS_AFTER = 2.0  # seconds: a download that takes longer shows a progress line on stderr...
PROGRESS_EVERY = 5.0  # ...and another one every this many seconds


@dataclass(frozen=True)
class Mirror:
    """Where books come from (a URL ending in "/" or a local directory) and how politely to ask."""

    base: str
    delay: float = 0.0  # seconds between two requests
    timeout: float = 30.0  # for the connection and for each read
    retries: int = 3  # further tries after a 5xx, a timeout or a dropped connection
    backoff: float = 1.0  # the first retry waits this long, each later one twice as long
    deadline: float = 180.0  # seconds for one file, all tries together: a mirror that drips bytes still ends

    @property
    def is_local(self) -> bool:
        return "://" not in self.base

    @property
    def host(self) -> str:
        return "" if self.is_local else (urlsplit(self.base).hostname or "")

    def where(self, rel: str) -> str:
        """The URL (or local path) of `rel` under this mirror."""
        return str(Path(self.base, rel)) if self.is_local else urljoin(self.base, rel)


def resolve_mirror(source: str | os.PathLike | Mirror | None = None) -> Mirror:
    """`--mirror`, else $POET_GUTENBERG_URL, else gutenberg.org; a URL or a local directory."""
    if isinstance(source, Mirror):
        return source
    base = os.fspath(source or os.environ.get("POET_GUTENBERG_URL") or DEFAULT_SOURCE)
    if "://" not in base:
        path = Path(base).expanduser()
        if not path.is_dir():
            raise PoetError(f"mirror directory {path} does not exist: pass an existing directory or a URL to --mirror")
        return Mirror(str(path))
    if urlsplit(base).scheme not in ("http", "https"):
        raise PoetError(f"unsupported mirror {base!r}: use an http(s):// URL or a local directory")
    base = base if base.endswith("/") else base + "/"
    host = urlsplit(base).hostname or ""
    return Mirror(base, delay=GUTENBERG_DELAY if host in GUTENBERG_HOSTS else 0.0)


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


_request_lock = threading.Lock()  # one request at a time to a host that asks for a delay, from any thread
_last_request: dict[str, float] = {}  # host → time.monotonic() of its last request


def get(mirror: Mirror, rel: str, limit: int = MAX_BOOK_BYTES) -> bytes | None:
    """The bytes of `rel` under the mirror, or None if it does not exist there; more than `limit` bytes, or
    longer than the source's deadline, is a PoetError (nothing is kept of it)."""
    if mirror.is_local:
        path = Path(mirror.base, rel)
        if not path.is_file():
            return None
        if path.stat().st_size > limit:
            raise PoetError(too_big(mirror.where(rel), path.stat().st_size, limit))
        return path.read_bytes()
    url = mirror.where(rel)
    deadline = time.monotonic() + mirror.deadline
    for attempt in range(mirror.retries + 1):
        try:
            with _request_lock if mirror.delay else nullcontext():  # a polite host: one request at a time
                wait = _last_request.get(mirror.host, -mirror.delay) + mirror.delay - time.monotonic()
                time.sleep(max(0.0, wait))
                try:
                    return _request(url, mirror, deadline, limit)
                finally:
                    _last_request[mirror.host] = time.monotonic()
        except _Retry as e:
            problem = e
            pause = mirror.backoff * 2**attempt
            if attempt == mirror.retries or time.monotonic() + pause >= deadline:
                break
            if pause >= PROGRESS_AFTER / 2:
                say(f"{url}: {e}; trying again in {pause:g} s")
            time.sleep(pause)
    raise PoetError(
        f"could not download {url} ({problem}; {attempt + 1} tries): "
        "check your connection, or use another mirror with --mirror URL or a local directory"
    )


def too_big(where: str, size: int, limit: int) -> str:
    return (f"{where} is {size / 1e6:,.1f} MB, more than the {limit / 1e6:,.0f} MB a Project Gutenberg file can be: "
            "nothing was cached; check the --mirror URL or use another mirror")  # fmt: skip


def _request(url: str, mirror: Mirror, deadline: float, limit: int) -> bytes | None:
    timeout = max(0.01, min(mirror.timeout, deadline - time.monotonic()))
    try:
        with urlopen(Request(url, headers={"User-Agent": USER_AGENT}), timeout=timeout) as response:
            return _read(response, url, mirror, deadline, limit)
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


def _read(response, url: str, mirror: Mirror, deadline: float, limit: int) -> bytes:
    """The body, read in pieces so that the size cap and the deadline hold whatever the server sends; a
    progress line on stderr once it takes more than PROGRESS_AFTER seconds."""
    expected = response.headers.get("Content-Length")
    total = int(expected) if expected is not None and expected.isdigit() else None
    if total is not None and total > limit:
        raise PoetError(too_big(url, total, limit))
    start = time.monotonic()
    shown, parts, got = start + PROGRESS_AFTER, [], 0
    while piece := response.read1(1 << 20):
        got += len(piece)
        if got > limit:
            raise PoetError(too_big(url, got, limit))
        parts.append(piece)
        now = time.monotonic()
        if now > deadline:
            raise PoetError(
                f"{url} is too slow: {got:,} bytes{f' of {total:,}' if total else ''} in {now - start:.0f} s, "
                f"over the {mirror.deadline:g} s allowed for one file: nothing was cached; try again later or "
                "use another mirror with --mirror URL or a local directory"
            )
        if now >= shown:
            shown = now + PROGRESS_EVERY
            of = f" of {total / 1e6:.1f}" if total else ""
            say(f"downloading {url}: {got / 1e6:.1f}{of} MB, {got / 1e3 / (now - start):,.0f} kB/s")
    if total is not None and got != total:
        raise _Retry(f"truncated: got {got} of {total} bytes")
    return b"".join(parts)


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
    book_id: int | str, source: str | os.PathLike | Mirror | None = None, cache: str | os.PathLike | None = None
) -> Path:
    """The cached cleaned text of a book, fetched and cleaned first if needed; a cached book needs no network."""
    path = book_path(book_id, cache)
    if path.is_file():
        return path
    book_id, mirror = parse_book_id(book_id), resolve_mirror(source)
    reserve_download(mirror.host, path.parent.parent)
    for rel in candidates(book_id):
        data = get(mirror, rel)
        if data is not None:
            problem = book_problem(data)
            if problem:
                raise PoetError(
                    f"{mirror.where(rel)} is {problem}, "
                    f"not the text of book {book_id}: nothing was cached; try again later or use another mirror "
                    "with --mirror URL or a local directory"
                )
            atomic_write(path, clean(data, f"book {book_id}").encode("utf-8"))
            return path
    raise PoetError(f"book {book_id} not found on {mirror.base}: check the id (`poet search`) or try another --mirror")


def book_text(
    book_id: int | str, source: str | os.PathLike | Mirror | None = None, cache: str | os.PathLike | None = None
) -> str:
    """The cleaned text of a book (from the cache when present)."""
    return download(book_id, source, cache).read_text(encoding="utf-8")

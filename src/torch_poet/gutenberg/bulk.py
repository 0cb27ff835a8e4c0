"""Many books at once, as `poet download` and a library of hundreds of books need them: what is cached is skipped,
the rest is fetched several at a time from a mirror or a folder (one request at a time, 2 s apart, from
gutenberg.org itself, which is told up front with the time it takes), a book that fails is named and the others go
on, and a progress bar counts books and megabytes with the time left. Interrupted, it resumes where it stopped:
each book is cached whole as it arrives. Other editions of a work a search already found are skipped and named."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PoetError, say
from .catalog import Book, fold
from .fetch import DAILY_LIMIT, GUTENBERG_HOSTS, Mirror, book_path, download, parse_book_id, resolve_mirror

JOBS = 4  # downloads at once from a mirror or a folder
MIRRORS = "https://www.gutenberg.org/help/mirroring.html"


@dataclass
class Fetched:
    """What `fetch` did: each book's cached text (in the order asked), how many were cached already, and why each
    failed book failed."""

    paths: dict[int, Path] = field(default_factory=dict)
    cached: int = 0
    failed: dict[int, str] = field(default_factory=dict)

    def problem(self) -> str | None:
        """The failures in one line, or None."""
        if not self.failed:
            return None
        shown = "; ".join(f"{i} ({why})" for i, why in list(self.failed.items())[:3])
        more = f"; and {len(self.failed) - 3} more" if len(self.failed) > 3 else ""
        total = len(self.failed) + len(self.paths)
        return f"{len(self.failed)} of {total} books could not be downloaded: {shown}{more}"


def fetch(ids: Iterable[int | str], source: str | os.PathLike | Mirror | None = None,
          cache: str | os.PathLike | None = None, jobs: int = JOBS) -> Fetched:  # fmt: skip
    """Every book of `ids` in the cache, downloading what is missing; failures are collected, not raised."""
    wanted = list(dict.fromkeys(parse_book_id(i) for i in ids))
    done = Fetched()
    todo = []
    for book_id in wanted:
        if book_path(book_id, cache).is_file():
            done.paths[book_id], done.cached = book_path(book_id, cache), done.cached + 1
        else:
            todo.append(book_id)
    if todo:
        mirror = resolve_mirror(source)
        if mirror.host in GUTENBERG_HOSTS and len(todo) > 1:
            seconds = len(todo) * mirror.delay
            wait = f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:,.0f} min"
            days = -(-len(todo) // DAILY_LIMIT)
            say(f"{len(todo):,} books from {mirror.host}, one request every {mirror.delay:g} s: about {wait}, and at "
                f"most {DAILY_LIMIT} books a day{f' ({days} days for these)' if days > 1 else ''}; for more, use a "
                f"mirror (an rsync copy: {MIRRORS}) with --mirror URL_OR_FOLDER")  # fmt: skip
        _download(todo, mirror, cache, 1 if mirror.delay else jobs, done)
    done.paths = {i: done.paths[i] for i in wanted if i in done.paths}  # in the order asked
    return done


def _download(todo: Sequence[int], mirror: Mirror, cache, jobs: int, done: Fetched) -> None:
    """The books of `todo` into `done`: their paths, or why they failed."""
    with _bar(len(todo)) as bar, ThreadPoolExecutor(jobs) as pool:
        futures = {pool.submit(download, book_id, mirror, cache): book_id for book_id in todo}
        try:
            for future in as_completed(futures):
                book_id = futures[future]
                try:
                    done.paths[book_id] = future.result()
                except PoetError as e:
                    done.failed[book_id] = str(e)
                if bar is not None:
                    size = done.paths[book_id].stat().st_size if book_id in done.paths else 0
                    bar.update(bar.task_ids[0], advance=1, mb=bar.tasks[0].fields["mb"] + size / 1e6,
                               failed=len(done.failed))  # fmt: skip
        except KeyboardInterrupt:  # the books in flight are written whole or not at all; a rerun goes on
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _bar(total: int):
    """A progress bar on a terminal (books, MB, failures, time left), else nothing."""
    if total < 2 or not sys.stderr.isatty():
        return nullcontext()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("downloading"), BarColumn(), MofNCompleteColumn(), TextColumn("books"),
                        TextColumn("{task.fields[mb]:,.1f} MB, {task.fields[failed]} failed"), TimeRemainingColumn(),
                        console=Console(stderr=True), transient=True)  # fmt: skip
    progress.add_task("books", total=total, mb=0.0, failed=0)
    return progress


def one_edition_each(books: Sequence[Book]) -> tuple[list[Book], list[tuple[Book, Book]]]:
    """The books less other editions of a work already among them (the same title and author, case, accents and
    punctuation aside): (kept, [(skipped, the edition kept instead)])."""
    first: dict[tuple[str, str], Book] = {}
    kept, skipped = [], []
    for book in books:
        key = (_words(book.title.split("\n")[0]), _words(book.author))
        if key in first:
            skipped.append((book, first[key]))
        else:
            first[key] = book
            kept.append(book)
    return kept, skipped


def first_editions(books: Sequence[Book], keep_all: bool, say: Callable[[str], None]) -> list[Book]:
    """The books a search found, less other editions of a work among them (`one_edition_each`) unless keep_all;
    the ones skipped said in one line."""
    if keep_all:
        return list(books)
    kept, skipped = one_edition_each(books)
    if skipped:
        say(editions_skipped(skipped) + " (--all-editions keeps them)")
    return kept


def editions_skipped(skipped: Sequence[tuple[Book, Book]]) -> str:
    """One line naming the other editions skipped."""
    shown = ", ".join(f"{b.id} ({kept.title.split(chr(10))[0]!r}, as {kept.id})" for b, kept in skipped[:5])
    more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    return f"skipped {len(skipped)} other edition{'s' * (len(skipped) > 1)} of works already found: {shown}{more}"


def _words(text: str) -> str:
    """The words of text as the catalog search matches them (case and accents folded), punctuation dropped."""
    return " ".join(re.findall(r"\w+", fold(text)))

"""`poet search`, `poet download`, `poet show`: the Gutenberg catalog and books."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from .args import add_command, number


def cmd_search(args: argparse.Namespace) -> int:
    from ..gutenberg import load_catalog, search

    catalog = load_catalog(args.mirror, args.cache, refresh=args.refresh)
    books = search(catalog, author=args.author, title=args.title, language=args.language, subject=args.subject,
                   bookshelf=args.bookshelf, ids=args.ids, include_all_types=args.all_types)  # fmt: skip
    if args.json:
        for book in books:
            print(json.dumps({**dataclasses.asdict(book), "author": book.author, "url": book.url}, ensure_ascii=False))
    else:
        from rich.console import Console
        from rich.table import Table

        caption = f"{len(books)} book{'' if len(books) == 1 else 's'}"
        table = Table("id", "author", "title", "language", caption=caption)
        for book in books:
            table.add_row(str(book.id), book.author, book.title.split("\n")[0], ", ".join(book.language))
        Console(markup=False, highlight=False).print(table)  # titles such as "Love and Freindship [sic]"
    return 0 if books else 1


def register_search(sub) -> None:
    p = add_command(
        sub,
        "search",
        cmd_search,
        help="search Project Gutenberg's catalog",
        description="Find books in Project Gutenberg's catalog (downloaded once, refreshed weekly). Values of one "
        "option are OR'ed, different options AND'ed; matching ignores case and accents, and every word of a value "
        "must occur in the same author (title, subject...), so 'jane austen' finds 'Austen, Jane'.",
        epilog="example:\n  poet search --author bronte --author 'jane austen' --language en",
    )
    p.add_argument("--author", action="append", default=[], help="author words (repeatable)")
    p.add_argument("--title", action="append", default=[], help="title words (repeatable)")
    p.add_argument("--language", action="append", default=[], help="language name or code: english, en, deutsch...")
    p.add_argument("--subject", action="append", default=[], help="subject words (repeatable)")
    p.add_argument("--bookshelf", action="append", default=[], help="bookshelf words (repeatable)")
    p.add_argument("--id", action="append", default=[], dest="ids", help="a Gutenberg book id (repeatable)")
    p.add_argument("--all-types", action="store_true", help="include audio books, images, datasets... (not only Text)")
    p.add_argument("--refresh", action="store_true", help="download the catalog again even if the cached one is fresh")
    p.add_argument("--json", action="store_true", help="print one JSON object per book instead of a table")


def cmd_download(args: argparse.Namespace) -> int:
    from ..errors import PoetError, say
    from ..gutenberg import load_catalog, search
    from ..gutenberg.bulk import fetch, first_editions
    from ..gutenberg.fetch import parse_book_id

    ids = [parse_book_id(i) for i in args.ids]  # a bad id is refused before anything is fetched
    if args.author or args.title or args.language or args.subject:
        books = search(load_catalog(args.mirror, args.cache), author=args.author, title=args.title,
                       language=args.language, subject=args.subject)  # fmt: skip
        ids += [b.id for b in first_editions(books, args.all_editions, say)]
    if not ids:
        raise PoetError("no books named: give ids, or a search with --author, --title, --language or --subject")
    done = fetch(ids, args.mirror, args.cache, args.jobs)
    for path in done.paths.values():
        print(path, flush=True)
    if len(set(ids)) > 1:
        say(f"{len(done.paths):,} books in the cache ({done.cached:,} were there already), {len(done.failed):,} failed")
    if done.failed:
        raise PoetError(f"{done.problem()}: rerun to try them again (the others are cached), or use another --mirror")
    return 0


def register_download(sub) -> None:
    p = add_command(
        sub,
        "download",
        cmd_download,
        help="download and clean books into the cache",
        description="Download books by id or by a catalog search, strip the Project Gutenberg header and footer, cache "
        "the texts and print where each is. What is cached is skipped, so a rerun (after Ctrl-C, or to retry what "
        "failed) goes on where the last one stopped. From gutenberg.org itself one request at a time, 2 s apart, at "
        "most 100 books a day; from a mirror or a local copy (--mirror) several at once. A book that fails is named "
        "and the others go on (exit 2 if any failed). A search skips other editions of a work it already found.",
        epilog="examples:\n  poet download 1342 768\n"
        "  poet download --author dickens --language en --mirror /data/gutenberg  # a local rsync copy",
    )
    p.add_argument("ids", nargs="*", metavar="ID", help="Gutenberg book ids, e.g. 1342 768")
    p.add_argument("--author", action="append", default=[], help="and the books of a catalog search: author words")
    p.add_argument("--title", action="append", default=[], help="... title words")
    p.add_argument("--language", action="append", default=[], help="... a language name or code")
    p.add_argument("--subject", action="append", default=[], help="... subject words")
    p.add_argument("--all-editions", action="store_true", help="keep every edition a search finds of one work")
    p.add_argument("--jobs", type=number(int, "--jobs", ge=1, le=32), default=4,
                   help="downloads at once from a mirror or a folder (default: 4; gutenberg.org gets one)")


def cmd_show(args: argparse.Namespace) -> int:
    from ..gutenberg import book_text

    sys.stdout.write(book_text(args.id, args.mirror, args.cache))
    sys.stdout.flush()  # inside main's try, so a closed pipe (`| head`) is handled there
    return 0


def register_show(sub) -> None:
    p = add_command(sub, "show", cmd_show, help="print the cleaned text of a book", description="Print a book's cleaned text "
                       "(downloaded and cached first if needed).", epilog="examples:\n  poet show 1342 | head -40\n"
                       "  poet show 768 > wuthering.txt")  # fmt: skip
    p.add_argument("id", metavar="ID", help="Gutenberg book id")

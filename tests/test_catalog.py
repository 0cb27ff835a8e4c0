"""Catalog download, parsing, caching and search, against the fixture's real pg_catalog.csv over loopback HTTP."""

from __future__ import annotations

import csv
import os
import shutil
import time

import pytest
from conftest import ENGLISH_BOOKS, GUTENBERG

from torch_poet.errors import PoetError
from torch_poet.gutenberg import Book, Mirror, load_catalog, search, short_author
from torch_poet.gutenberg.catalog import MAX_AGE, fold, language_code, parse_catalog

SPEC = {"author": ["brontë", "Jane Austen", "Virginia Woolf"], "language": ["english"]}
HEADER = "Text#,Type,Issued,Title,Language,Authors,Subjects,LoCC,Bookshelves\r\n"


@pytest.fixture
def catalog(gutenberg_server):
    return load_catalog(gutenberg_server.url)


def mirror_with_catalog(tmp_path, text: str | bytes):
    """A local mirror directory whose pg_catalog.csv has the given content."""
    feeds = tmp_path / "mirror/cache/epub/feeds"
    feeds.mkdir(parents=True)
    (feeds / "pg_catalog.csv").write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return tmp_path / "mirror"


def test_the_original_spec_finds_the_fixtures_english_books(catalog):
    books = search(catalog, SPEC)
    assert ENGLISH_BOOKS <= {b.id for b in books}
    assert {771, 1019, 1212} <= {b.id for b in books}  # in the catalog, not in the fixture's files
    for book in books:
        assert "en" in book.language and book.type == "Text"
        names = [fold(a) for a in book.authors]
        assert any(
            "bronte" in a or ("jane" in a and "austen" in a) or ("virginia" in a and "woolf" in a) for a in names
        )
    assert books == search(catalog, author=SPEC["author"], language="en")
    assert [b.id for b in books] == sorted(b.id for b in books)


def test_every_catalog_row_is_read_including_multiline_titles(catalog):
    assert len(catalog) == 1975
    assert catalog.get(2).title.startswith("The United States Bill of Rights\nThe Ten Original Amendments")
    jane_eyre = catalog.get(1260)
    assert jane_eyre == Book(
        id=1260,
        title="Jane Eyre: An Autobiography",
        authors=("Brontë, Charlotte, 1816-1855", "Townsend, F. H. (Frederick Henry), 1868-1920 [Illustrator]"),
        language=("en",),
        subjects=jane_eyre.subjects,
        bookshelves=("Browsing: Culture/Civilization/Society", "Browsing: Literature", "Browsing: Fiction"),
        type="Text",
        issued="1998-03-01",
    )
    assert "Governesses -- Fiction" in jane_eyre.subjects
    assert jane_eyre.author == "Brontë, Charlotte" and jane_eyre.url == "https://www.gutenberg.org/ebooks/1260"
    assert catalog.get(1997) is None


@pytest.mark.parametrize("language", ["german", "Deutsch", "de", "DE"])
def test_german_books(catalog, language):
    books = search(catalog, language=language)
    assert {2229, 22367} <= {b.id for b in books}
    assert all("de" in b.language for b in books)
    assert {b.author for b in books if b.id in (2229, 22367)} == {"Goethe, Johann Wolfgang von", "Kafka, Franz"}


def test_matching_ignores_case_and_accents(catalog):
    bronte = {b.id for b in search(catalog, author="bronte")}
    for spelling in ("BRONTË", "Brontë", "brontë"):
        assert {b.id for b in search(catalog, author=spelling)} == bronte
    assert {767, 768, 1260} <= bronte
    assert [b.id for b in search(catalog, title="tragodie")] == [2229]
    assert [b.id for b in search(catalog, title="CONDAMNE")] == [6838]
    assert fold("Ærø Straße Brontë") == "ærø strasse bronte"


def test_words_of_one_value_must_meet_in_one_author(tmp_path):
    rows = [
        '1,Text,2000-01-01,Emma,en,"Austen, Jane, 1775-1817",,,',
        '2,Text,2000-01-01,Letters,en,"Austen, Cassandra; Smith, Jane",,,',
        '3,Text,2000-01-01,Jane Eyre,en,"Brontë, Charlotte",,,',
        '4,Text,2000-01-01,Memoir,en,"Austen-Leigh, James Edward",,,',
    ]
    catalog = load_catalog(mirror_with_catalog(tmp_path, HEADER + "\r\n".join(rows) + "\r\n"))
    assert [b.id for b in search(catalog, author="jane austen")] == [1]
    assert [b.id for b in search(catalog, author="austen")] == [1, 2, 4]
    assert [b.id for b in search(catalog, author=["jane austen", "bronte"])] == [1, 3]  # OR within a field
    assert [b.id for b in search(catalog, author="austen", title="emma")] == [1]  # AND across fields


def test_other_fields_ids_and_types(catalog):
    assert [b.id for b in search(catalog, ids=[1342, "768"])] == [768, 1342]
    assert [b.id for b in search(catalog, subject="governesses", author="bronte")] == [767, 1260]
    assert 1342 in {b.id for b in search(catalog, bookshelf="best books ever")}
    assert search(catalog, ids=[50]) == []  # "Pi" is a Dataset: only Text by default
    assert [b.type for b in search(catalog, ids=[50], include_all_types=True)] == ["Dataset"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "empty search"),
        ({"author": ["", "  "]}, "empty search"),
        ({"language": "klingon"}, r"unknown language 'klingon'.*\ben\b.*\bde\b"),
        ({"spec": {"writer": ["austen"]}}, "unknown search field 'writer'"),
        ({"ids": ["../1"]}, "invalid book id"),
    ],
)
def test_bad_searches_are_clear_errors(catalog, kwargs, message):
    with pytest.raises(PoetError, match=message):
        search(catalog, **kwargs)


def test_language_codes():
    assert language_code("English") == "en" and language_code("français") == "fr" and language_code("la") == "la"


@pytest.mark.parametrize(
    "authors, short",
    [
        (
            "Brontë, Charlotte, 1816-1855; Townsend, F. H. (Frederick Henry), 1868-1920 [Illustrator]",
            "Brontë, Charlotte",
        ),
        ("Townsend, F. H. (Frederick Henry), 1868-1920 [Illustrator]", "Townsend, F. H."),
        ("Ward, Humphry, Mrs., 1851-1920 [Author of introduction, etc.]", "Ward, Humphry, Mrs."),
        ("Homer, 751? BCE-651? BCE", "Homer"),
        ("United States", "United States"),
        ("", "Unknown"),
    ],
)
def test_short_author(authors, short):
    assert short_author(authors) == short


def test_warm_load_uses_the_parsed_cache_without_the_csv(serve, poet_dirs):
    server = serve(GUTENBERG)
    first = load_catalog(server.url)
    assert server.paths == ["/cache/epub/feeds/pg_catalog.csv.gz"]
    folder = poet_dirs.cache / "gutenberg"
    assert sorted(p.name for p in folder.iterdir()) == ["catalog.json", "pg_catalog.csv.gz"]
    server.stop()
    (folder / "pg_catalog.csv.gz").unlink()
    warm = load_catalog(server.url)
    assert search(warm, SPEC) == search(first, SPEC) and len(warm) == len(first)


def test_refresh_after_a_week_or_on_request(serve, poet_dirs):
    server = serve(GUTENBERG)
    load_catalog(server.url)
    load_catalog(server.url)
    assert len(server.paths) == 1
    parsed = poet_dirs.cache / "gutenberg/catalog.json"
    week_ago = time.time() - MAX_AGE - 60
    os.utime(parsed, (week_ago, week_ago))
    load_catalog(server.url)
    assert len(server.paths) == 2 and time.time() - parsed.stat().st_mtime < 60
    load_catalog(server.url, refresh=True)
    assert len(server.paths) == 3


def test_stale_cache_is_used_when_the_source_is_down(serve, poet_dirs):
    server = serve(GUTENBERG)
    load_catalog(server.url)
    server.stop()
    parsed = poet_dirs.cache / "gutenberg/catalog.json"
    os.utime(parsed, (0, 0))
    down = Mirror(server.url, retries=1, backoff=0.01)
    with pytest.warns(UserWarning, match="could not refresh the catalog"):
        assert len(load_catalog(down)) == 1975
    with pytest.raises(PoetError, match="could not download"):
        load_catalog(down, refresh=True)


def test_plain_csv_when_there_is_no_gz(serve, tmp_path):
    mirror = mirror_with_catalog(tmp_path, (GUTENBERG / "cache/epub/feeds/pg_catalog.csv").read_bytes())
    server = serve(mirror)
    assert len(load_catalog(server.url)) == 1975
    assert server.paths == ["/cache/epub/feeds/pg_catalog.csv.gz", "/cache/epub/feeds/pg_catalog.csv"]


def test_csv_and_gz_parse_the_same():
    plain = parse_catalog((GUTENBERG / "cache/epub/feeds/pg_catalog.csv").read_bytes())
    assert plain == parse_catalog((GUTENBERG / "cache/epub/feeds/pg_catalog.csv.gz").read_bytes())
    with open(GUTENBERG / "cache/epub/feeds/pg_catalog.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    assert plain["id"] == [int(r[0]) for r in rows] and plain["title"][1] == rows[1][3].replace("\r\n", "\n")


def test_malformed_rows_are_skipped_with_a_warning(tmp_path):
    text = HEADER + '1,Text,2000-01-01,Good,en,"A, B",,,\r\nnot,a,row\r\nx,Text,2000,Bad id,en,,,,\r\n'
    with pytest.warns(UserWarning, match="skipped 2 malformed row"):
        catalog = load_catalog(mirror_with_catalog(tmp_path, text))
    assert [b.title for b in catalog] == ["Good"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"<html><body>Welcome to the captive portal</body></html>", "not a Project Gutenberg catalog"),
        (b"\xff\xfe\x00garbage\x80", "not a Project Gutenberg catalog"),
        (b"\x1f\x8b\x08\x00broken gzip", "not a Project Gutenberg catalog"),
        (HEADER.encode() + b"not,a,row\r\n", "no readable catalog rows"),
    ],
)
def test_a_file_that_is_not_a_catalog_is_a_clear_error_and_not_cached(tmp_path, poet_dirs, content, message):
    with pytest.raises(PoetError, match=message):
        load_catalog(mirror_with_catalog(tmp_path, content))
    assert not (poet_dirs.cache / "gutenberg").exists()


def test_a_damaged_parsed_cache_is_rebuilt(gutenberg_server, poet_dirs):
    load_catalog(gutenberg_server.url)
    (poet_dirs.cache / "gutenberg/catalog.json").write_text('{"format": 1, "colu')
    assert len(load_catalog(gutenberg_server.url)) == 1975


def test_mirror_without_a_catalog(tmp_path):
    (tmp_path / "rsync").mkdir()
    with pytest.raises(PoetError, match="no cache/epub/feeds/pg_catalog.csv"):
        load_catalog(tmp_path / "rsync")


def test_local_mirror_directory_copy(tmp_path):
    mirror = tmp_path / "copy"
    shutil.copytree(GUTENBERG / "cache/epub/feeds", mirror / "cache/epub/feeds")
    assert ENGLISH_BOOKS <= {b.id for b in search(load_catalog(mirror), SPEC)}


def test_search_results_show_as_a_linked_escaped_table_in_jupyter(catalog):
    books = search(catalog, author="bronte", language="en")
    html = books._repr_html_()
    assert html.count("<tr>") == len(books) + 1 and f"<caption>{len(books)} books</caption>" in html
    assert '<a href="https://www.gutenberg.org/ebooks/1260" target="_blank">1260</a>' in html
    assert "Brontë, Charlotte" in html and "Jane Eyre: An Autobiography" in html
    tricky = type(books)([Book(id=1, title="Fish & <Chips>", authors=("O'Brien, <Flann>",))])
    assert "Fish &amp; &lt;Chips&gt;" in tricky._repr_html_() and "<Flann>" not in tricky._repr_html_()
    assert "1 book</caption>" in tricky._repr_html_()

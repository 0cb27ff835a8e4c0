"""Downloads over real loopback HTTP (well-behaved and scripted to misbehave) and from local mirror directories."""

from __future__ import annotations

import json
import shutil
import time
from datetime import date, timedelta

import pytest
from conftest import GUTENBERG, Reply

from torch_poet.errors import PoetError
from torch_poet.gutenberg import Mirror, book_path, book_text, clean, download, resolve_mirror
from torch_poet.gutenberg.fetch import DAILY_LIMIT, candidates, parse_book_id, reserve_download

BOOK_IDS = sorted(int(p.name) for p in GUTENBERG.glob("cache/epub/*") if p.name.isdigit())
TINY_BOOK = b"""*** START OF THE PROJECT GUTENBERG EBOOK TINY ***\r
\r
Once upon a time.\r
\r
*** END OF THE PROJECT GUTENBERG EBOOK TINY ***\r
"""


def quick(url: str, **kw) -> Mirror:
    """A source that gives up fast, so failure tests take a fraction of a second."""
    return Mirror(url, **{"timeout": 0.5, "retries": 2, "backoff": 0.01, **kw})


def cached_files(cache) -> list[str]:
    return sorted(p.name for p in (cache / "gutenberg").rglob("*") if p.is_file())


def test_every_fixture_book_downloads_cleaned_and_then_works_offline(serve, poet_dirs):
    server = serve(GUTENBERG)
    assert len(BOOK_IDS) == 22
    for book_id in BOOK_IDS:
        path = download(book_id, server.url)
        assert path == book_path(book_id) and path.parent == poet_dirs.cache / "gutenberg" / "books"
        raw = (GUTENBERG / f"cache/epub/{book_id}/pg{book_id}.txt").read_bytes()
        assert path.read_text(encoding="utf-8") == clean(raw)
    assert server.paths == [f"/cache/epub/{i}/pg{i}.txt" for i in BOOK_IDS]  # one request per book
    assert all(agent.startswith("torch-poet/") for agent in server.user_agents)
    server.stop()
    assert book_text(1342, server.url).startswith("PRIDE AND PREJUDICE")  # from the cache: server is gone
    assert "Gregor Samsa" in book_text("22367", server.url)


def test_missing_book_is_a_clear_error_after_trying_every_layout(serve, poet_dirs):
    server = serve(script={})
    with pytest.raises(PoetError, match=rf"book 99999999 not found on {server.url}"):
        download(99999999, quick(server.url))
    assert server.paths == ["/" + rel for rel in candidates(99999999)]
    assert cached_files(poet_dirs.cache) == []


def test_legacy_file_names_are_the_fallback(serve, tmp_path):
    mirror = tmp_path / "site"
    (mirror / "files/1028").mkdir(parents=True)
    shutil.copy(GUTENBERG / "legacy/1028.txt", mirror / "files/1028/1028.txt")
    server = serve(mirror)
    text = book_text(1028, server.url)
    assert text.startswith("THE PROFESSOR") and "\xa0" in text  # Latin-1 bytes decoded
    assert server.paths == ["/cache/epub/1028/pg1028.txt", "/files/1028/1028-0.txt", "/files/1028/1028.txt"]


def test_server_errors_are_retried(serve):
    body = TINY_BOOK
    server = serve(script={"/cache/epub/5/pg5.txt": [Reply(500), Reply(503), Reply(200, body)]})
    assert book_text(5, quick(server.url)) == "Once upon a time.\n"
    assert server.paths == ["/cache/epub/5/pg5.txt"] * 3


def test_a_server_that_keeps_failing_is_a_clear_error(serve, poet_dirs):
    server = serve(script={"/cache/epub/5/pg5.txt": [Reply(500)]})
    with pytest.raises(PoetError, match=r"HTTP 500.*3 tries.*--mirror"):
        download(5, quick(server.url))
    assert len(server.paths) == 3
    assert cached_files(poet_dirs.cache) == []


def test_a_stalled_server_times_out(serve, poet_dirs):
    server = serve(script={"/cache/epub/5/pg5.txt": [Reply(200, TINY_BOOK, stall=30)]})
    start = time.monotonic()
    with pytest.raises(PoetError, match="timed out"):
        download(5, quick(server.url, timeout=0.3, retries=1))
    assert time.monotonic() - start < 5
    assert cached_files(poet_dirs.cache) == []


def test_a_truncated_body_is_never_cached(serve, poet_dirs):
    server = serve(script={"/cache/epub/5/pg5.txt": [Reply(200, TINY_BOOK[:40], length=len(TINY_BOOK))]})
    with pytest.raises(PoetError, match="could not download"):
        download(5, quick(server.url))
    assert len(server.paths) == 3  # retried, truncated each time
    assert cached_files(poet_dirs.cache) == []  # not even a temp file


def test_truncated_then_complete_body_is_cached_once_complete(serve):
    server = serve(
        script={"/cache/epub/5/pg5.txt": [Reply(200, TINY_BOOK[:40], length=len(TINY_BOOK)), Reply(200, TINY_BOOK)]}
    )
    assert book_text(5, quick(server.url)) == "Once upon a time.\n"


def test_connection_refused_is_a_clear_error(serve):
    server = serve(script={})
    server.stop()
    with pytest.raises(PoetError, match="could not download"):
        download(5, quick(server.url, retries=1))


BAD_IDS = ["../1342", "1342/../x", "1342/", "-1", "0", "abc", "", " ", "1.5", "1e3", "１３４２", True, -5, 0, None]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_invalid_ids_are_refused_before_any_path_or_url(bad, serve):
    server = serve(script={})
    with pytest.raises(PoetError, match="invalid book id"):
        download(bad, server.url)
    with pytest.raises(PoetError, match="invalid book id"):
        book_path(bad)
    assert server.paths == []


def test_valid_ids():
    assert parse_book_id(" 1342 ") == parse_book_id(1342) == parse_book_id("01342") == 1342


def test_local_directory_in_the_url_layout(gutenberg_dir):
    assert book_text(1342, gutenberg_dir).startswith("PRIDE AND PREJUDICE")


def test_local_rsync_mirror_in_the_classic_layout(tmp_path):
    mirror = tmp_path / "rsync"
    for rel, source in [
        ("1/3/4/1342/1342-0.txt", GUTENBERG / "cache/epub/1342/pg1342.txt"),
        ("2/2/3/6/22367/22367-8.txt", GUTENBERG / "legacy/22367-8.txt"),  # Latin-1
    ]:
        (mirror / rel).parent.mkdir(parents=True)
        shutil.copy(source, mirror / rel)
    (mirror / "0/7").mkdir(parents=True)
    (mirror / "0/7/7.txt").write_bytes(TINY_BOOK)  # ids below 10 live under 0/<id>/
    assert book_text(1342, mirror).startswith("PRIDE AND PREJUDICE")
    assert "aus unruhigen Träumen erwachte" in book_text(22367, mirror)
    assert book_text(7, mirror) == "Once upon a time.\n"
    with pytest.raises(PoetError, match=f"book 8 not found on {mirror}"):
        download(8, mirror)


def test_candidates_classic_paths():
    assert "1/3/4/1342/1342-0.txt" in candidates(1342)
    assert "0/7/7.txt" in candidates(7) and "4/42/42-8.txt" in candidates(42)


def test_source_resolution(monkeypatch, tmp_path):
    assert resolve_mirror(None) == Mirror("https://www.gutenberg.org/", delay=2.0)
    assert resolve_mirror("https://gutenberg.org").delay == 2.0
    assert resolve_mirror("http://aleph.gutenberg.org/mirror") == Mirror("http://aleph.gutenberg.org/mirror/")
    monkeypatch.setenv("POET_GUTENBERG_URL", str(tmp_path))
    assert resolve_mirror(None) == Mirror(str(tmp_path)) and resolve_mirror(None).is_local
    with pytest.raises(PoetError, match="does not exist"):
        resolve_mirror(tmp_path / "nowhere")
    with pytest.raises(PoetError, match="unsupported mirror"):
        resolve_mirror("ftp://example.org/")


def test_requests_to_one_host_are_spaced_by_the_delay(serve):
    server = serve(script={f"/cache/epub/{i}/pg{i}.txt": [Reply(200, TINY_BOOK)] for i in (5, 6)})
    source = quick(server.url, delay=0.3)
    start = time.monotonic()
    download(5, source)
    download(6, source)
    assert time.monotonic() - start >= 0.3


def test_gutenberg_org_daily_limit(tmp_path):
    today = date(2026, 11, 28)
    for _ in range(DAILY_LIMIT):
        reserve_download("www.gutenberg.org", tmp_path, today)
    with pytest.raises(PoetError, match=r"already 100 books .*--mirror"):
        reserve_download("gutenberg.org", tmp_path, today)
    assert json.loads((tmp_path / "gutenberg.org-downloads.json").read_text()) == {"date": "2026-11-28", "count": 100}
    reserve_download("www.gutenberg.org", tmp_path, today + timedelta(days=1))  # a new day, a new count
    for _ in range(2 * DAILY_LIMIT):
        reserve_download("127.0.0.1", tmp_path, today)  # mirrors are not limited
        reserve_download("aleph.gutenberg.org", tmp_path, today)


def test_cached_books_never_touch_the_network_nor_the_limit(poet_dirs):
    (poet_dirs.cache / "gutenberg").mkdir(parents=True)
    limit = {"date": date.today().isoformat(), "count": DAILY_LIMIT}
    (poet_dirs.cache / "gutenberg/gutenberg.org-downloads.json").write_text(json.dumps(limit))
    book_path(1342).parent.mkdir(parents=True)
    book_path(1342).write_text("cached\n", encoding="utf-8")
    assert book_text(1342, "https://www.gutenberg.org/") == "cached\n"
    with pytest.raises(PoetError, match="--mirror"):  # an uncached one from gutenberg.org is over today's limit
        download(1260, "https://www.gutenberg.org/")


def test_many_books_from_a_mirror_come_several_at_once(serve, poet_dirs):
    """Six books that each take 0.4 s to start arriving: four at a time, not one after another."""
    from torch_poet.gutenberg.bulk import fetch

    server = serve(script={f"/cache/epub/{i}/pg{i}.txt": [Reply(200, TINY_BOOK, stall=0.4)] for i in range(1, 7)})
    start = time.monotonic()
    done = fetch(range(1, 7), quick(server.url), jobs=4)
    assert list(done.paths) == [1, 2, 3, 4, 5, 6] and not done.failed and done.cached == 0
    assert time.monotonic() - start < 6 * 0.4 * 0.6  # one at a time would take 2.4 s
    assert fetch(range(1, 7), quick(server.url)).cached == 6  # a rerun finds them in the cache


def test_gutenberg_org_is_asked_one_book_at_a_time_and_the_wait_is_said_up_front(poet_dirs, monkeypatch, capsys):
    from torch_poet.gutenberg import bulk

    running = []

    def offline(book_id, mirror, cache):  # what download does without a network, and how many run at once
        running.append(book_id)
        time.sleep(0.05)
        overlap = len(running)
        running.remove(book_id)
        raise PoetError(f"book {book_id}: no network here ({overlap} at once)")

    monkeypatch.setattr(bulk, "download", offline)
    done = bulk.fetch([5, 6, 7], "https://www.gutenberg.org/", jobs=4)
    said = capsys.readouterr().err
    assert "3 books from www.gutenberg.org, one request every 2 s: about 6 s, and at most 100 books a day" in said
    assert "use a mirror" in said and list(done.failed) == [5, 6, 7] and done.paths == {}
    assert all("(1 at once)" in why for why in done.failed.values())
    assert done.problem().startswith("3 of 3 books could not be downloaded: 5 (book 5: no network here")

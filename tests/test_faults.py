"""Faults and hostile input, tried through the command line, the Python API and real loopback servers: a mirror that
stalls, drips, cuts short, lies or floods; a full disk; config.json and snapshots that are readable but wrong; names
and settings out of range; a model broken or changing while it is listed; clients that leave; crash leftovers.
Each gives a one-line error (or a 4xx JSON error), caches nothing implausible, and blocks nothing else."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2 as httpx
import pytest
import torch
from conftest import GUTENBERG, SHARED, Reply, poet
from fastapi.testclient import TestClient
from safetensors.torch import save_file

from torch_poet import checkpoint
from torch_poet.checkpoint import list_models, load_model, model_row, read_snapshot, save_snapshot, write_json
from torch_poet.errors import PoetError
from torch_poet.gutenberg import Source, download, load_catalog
from torch_poet.gutenberg.catalog import MAX_CATALOG_BYTES
from torch_poet.gutenberg.fetch import MAX_BOOK_BYTES
from torch_poet.library import Library, Text, read_file
from torch_poet.model import CharRNN, ModelConfig
from torch_poet.paths import atomic_write
from torch_poet.poet import Poet
from torch_poet.serve import MAX_BODY, create_app
from torch_poet.train import TrainConfig, Trainer

PRIDE = (GUTENBERG / "cache/epub/1342/pg1342.txt").read_bytes()
BOOK = "/cache/epub/1342/pg1342.txt"
CATALOG = (GUTENBERG / "cache/epub/feeds/pg_catalog.csv").read_bytes()
CSV_FEED, GZ_FEED = "/cache/epub/feeds/pg_catalog.csv", "/cache/epub/feeds/pg_catalog.csv.gz"


def quick(url: str, **kw) -> Source:
    """A source that gives up fast, so failure tests take a fraction of a second."""
    return Source(url, **{"timeout": 0.5, "retries": 1, "backoff": 0.01, **kw})


def cached(cache: Path) -> list[str]:
    """Every file in the cache, temp files included."""
    return sorted(p.name for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


def run(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch_poet", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    """The single `poet: error:` line of a run that failed as a user's mistake should (exit 2, no traceback)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("poet: error: ")]
    assert len(errors) == 1, result.stderr
    for w in words:
        assert w in errors[0], errors[0]
    return errors[0]


# --- downloads ------------------------------------------------------------------------------------------------------


def test_a_mirror_that_drips_meets_the_deadline_with_progress_lines(serve, poet_dirs, capfd):
    server = serve(script={BOOK: [Reply(200, PRIDE, drip=0.05, piece=100)]})  # 2 kB/s: 5 minutes for the book
    start = time.monotonic()
    with pytest.raises(PoetError, match=rf"{server.url}\S+ is too slow: .* over the 3 s allowed .*--mirror"):
        download(1342, quick(server.url, deadline=3))
    assert time.monotonic() - start < 5
    assert "poet: downloading " + server.url in capfd.readouterr().err  # not silent meanwhile
    assert cached(poet_dirs.cache) == []


def test_a_stalled_mirror_fails_within_the_deadline_whatever_the_retries(serve, poet_dirs):
    server = serve(script={BOOK: [Reply(200, PRIDE, stall=60)]})
    start = time.monotonic()
    with pytest.raises(PoetError, match="timed out"):
        download(1342, quick(server.url, timeout=0.5, retries=50, deadline=2))
    assert time.monotonic() - start < 4
    assert cached(poet_dirs.cache) == []


@pytest.mark.parametrize(
    "reply, words",
    [
        (Reply(200, PRIDE[:222_380], send_length=False), "is cut short (222,380 bytes"),  # no Content-Length to tell
        (Reply(200, b"<!DOCTYPE html><html><body>Welcome to the hotel Wi-Fi</body></html>"), "is an HTML page"),
        (Reply(200, bytes(range(256)) * 64), "is binary data"),
        (Reply(200, b"x", length=MAX_BOOK_BYTES + 1), "more than the 67 MB a Project Gutenberg file can be"),
    ],
    ids=["truncated-without-length", "html-with-200", "binary", "oversize-by-its-length"],
)
def test_an_implausible_book_is_never_cached_and_the_error_names_the_mirror(reply, words, serve, env, tmp_path):
    server = serve(script={BOOK: [reply]})
    result = run("download", "1342", "--mirror", server.url, env=env)
    one_line_error(result, server.url, words, "nothing was cached", "--mirror")
    assert cached(tmp_path / "cache") == []


def test_an_endless_body_is_cut_at_the_size_cap_and_memory_stays_bounded(serve, env, tmp_path):
    chunk = PRIDE[:1 << 20]
    server = serve(script={BOOK: [Reply(200, chunk, repeat=300, send_length=False)]})  # 300 MB, no length
    # the peak memory of `poet download` alone: started by a small Python, since a process started by this big one
    # counts this one's memory in its own peak
    measure = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, status, usage = os.wait4(p.pid, 0); "
               "print(usage.ru_maxrss * 1024); sys.exit(os.waitstatus_to_exitcode(status))")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", measure, sys.executable, "-m", "torch_poet", "download", "1342",
                             "--mirror", server.url], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    one_line_error(result, "more than the 67 MB a Project Gutenberg file can be", "nothing was cached")
    assert int(result.stdout) < MAX_BOOK_BYTES + 100e6, result.stdout  # the cap and the interpreter, not 300 MB
    assert cached(tmp_path / "cache") == []


def test_a_catalog_cut_short_is_not_cached(serve, poet_dirs):
    cut = CATALOG[: len(CATALOG) // 2]
    server = serve(script={CSV_FEED: [Reply(200, cut, send_length=False)]})  # no .gz there: the CSV is fetched
    with pytest.raises(PoetError, match=rf"{server.url}\S+pg_catalog.csv is cut short .*--mirror"):
        load_catalog(quick(server.url))
    gz = (GUTENBERG / "cache/epub/feeds/pg_catalog.csv.gz").read_bytes()
    server = serve(script={GZ_FEED: [Reply(200, gz[: len(gz) // 2], send_length=False)]})
    with pytest.raises(PoetError, match=r"is cut short \(its gzip stream ends early\)"):
        load_catalog(quick(server.url))
    assert cached(poet_dirs.cache) == []


def test_a_catalog_with_far_fewer_rows_than_the_cached_one_is_refused(serve, poet_dirs):
    full = serve(GUTENBERG)
    assert len(load_catalog(full.url)) == 1975
    rows = CATALOG.split(b"\n")
    half = b"\n".join(rows[: len(rows) // 2]) + b"\n"  # cut at a row boundary: only the count gives it away
    server = serve(script={CSV_FEED: [Reply(200, half, send_length=False)]})
    with pytest.raises(PoetError, match=r"has \d+ books where the cached catalog has 1,975: it looks cut short"):
        load_catalog(quick(server.url), refresh=True)
    with pytest.warns(UserWarning, match="using the cached one"):  # not forced: the cached one serves meanwhile
        os.utime(poet_dirs.cache / "gutenberg/catalog.json", (0, 0))
        assert len(load_catalog(quick(server.url))) == 1975


def test_a_catalog_too_large_is_refused_before_it_is_read(serve, poet_dirs):
    server = serve(script={GZ_FEED: [Reply(200, b"x", length=MAX_CATALOG_BYTES + 1)]})
    with pytest.raises(PoetError, match=r"pg_catalog.csv.gz is 268.4 MB, more than the 268 MB"):
        load_catalog(quick(server.url))
    assert cached(poet_dirs.cache) == []


# --- a full disk (a real one: a small tmpfs in a private mount namespace) ---------------------------------------------


def in_small_disk(disk: Path, size_kb: int, *args: str, env: dict) -> tuple[subprocess.CompletedProcess, dict]:
    """`poet ARGS` with a tmpfs of size_kb mounted at disk (holding a copy of disk.seed, if any) in a mount namespace
    of its own (no root needed where user namespaces are allowed), and the sha256 of every file on that disk after
    it: the disk goes with the namespace. Skips the test where the system allows no such namespace."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode:
        pytest.skip("no user and mount namespaces here to mount a small disk in")
    disk.mkdir(parents=True, exist_ok=True)
    script = ('mount -t tmpfs -o size="$1"k tmpfs "$2" || exit 99; [ -d "$2.seed" ] && cp -a "$2.seed/." "$2"; '
              'disk=$2 sums=$3; shift 3; "$@"; rc=$?; cd "$disk" && find . -type f -exec sha256sum {} + > "$sums"; '
              'exit $rc')
    sums = disk.parent / f"{disk.name}.sha256"  # outside the small disk, so that it outlives it
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(size_kb), str(disk), str(sums),
                             sys.executable, "-m", "torch_poet", *args], env=env, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    files = {line.split("  ", 1)[1][2:]: line.split()[0] for line in sums.read_text().splitlines()}
    assert result.returncode != 99, result.stderr
    return result, files


def sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_full_disk_during_a_download_leaves_nothing_and_says_what_to_free(env, tmp_path):
    cache = tmp_path / "small-cache"
    result, files = in_small_disk(cache, 64, "download", "1342", "--mirror", str(GUTENBERG), "--cache", str(cache),
                                  env=env)  # fmt: skip
    one_line_error(result, "the disk is full: cannot write 1342.txt", "free at least that much there")
    assert "small-cache/gutenberg/books" in result.stderr
    assert list(files) == []  # no temp file, no half book


def test_a_full_disk_during_a_snapshot_keeps_the_old_one_and_leaves_no_temp_file(tmp_path, env):
    book = tmp_path / "book.txt"
    book.write_text((SHARED / "corpora/tiny-shakespeare.txt").read_text()[:20_000])
    train = ["train", "--project", "p", "--file", str(book), "--layers", "1", "--hidden", "96", "--batch-size", "4",
             "--seq-len", "16", "--precision", "fp32"]  # fmt: skip
    assert run(*train, "--steps", "2", env=env).returncode == 0
    home = tmp_path / "home"
    before = {str(p.relative_to(home)): sha256(p) for p in home.rglob("*") if p.is_file()}
    used = sum(p.stat().st_size for p in home.rglob("*") if p.is_file()) // 1024
    snapshot = (home / "projects/p/default/last.safetensors").stat().st_size // 1024
    shutil.copytree(home, tmp_path / "home.seed")  # the small disk holds this model, with room for half a snapshot
    result, after = in_small_disk(home, used + snapshot // 2 + 16, *train, "--steps", "4", env=env)
    one_line_error(result, "the disk is full: cannot write", ".safetensors", "free at least that much there")
    assert "resuming" in result.stderr
    assert not [name for name in after if name.endswith(".tmp")]
    for name in ("last.safetensors", "best.safetensors"):  # the old snapshots, byte for byte
        assert after[f"projects/p/default/{name}"] == before[f"projects/p/default/{name}"]


def test_a_full_disk_at_write_time_is_caught_by_atomic_write_itself(tmp_path):
    """The same through the Python API, on whatever disk holds tmp_path: /dev/full answers every write with ENOSPC,
    and a folder holding a link to it shows that atomic_write removes its temp file and names the problem."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    target = tmp_path / "out" / "last.safetensors"
    target.parent.mkdir()
    target.write_bytes(b"old")
    real_mkstemp = __import__("tempfile").mkstemp

    def full_mkstemp(dir, prefix, suffix):  # noqa: A002 - tempfile's own parameter names
        fd, name = real_mkstemp(dir=dir, prefix=prefix, suffix=suffix)
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), name

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("tempfile.mkstemp", full_mkstemp)
        with pytest.raises(PoetError, match=r"the disk is full: cannot write last.safetensors \(0.0 MB\)"):
            atomic_write(target, b"new" * 10)
    assert target.read_bytes() == b"old" and sorted(p.name for p in target.parent.iterdir()) == ["last.safetensors"]

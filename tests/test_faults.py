"""Faults and hostile input, tried through the command line, the Python API and real loopback servers: a mirror that
stalls, drips, cuts short, lies or floods; a full disk; config.json and snapshots that are readable but wrong; names
and settings out of range; a model broken or changing while it is listed; clients that leave; crash leftovers.
Each gives a one-line error (or a 4xx JSON error), caches nothing implausible, and blocks nothing else."""

from __future__ import annotations

import codecs
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import httpx2 as httpx
import numpy as np
import pytest
import torch
from conftest import GUTENBERG, SHARED, Reply, poet
from fastapi.testclient import TestClient
from helpers import AUSTEN, trainer
from safetensors.torch import save_file

from torch_poet.attribution import Index
from torch_poet.config import LibrarySpec, TrainConfig
from torch_poet.disk import snapshots
from torch_poet.disk.config_json import write_json
from torch_poet.disk.models import list_models, model_row
from torch_poet.disk.snapshots import load_model
from torch_poet.disk.snapshots import read as read_snapshot
from torch_poet.disk.snapshots import save as save_snapshot
from torch_poet.errors import PoetError
from torch_poet.gutenberg import Mirror, download, load_catalog
from torch_poet.gutenberg.catalog import MAX_CATALOG_BYTES
from torch_poet.gutenberg.fetch import MAX_BOOK_BYTES
from torch_poet.library import Library, Text, build, open_prepared, prepare, read_file
from torch_poet.model import CharRNN, ModelConfig
from torch_poet.paths import atomic_write
from torch_poet.poet import Poet
from torch_poet.serve import HEAD_SECONDS, MAX_BODY, MAX_CONNECTIONS, create_app
from torch_poet.train.loop import Trainer

PRIDE = (GUTENBERG / "cache/epub/1342/pg1342.txt").read_bytes()
BOOK = "/cache/epub/1342/pg1342.txt"
CATALOG = (GUTENBERG / "cache/epub/feeds/pg_catalog.csv").read_bytes()
CSV_FEED, GZ_FEED = "/cache/epub/feeds/pg_catalog.csv", "/cache/epub/feeds/pg_catalog.csv.gz"


def quick(url: str, **kw) -> Mirror:
    """A source that gives up fast, so failure tests take a fraction of a second."""
    return Mirror(url, **{"timeout": 0.5, "retries": 1, "backoff": 0.01, **kw})


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


# --- models: readable but wrong, broken, changing while listed ---------------------------------------------------------


def tensors_of(path: Path) -> tuple[dict, dict]:
    tensors, header = read_snapshot(path)
    return tensors, dict(header)


def rewrite_snapshot(path: Path, change) -> None:
    """A valid safetensors file whose content `change(tensors, header)` made wrong."""
    tensors, header = tensors_of(path)
    change(tensors, header)
    save_file(tensors, str(path), metadata=header)


def edit_config(key: str, value):
    def edit(d: Path) -> None:
        config = json.loads((d / "config.json").read_text())
        config["model"][key] = value
        write_json(d / "config.json", config)

    return edit


def both_snapshots(change):
    def edit(d: Path) -> None:
        for which in ("last", "best"):
            rewrite_snapshot(d / f"{which}.safetensors", change)

    return edit


BROKEN = {  # model name -> how it is broken
    "null": lambda d: (d / "config.json").write_text("null"),
    "list": lambda d: (d / "config.json").write_text("[]"),
    "empty": lambda d: (d / "config.json").write_text("{}"),
    "unknown-key": edit_config("colour", "red"),
    "zero-layers": edit_config("layers", 0),
    "shape": edit_config("hidden", 32),  # the weights are 64 wide
    "meta-list": both_snapshots(lambda t, h: h.update(meta="[1, 2]")),
    "no-head": both_snapshots(lambda t, h: t.pop("model.head.weight")),
}


@pytest.fixture
def broken_home(serve_home, tmp_path) -> Path:
    """serve_home's good model test/tiny beside one broken model per kind in project `broken`."""
    home = tmp_path / "broken-home"
    shutil.copytree(serve_home / "projects/test/tiny", home / "projects/test/tiny")
    for name, breaks in BROKEN.items():
        shutil.copytree(serve_home / "projects/test/tiny", home / "projects/broken" / name, ignore=lambda *a: ["index"])
        breaks(home / "projects/broken" / name)
    return home


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_broken_model_is_listed_as_broken_and_breaks_nothing_else_in_the_api(broken_home, gutenberg_server):
    before = contents(broken_home / "projects/broken")
    with TestClient(create_app(root=broken_home, mirror=gutenberg_server.url), base_url="http://127.0.0.1") as c:
        rows = {r["model"]: r for r in c.get("/api/models").json()["models"]}
        assert rows["tiny"]["broken"] is None and rows["tiny"]["step"] == 250
        unfit = {"shape", "no-head"}  # listed from their headers alone: they show when loaded
        assert {name for name, r in rows.items() if r["broken"]} == set(BROKEN) - unfit
        for name in set(BROKEN) - unfit:
            assert str(broken_home) not in rows[name]["broken"] and "/tmp" not in rows[name]["broken"]
            assert c.get(f"/api/models/broken/{name}").json()["broken"] == rows[name]["broken"]
        for name in BROKEN:
            answer = c.post("/api/generate", json={"project": "broken", "model": name, "length": 20})
            assert answer.status_code == 400 and "\n" not in answer.json()["error"], answer.text
            assert "/" + broken_home.parts[1] not in answer.json()["error"]  # no absolute server path
        assert c.get("/api/search", params={"author": "austen"}).status_code == 200
        assert c.post("/api/generate", json={"project": "test", "model": "tiny", "length": 20}).status_code == 200
    assert contents(broken_home / "projects/broken") == before  # nothing was "repaired" or half-written


def test_a_broken_model_is_a_one_line_error_on_the_command_line(broken_home, env):
    env = {**env, "POET_HOME": str(broken_home)}
    for name in BROKEN:
        one_line_error(run("generate", "--project", "broken", "--model", name, "--length", "5", env=env), name)
    for name in ("null", "list", "empty", "unknown-key", "zero-layers"):
        result = run("train", "--project", "broken", "--model", name, "--steps", "1", env=env)
        one_line_error(result, "config.json is not a valid model config", "--restart")
    listed = run("models", env=env)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert listed.stdout.count("broken") >= len(BROKEN) and "stopped" in listed.stdout  # the good one too
    assert sum(line.startswith("poet: warning: broken/") for line in listed.stderr.splitlines()) == len(BROKEN) - 2


@pytest.mark.parametrize(
    "change, why",
    [
        (lambda t, h: t.update({"model.head.weight": torch.zeros(3, 3)}), r"head.weight is \[3, 3\]"),
        (lambda t, h: t.pop("model.embed.weight"), "embed.weight missing"),
        (lambda t, h: h.update(meta='["not", "an", "object"]'), "damaged header"),
    ],
    ids=["wrong-shape", "missing-tensor", "meta-a-list"],
)
def test_a_readable_but_wrong_snapshot_falls_back_to_the_other(change, why, serve_home, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(serve_home / "projects/test/tiny", d)
    rewrite_snapshot(d / "last.safetensors", change)
    with pytest.warns(UserWarning, match=rf"{why}.*using the best snapshot instead"):
        model, _, meta = load_model(d, "last")
    assert meta["step"] == 250 and model.config.hidden == 64
    assert model_row(d)["broken"] is None  # best still loads


def test_listing_models_while_their_files_come_and_go(serve_home, tmp_path, env):
    home = tmp_path / "home"
    shutil.copytree(serve_home, home)
    d = home / "projects/test/tiny"
    stop = threading.Event()

    def churn() -> None:  # what a trainer does at a fast snapshot interval: temp files renamed, folders replaced
        i = 0
        while not stop.is_set():
            atomic_write(d / "history.jsonl", b"{}\n" * 100)
            (d / "samples" / str(i % 3)).mkdir(parents=True, exist_ok=True)
            shutil.rmtree(d / "samples" / str((i + 1) % 3), ignore_errors=True)
            i += 1

    writer = threading.Thread(target=churn)
    writer.start()
    try:
        cli = [poet("models", "--json", env={**env, "POET_HOME": str(home)}, text=True) for _ in range(2)]
        with TestClient(create_app(root=home), base_url="http://127.0.0.1") as c:
            for _ in range(100):
                assert list_models(home)[0]["broken"] is None
                assert c.get("/api/models").status_code == 200
        outputs = [p.communicate(timeout=60) for p in cli]
    finally:
        stop.set()
        writer.join()
    assert all(p.returncode == 0 for p in cli) and all(json.loads(out)["model"] == "tiny" for out, _ in outputs)


def test_a_link_into_a_loop_inside_a_model_breaks_no_listing(serve_home, tmp_path, env):
    home = tmp_path / "home"
    shutil.copytree(serve_home, home)
    d = home / "projects/test/tiny"
    (d / "loop").symlink_to(d / "loop")  # ELOOP on every stat
    (d / "train.lock").symlink_to(d / "train.lock")
    (d / "samples").mkdir()
    (d / "samples" / "gone").symlink_to(tmp_path / "nowhere")
    (row,) = list_models(home)
    assert row["broken"] is None and row["training"] is False and row["bytes"] > 0
    listed = run("models", "--json", env={**env, "POET_HOME": str(home)})
    assert listed.returncode == 0 and json.loads(listed.stdout)["model"] == "tiny", listed.stderr
    with TestClient(create_app(root=home), base_url="http://127.0.0.1") as c:
        assert [m["model"] for m in c.get("/api/models").json()["models"]] == ["tiny"]
        assert c.get("/api/models/test/tiny").status_code == 200


def test_odd_files_in_a_model_folder_and_bugs_answer_json_not_500_text(serve_home, tmp_path, monkeypatch):
    home = tmp_path / "home"
    shutil.copytree(serve_home, home)
    d = home / "projects/test/tiny"
    (d / "samples").mkdir()
    (d / "samples/step00000010.txt").write_text("the readable samples")
    (d / "samples/step00000020.txt").write_bytes(b"\xff\xfe not UTF-8 \x80")
    (d / "samples/stepXYZ.txt").write_text("not ours")
    (d / "history.jsonl").write_bytes(b'{"step": 5, "val_loss": 1.0}\n\xff\x80 cut\n[1, 2]\n')
    with TestClient(create_app(root=home), base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        one = c.get("/api/models/test/tiny")
        assert one.status_code == 200 and one.json()["samples"] == {
            "step": 10, "text": "the readable samples", "parts": [{"head": "", "text": "the readable samples"}]}
        assert [r["step"] for r in c.get("/api/models/test/tiny/history").json()["history"]] == [5]
        monkeypatch.setattr("torch_poet.serve.routes.list_models", lambda root: 1 / 0)  # a bug
        crashed = c.get("/api/models")
        assert crashed.status_code == 500 and crashed.json() == {"error": "internal error (ZeroDivisionError): please report it"}


# --- settings, names, sampling, input files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag, value, words",
    [
        ("--hidden", "0", "--hidden must be a whole number from 1 to 65536, not 0"),
        ("--layers", "0", "--layers must be a whole number from 1 to 64, not 0"),
        ("--seq-len", "0", "--seq-len must be a whole number >= 1, not 0"),
        ("--lr", "nan", "--lr must be a number > 0, not nan"),
        ("--seed", str(2**64), "--seed must be a whole number from 0 to"),
        ("--dropout", "1", "--dropout must be a number >= 0 and < 1"),
        ("--device", "gpu9", "--device must be auto, cpu, mps or cuda[:N]"),
    ],
)
def test_out_of_range_settings_are_refused_before_anything_is_written(flag, value, words, env, tmp_path):
    book = tmp_path / "book.txt"
    book.write_text("It is a truth universally acknowledged. " * 100)
    one_line_error(run("train", "--project", "p", "--file", str(book), "--steps", "1", flag, value, env=env), words)
    assert not (tmp_path / "home/projects").exists()


@pytest.mark.parametrize("command", ["generate", "chat"])
def test_a_seed_out_of_range_is_refused_before_the_model_loads(command, env):
    """A seed past 2**63 - 1 is a one-line error naming the flag, not torch's overflow (nor a missing model)."""
    r = run(command, "--project", "none", "--model", "none", "--seed", str(2**64), env=env)
    one_line_error(r, "--seed must be a whole number from 0 to 9223372036854775807, not 18446744073709551616")


BAD_NAMES = ["", " padded", "padded ", "~home", "tab\there", "bell\x07", "é" * 51, "x" * 300, "..", ".hidden", "a/b"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_invalid_names_are_refused_everywhere_with_what_is_allowed(name, env, tmp_path):
    one_line_error(run("plot", "--project", name, env=env), f"invalid project name {name!r}", "letters, digits")
    one_line_error(run("plot", "--model", name, env=env), f"invalid model name {name!r}")
    with pytest.raises(PoetError, match="invalid project name"):
        Poet.load(project=name, root=tmp_path)
    with pytest.raises(PoetError, match="invalid model name"):
        Poet.load(project="p", model=name, root=tmp_path, weights=False)


def test_an_empty_project_on_the_command_line_is_an_error_not_the_default(env, tmp_path):
    book = tmp_path / "book.txt"
    book.write_text("It is a truth universally acknowledged. " * 100)
    one_line_error(run("train", "--project", "", "--file", str(book), "--steps", "1", env=env), "invalid project name ''")
    assert not (tmp_path / "home/projects").exists()


def test_near_zero_temperature_and_top_p_generate_greedily(serve_home):
    poet = Poet.load(serve_home / "projects/test/tiny", device="cpu")
    greedy = poet.generate("It is a truth", 300, temperature=0)
    assert greedy.strip() and set(greedy) != {"\n"}
    assert poet.generate("It is a truth", 300, temperature=1e-40, seed=1) == greedy
    assert poet.generate("It is a truth", 300, temperature=0.8, top_p=1e-300, seed=1) == greedy
    with TestClient(create_app(root=serve_home), base_url="http://127.0.0.1") as c:
        body = {"prompt": "It is a truth", "length": 300, "temperature": 1e-40, "highlight": False}
        assert c.post("/api/generate", json=body).json()["text"] == greedy


@pytest.mark.parametrize(
    "data, words",
    [
        (b"text\x00with\x00nul bytes" * 50, "binary data"),
        (bytes(range(256)) * 40, "binary data"),
        ("caf\u00e9 au lait ".encode("latin-1") * 50, "not UTF-8 (byte 3 is 0xe9"),
    ],
    ids=["nul-bytes", "random-binary", "latin-1"],
)
def test_a_file_that_does_not_look_like_text_is_warned_about(data, words, tmp_path):
    path = tmp_path / "input.txt"
    path.write_bytes(data)
    with pytest.warns(UserWarning, match=re.escape(f"input.txt does not look like a text file: it is {words}")):
        read_file(path)
    path.write_text("café au lait, " * 50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # plain UTF-8 text: not a word
        read_file(path)


@pytest.mark.parametrize(
    "args, words",
    [
        (("--num", "1000000"), "--num must be a whole number from 1 to 100000, not 1000000"),
        (("--length", str(10**8)), "--length must be a whole number from 0 to 10000000"),
        (("--num", "100000"), "--num x --length must be at most 10,000,000 characters in all, not 70,000,000"),
    ],
)
def test_generation_that_would_not_fit_in_memory_is_refused(args, words, env):
    one_line_error(run("generate", "--project", "none", "--model", "none", *args, env=env), *words.split(" in all"))


@pytest.mark.slow
def test_a_five_megabyte_line_in_a_dialog_is_read_in_bounded_memory(serve_home, env):
    """The prompt runs through the model in pieces, the state carried: memory follows the piece, not the line."""
    line = ("It is a truth universally acknowledged. " * 131_072)[: 5 << 20]
    script = ("import resource, runpy, sys; sys.argv = ['poet', 'chat', '--project', 'test', '--model', 'tiny', "
              "'--seed', '1']; code = 0\ntry: runpy.run_module('torch_poet', run_name='__main__')\n"
              "except SystemExit as e: code = e.code\n"
              "print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)")
    r = subprocess.run([sys.executable, "-c", script], input=line + "\nbye\n", capture_output=True, text=True,
                       timeout=300, env={**env, "POET_HOME": str(serve_home)})  # fmt: skip
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.strip()  # it answered
    peak_mb = int(re.search(r"peak (\d+)", r.stderr).group(1)) / 1024
    assert peak_mb < 1024, f"peak {peak_mb:.0f} MB"


def test_closed_or_full_standard_streams_are_one_line(serve_home, env, tmp_path):
    env = {**env, "POET_HOME": str(serve_home)}
    model = ("--project", "test", "--model", "tiny")
    for command in (["highlight", *model, "-"], ["chat", *model]):
        r = subprocess.run([sys.executable, "-m", "torch_poet", *command], stdin=subprocess.DEVNULL, env=env,
                           capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.close(0))  # fmt: skip
        one_line_error(r, "standard input is closed")
    r = subprocess.run([sys.executable, "-m", "torch_poet", "generate", *model, "--length", "50"], env=env,
                       capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.close(1))  # fmt: skip
    one_line_error(r, "standard output is closed")
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "torch_poet", "generate", *model, "--length", "50"], env=env,
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("poet: error: cannot write the output (No space left")
    (tmp_path / "a-file").write_text("")
    for variable, command in (("POET_HOME", ["models"]), ("POET_CACHE", ["search", "--author", "austen"])):
        r = run(*command, env={**env, variable: str(tmp_path / "a-file")})
        one_line_error(r, f"${variable}", "is a file, not a folder")


def test_a_utf16_text_with_a_byte_order_mark_is_read_as_such_everywhere(serve_home, env, tmp_path):
    """Training reads it as the text it is (no warning, no NUL or 0xFF in the vocabulary), and `poet highlight`
    finds the same quote in it as in the UTF-8 file."""
    text = "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be\n"
    (tmp_path / "utf-8.txt").write_text(text, encoding="utf-8")
    for encoding, bom in (("utf-16", b""), ("utf-16-be", codecs.BOM_UTF16_BE), ("utf-32", b"")):
        path = tmp_path / f"{encoding}.txt"
        path.write_bytes(bom + text.encode(encoding))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "does not look like a text file"
            assert read_file(path).text == read_file(tmp_path / "utf-8.txt").text
        r = run("highlight", "--project", "test", "--model", "tiny", "--json", str(path),
                env={**env, "POET_HOME": str(serve_home)})  # fmt: skip
        assert r.returncode == 0, r.stderr
        spans = json.loads(r.stdout)["spans"]
        assert "".join(s["text"] for s in spans) == text and any(s["sources"] for s in spans)


# --- the attribution index and the library's files ----------------------------------------------------------------


INDEXED = [Text("a", "A", "", "It was the best of times, it was the worst of times. " * 20),
           Text("b", "B", "", "There was no possibility of taking a walk that day. " * 20)]  # fmt: skip


def test_a_full_disk_while_a_library_is_prepared_says_the_space_needed_and_leaves_nothing(tmp_path, env):
    book = tmp_path / "book.txt"
    book.write_text((SHARED / "corpora/tiny-shakespeare.txt").read_text())  # 1.1 MB: more than the disk holds
    cache = tmp_path / "small-cache"
    result, files = in_small_disk(cache, 512, "train", "--project", "p", "--file", str(book), "--cache", str(cache),
                                  "--steps", "1", env=env)  # fmt: skip
    one_line_error(result, "the disk is full: preparing the library in", "needs about 1 MB there",
                   "set POET_CACHE to a larger disk")  # fmt: skip
    assert not [name for name in files if "tmp" in name or name.endswith(".bin")], files  # no temp, no half library
    assert not (tmp_path / "home" / "projects" / "p").exists()  # nothing of the model written before it


def test_a_read_only_cache_holds_the_library_in_memory_and_highlights(serve_home, tmp_path, env):
    """A cache that cannot be written (a read-only mount, which binds root too): one warning, the library and its
    index held in memory, and the quotes found all the same."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode:
        pytest.skip("no user and mount namespaces here to mount a read-only folder in")
    cache = tmp_path / "read-only-cache"
    cache.mkdir()
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" || exit 99; shift; exec "$@"'
    command = [sys.executable, "-m", "torch_poet", "highlight", "--project", "test", "--model", "tiny", "--json", "-"]
    r = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(cache), *command], input=AUSTEN[:80],
                       env={**env, "POET_HOME": str(serve_home), "POET_CACHE": str(cache)}, capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "warning: the library cannot be prepared in" in r.stderr and "it is held in memory instead" in r.stderr
    assert [s for s in json.loads(r.stdout)["spans"] if s["quoted"]]
    assert not list(cache.iterdir())


INDEXING = """
import sys
from torch_poet.attribution import Index
from torch_poet.library import Text, prepare
body = open(sys.argv[1]).read()
library = prepare([lambda i=i: Text(f"t{i}", "", "", body[i * 1000:] + body[: i * 1000]) for i in range(4)],
                  log=lambda m: None)
Index.cached(library)
print(library.home)
"""


def test_a_kill_at_any_moment_of_an_index_build_then_a_rerun_completes(tmp_path, env):
    book = tmp_path / "book.txt"
    book.write_text((SHARED / "corpora/tiny-shakespeare.txt").read_text())
    cmd = [sys.executable, "-c", INDEXING, str(book)]
    for delay in (1.0, 2.0, 3.0, 4.0):  # while preparing, sorting, calibrating, saving
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        p.kill()
        p.wait()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    library = open_prepared(Path(done.stdout.strip()))
    index = Index.load(library.home / "index", library)  # whole, and calibrated
    assert index.rule().calibrated and index.segment(library.text(2, 500, 700))[0].sources
    assert not [q.name for q in (library.home / "index").iterdir() if "tmp" in q.name]


def test_an_index_that_cannot_be_saved_is_used_all_the_same_and_leaves_no_temp(tmp_path, monkeypatch):
    """A full disk (every write answered with ENOSPC) while the index is saved: one warning, no temp file, and
    highlighting works from the index in memory."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    real_mkstemp = __import__("tempfile").mkstemp

    def full_mkstemp(dir, prefix, suffix):  # noqa: A002 - tempfile's own parameter names
        fd, name = real_mkstemp(dir=dir, prefix=prefix, suffix=suffix)
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), name

    said = []
    library = prepare([lambda t=t: t for t in INDEXED], log=said.append)
    with monkeypatch.context() as mp:
        mp.setattr("tempfile.mkstemp", full_mkstemp)
        index = Index.cached(library, log=said.append)
    assert said[0] == "building the attribution index (first time only)"
    assert said[1].startswith("warning: the attribution index could not be saved (the disk is full: the attribution "
                              "index needs about 0 MB in ")  # fmt: skip
    assert index.segment("so it was the worst of times, it was")[1].sources  # it works from memory
    assert not [p.name for p in (library.home / "index").iterdir()]  # no temp file, no half index


def test_a_damaged_or_implausible_index_is_rebuilt_and_leftovers_removed(tmp_path):
    library = prepare([lambda t=t: t for t in INDEXED], log=lambda m: None)
    path = library.home / "index"
    good = Index.cached(library)
    meta = json.loads((path / "meta.json").read_text())
    breakages = {
        "sa.npy empty": lambda: (path / "sa.0.npy").write_bytes(b""),
        "head.npy cut short": lambda: np.save(path / "head.0.npy", np.load(path / "head.0.npy")[:-1]),
        "calibration missing": lambda: (path / "meta.json").write_text(json.dumps({**meta, "calibration": None})),
        "scale -1": lambda: (path / "meta.json").write_text(
            json.dumps({**meta, "calibration": {**meta["calibration"], "scale": -1}})),
        "scale nan": lambda: (path / "meta.json").write_text(
            json.dumps({**meta, "calibration": {**meta["calibration"], "scale": float("nan")}})),
        "passages wrong": lambda: (path / "meta.json").write_text(
            json.dumps({**meta, "calibration": {**meta["calibration"], "passages": [1, 2]}})),
        "sa out of range": lambda: np.save(path / "sa.0.npy", np.full_like(np.load(path / "sa.0.npy"), 10**6)),
    }  # fmt: skip
    for why, breaks in breakages.items():
        breaks()
        (path / ".sa.npy.abc123.tmp").write_bytes(b"a save a kill cut short")
        (path / "codes.999.tmp.npy").write_bytes(b"an older version's")
        with pytest.raises(PoetError, match="cannot read the attribution index"):
            Index.load(path, library)
        said = []
        rebuilt = Index.cached(library, log=said.append)
        assert len(said) == 1 and said[0].endswith(": rebuilding it"), (why, said)
        assert rebuilt.rule() == good.rule() and rebuilt.rule().calibrated, why  # not "as asked"
        assert not [p.name for p in path.iterdir() if "tmp" in p.name], why


def test_a_book_file_changed_after_training_is_said_in_one_line(serve_home, tmp_path, env):
    """The prepared library keeps the texts as trained, so quotes are traced to them whatever became of the files;
    where it must be prepared again from the files, a changed one is said."""
    home = tmp_path / "home"
    shutil.copytree(serve_home, home)
    kept = {**env, "POET_HOME": str(home), "POET_CACHE": str(tmp_path / "kept-cache")}
    highlight = [sys.executable, "-m", "torch_poet", "highlight", "--project", "test", "--model", "tiny", "--json", "-"]
    appended = "An appended sentence, never trained on."

    def quoted(environ: dict) -> list[str]:
        r = subprocess.run(highlight, input=AUSTEN[:80] + " " + appended, env=environ, capture_output=True, text=True,
                           timeout=120)  # fmt: skip
        assert r.returncode == 0, r.stderr
        return [s["text"] for s in json.loads(r.stdout)["spans"] if s["quoted"]]

    config = json.loads((home / "projects/test/tiny/config.json").read_text())
    (book,) = [t for t in config["library"]["texts"] if t["key"] == "file:austen.txt"]
    copy = tmp_path / "austen.txt"  # the model's own copy of the book, to change
    copy.write_text(Path(book["path"]).read_text())
    book["path"] = str(copy)
    (home / "projects/test/tiny/config.json").write_text(json.dumps(config))
    assert quoted(kept)  # the library is prepared from the files as trained
    copy.write_text(copy.read_text() + appended + "\n")
    assert not any(appended in q for q in quoted(kept))  # traced to the text as trained, not to the changed file
    r = run("highlight", "--project", "test", "--model", "tiny", "-", env={**env, "POET_HOME": str(home)})
    one_line_error(r, "austen.txt has changed since the model was trained on it")  # a fresh cache: from the files
    r = run("generate", "--project", "test", "--model", "tiny", "--length", "20", env={**env, "POET_HOME": str(home)})
    assert r.returncode == 0 and "quotes will not be highlighted" in r.stderr and "has changed" in r.stderr


def test_two_texts_of_one_name_are_two_texts_and_one_named_twice_is_one(tmp_path, env):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.txt").write_text(f"The {folder} book. " * 400)
    a, b = str(tmp_path / "a/x.txt"), str(tmp_path / "b/x.txt")
    library = build(LibrarySpec(files=[a, a, b], dirs=[str(tmp_path / "b")]))
    assert [e.key for e in library.entries] == ["file:a/x.txt", "file:b/x.txt"]
    with pytest.raises(PoetError, match="names t twice"):
        Library.from_texts([Text("t", "", "", "one"), Text("t", "", "", "two")])
    train = ["train", "--project", "p", "--file", a, "--file", b, "--file", a, "--layers", "1", "--hidden", "16",
             "--batch-size", "4", "--seq-len", "16", "--steps", "2", "--precision", "fp32"]  # fmt: skip
    assert run(*train, env=env).returncode == 0
    listed = run("models", "--json", env=env)
    assert json.loads(listed.stdout)["broken"] is None
    r = subprocess.run([sys.executable, "-m", "torch_poet", "highlight", "--project", "p", "--json", "-"], env=env,
                       input="The b book. The b book. The b book. ", capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert {s["key"] for span in json.loads(r.stdout)["spans"] for s in span["sources"]} == {"file:b/x.txt"}


# --- crash leftovers -----------------------------------------------------------------------------------------------

TEXT = (SHARED / "corpora/tiny-shakespeare.txt").read_text()[:30_000]


def small(where: Path, steps: int) -> Trainer:
    """A small model on TEXT; the schedule is flat, so any run to a step ends where a straight one would."""
    config = TrainConfig(batch_size=4, seq_len=16, lr=1e-2, min_lr_ratio=1.0, warmup_steps=2, snapshot_every=60,
                         seed=3, precision="fp32", steps=steps)  # fmt: skip
    library = Library.from_texts([Text(key="t", title="t", author="a", text=TEXT)])
    return trainer(library, where, ModelConfig(layers=1, hidden=32, dropout=0.0), config, log=lambda m: None)


def steps_in_history(d: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (d / "history.jsonl").read_text().splitlines()]


@pytest.mark.filterwarnings("ignore:resuming .* with changed settings")
def test_a_kill_between_writing_best_and_last_resumes_from_best_and_restores_the_history(tmp_path):
    d = tmp_path / "m"
    small(d, 4).run()
    last, history = (d / "last.safetensors").read_bytes(), (d / "history.jsonl").read_bytes()
    small(d, 8).run()
    assert snapshots.meta(d / "best.safetensors")["step"] == 8  # step 8 improved: best was written
    (d / "last.safetensors").write_bytes(last)  # as a kill after best, before last and history.jsonl, leaves them
    (d / "history.jsonl").write_bytes(history)
    resumed = small(d, 12)
    assert resumed.step == 8 and [h["step"] for h in resumed.history] == [4, 8]  # the newer snapshot, and its row
    resumed.run()
    straight = small(tmp_path / "straight", 12)
    straight.run()
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # as if nothing had happened
    assert steps_in_history(d) == [4, 8, 12]


@pytest.mark.filterwarnings("ignore:resuming .* with changed settings")
def test_a_kill_before_the_history_is_written_loses_no_row(tmp_path):
    d = tmp_path / "m"
    small(d, 4).run()
    history = (d / "history.jsonl").read_bytes()
    small(d, 8).run()
    (d / "history.jsonl").write_bytes(history)  # the snapshots of step 8 are written, its history row is not
    resumed = small(d, 8)
    assert resumed.step == 8
    resumed.run()  # nothing left to train: it writes the history it took back, and stops
    assert steps_in_history(d) == [4, 8]


@pytest.mark.filterwarnings("ignore:resuming .* with changed settings")
def test_temp_files_of_a_killed_write_are_removed_when_a_trainer_takes_the_lock(tmp_path):
    d = tmp_path / "m"
    small(d, 2).run()
    leftovers = [d / ".last.safetensors.k1ll3d.tmp", d / ".best.safetensors.x.tmp", d / ".history.jsonl.y.tmp"]
    for path in leftovers:  # full-size, as a SIGKILL in the middle of a snapshot write leaves them
        path.write_bytes((d / "last.safetensors").read_bytes())
    others = d / "index" / ".meta.json.z.tmp"  # not a trainer's: the server may be writing it right now
    others.parent.mkdir(exist_ok=True)
    others.write_bytes(b"{}")
    small(d, 4).run()
    assert [p for p in leftovers if p.exists()] == [] and others.exists()


def test_a_wrong_snapshot_on_resume_falls_back_to_the_other(tmp_path):
    d = tmp_path / "m"
    small(d, 4).run()
    rewrite_snapshot(d / "last.safetensors", lambda t, h: t.pop("rng.torch"))
    with pytest.warns(UserWarning, match="does not hold a complete training state.*using the best snapshot"):
        assert small(d, 4).step == 4


@pytest.mark.filterwarnings("ignore:resuming .* with changed settings")
def test_a_snapshot_of_another_model_is_refused_everywhere(tmp_path, env):
    """Weights of the same shape from a model of another vocabulary would load and write garbage: generation,
    resume and the listing all say so in one line instead."""
    home = Path(env["POET_HOME"])
    ours, theirs = home / "projects/p/ours", home / "projects/p/theirs"
    small(ours, 2).run()
    other = Library.from_texts([Text(key="t", title="t", author="a", text=TEXT.replace("a", "α"))])  # as many chars
    config = TrainConfig(batch_size=4, seq_len=16, steps=2, snapshot_every=60, precision="fp32")
    trainer(other, theirs, ModelConfig(layers=1, hidden=32, dropout=0.0), config, log=lambda m: None).run()
    assert len(other.vocab) == len(json.loads((ours / "config.json").read_text())["vocab"])
    for name in ("best.safetensors", "last.safetensors"):
        shutil.copy(theirs / name, ours / name)
    with pytest.raises(PoetError, match="belongs to another model.*vocabulary.*no usable snapshot left"):
        Poet.load(ours)
    one_line_error(run("generate", "--project", "p", "--model", "ours", "--length", "10", env=env), "another model")
    with pytest.raises(PoetError, match="belongs to another model.*no usable snapshot left"):
        small(ours, 4)
    (row,) = [r for r in list_models(home) if r["model"] == "ours"]
    assert "belongs to another model" in row["broken"]


# --- the web app on a real server -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_home(tmp_path_factory) -> Path:
    """A POET_HOME holding slow/m, an untrained 2x768 LSTM: a few seconds for MAX_LENGTH characters on one thread, so
    that a request is still computing when its client leaves."""
    home = tmp_path_factory.mktemp("slow-home")
    book = home / "book.txt"
    book.write_text(TEXT)
    library = Library.from_texts([read_file(book)])
    torch.manual_seed(0)
    shape = ModelConfig(vocab_size=len(library.vocab), layers=2, hidden=768, embedding=16, dropout=0.0)
    d = home / "projects/slow/m"
    for which in ("best", "last"):
        save_snapshot(d / f"{which}.safetensors", CharRNN(shape), None, {"step": 0}, {})
    spec = {"spec": {}, "texts": library.record(), "fingerprint": library.fingerprint}
    write_json(d / "config.json", {"model": asdict(shape), "train": {}, "vocab": library.vocab, "library": spec})
    return home


def left_early(url: str, path: str, body: dict, after: float) -> None:
    """POST body, then hang up after `after` seconds without reading the answer."""
    data = json.dumps(body).encode()
    host, port = url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(data)}\r\n\r\n".encode() + data)  # fmt: skip
        time.sleep(after)


@pytest.mark.parametrize("path, body", [("/api/generate", {"length": 5000, "highlight": False}),
                                        ("/api/chat", {"text": "Who", "sentences": 20})])  # fmt: skip
def test_work_for_a_client_that_left_stops(path, body, slow_home, poet_server):
    server = poet_server(slow_home)
    with httpx.Client(base_url=server.url, timeout=60) as c:
        c.post("/api/generate", json={"length": 1})  # loaded and warm
        before = c.get("/api/status").json()
        left_early(server.url, path, body, after=0.3)
        deadline = time.monotonic() + 10
        while (status := c.get("/api/status").json())["stopped"] == before["stopped"]:
            assert time.monotonic() < deadline, status  # stopped at its next chunk, not after all of it
            time.sleep(0.02)
        assert status["generating"] == 0


def test_a_stalled_catalog_download_blocks_no_generation(serve, serve_home, poet_server):
    mirror = serve(script={GZ_FEED: [Reply(200, b"", length=10, stall=60)]})  # headers, then nothing for a minute
    server = poet_server(serve_home, "--mirror", mirror.url)
    with httpx.Client(base_url=server.url, timeout=90) as c:
        assert c.post("/api/generate", json={"length": 10}).status_code == 200  # loaded before the download starts
        search = threading.Thread(target=lambda: c.get("/api/search", params={"author": "austen"}))
        search.start()
        deadline = time.monotonic() + 10
        while GZ_FEED not in mirror.paths:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        start = time.monotonic()
        for path, body in (("/api/generate", {"length": 200}), ("/api/chat", {"text": "Hello"})):
            assert c.post(path, json=body).status_code == 200
        assert c.get("/api/models").status_code == 200
        assert time.monotonic() - start < 5 and search.is_alive()  # all answered while the catalog still hangs
        mirror.stop()  # the download fails now: the search answers 503
        search.join(timeout=30)


def test_limits_and_headers_of_a_real_server(serve_home, poet_server):
    server = poet_server(serve_home)
    with httpx.Client(base_url=server.url, timeout=60) as c:
        huge = json.dumps({"text": "x" * (MAX_BODY + 1)}).encode()
        refused = c.post("/api/highlight", content=huge, headers={"Content-Type": "application/json"})
        assert refused.status_code == 413 and "over 2,097,152 bytes" in refused.json()["error"]
        chunked = c.post("/api/highlight", content=iter([huge[i : i + 65536] for i in range(0, len(huge), 65536)]),
                         headers={"Content-Type": "application/json"})  # no Content-Length: counted as it comes
        assert chunked.status_code == 413
        for page in ("/", "/api/models"):
            headers = c.get(page).headers
            assert "frame-ancestors 'none'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"
        assert c.get("/api/models", headers={"Host": "attacker.example"}).status_code == 400


def test_idle_and_dripping_connections_are_cut_off_and_counted(serve_home, poet_server):
    """A client that connects and sends nothing, or a header a byte at a time, loses its connection after
    HEAD_SECONDS; past MAX_CONNECTIONS open ones a request is answered 503; once they are cut, 200 again."""
    server = poet_server(serve_home)
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(MAX_CONNECTIONS)]
    drip = socket.create_connection(("127.0.0.1", port))
    drip.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the end of the head
    with httpx.Client(base_url=server.url, timeout=30) as c:
        time.sleep(0.5)
        assert c.get("/api/status").status_code == 503  # over the limit
        time.sleep(HEAD_SECONDS + 1.5)
        for s in [*idle, drip]:
            s.settimeout(5)
            assert s.recv(1) == b""  # closed by the server
            s.close()
        assert c.get("/api/status").status_code == 200


def test_dns_rebinding_is_refused_on_every_loopback_address(serve_home, poet_server):
    server = poet_server(serve_home, "--host", "127.0.0.2")
    port = server.url.rsplit(":", 1)[1].rstrip("/")
    assert server.process.poll() is None
    with httpx.Client(base_url=f"http://127.0.0.2:{port}", timeout=60) as c:
        assert c.get("/api/models").status_code == 200
        assert c.get("/api/models", headers={"Host": f"127.0.0.2:{port}"}).status_code == 200
        assert c.get("/api/models", headers={"Host": f"attacker.example:{port}"}).status_code == 400

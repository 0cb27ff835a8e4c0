"""Shared fixtures: private POET_* dirs for every test, and real loopback HTTP servers.

`gutenberg_server` serves shared/gutenberg (a slice of gutenberg.org's URL space) for the whole session;
`serve(directory)` starts one a test can stop, and `serve(script={path: [Reply, ...]})` one that misbehaves on cue:
fails, stalls, drips, cuts a body short with or without a Content-Length, or sends more than it says.
`serve_home` is a POET_HOME with a small trained model; `poet_server(home)` runs `poet serve` on one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"  # the repo sits next to shared/, here and in CI
GUTENBERG = SHARED / "gutenberg"
# The fixture's 18 English books by the Brontës, Jane Austen and Virginia Woolf (ids from its README).
ENGLISH_BOOKS = {1260, 768, 767, 969, 9182, 1028, 30486, 1342, 161, 158, 105, 121, 141, 946, 144, 1245, 5670, 29220}


@pytest.fixture(autouse=True)
def poet_dirs(tmp_path, monkeypatch) -> SimpleNamespace:
    """Every test gets its own POET_HOME and POET_CACHE and no inherited POET_GUTENBERG_URL."""
    dirs = SimpleNamespace(home=tmp_path / "poet-home", cache=tmp_path / "poet-cache")
    monkeypatch.setenv("POET_HOME", str(dirs.home))
    monkeypatch.setenv("POET_CACHE", str(dirs.cache))
    monkeypatch.delenv("POET_GUTENBERG_URL", raising=False)
    return dirs


@pytest.fixture(scope="session")
def gutenberg_dir() -> Path:
    assert (GUTENBERG / "cache/epub/feeds/pg_catalog.csv").is_file(), f"test data missing: {GUTENBERG}"
    return GUTENBERG


@dataclass
class Reply:
    """One scripted answer of a `serve(script=...)` server."""

    status: int = 200
    body: bytes = b""
    length: int | None = None  # the Content-Length sent; None means the body's, more means a truncated body
    stall: float = 0.0  # seconds to wait after the headers before sending the body
    drip: float = 0.0  # seconds between pieces of `piece` bytes (0: all at once)
    piece: int = 1
    repeat: int = 1  # the body is `body` this many times, sent without ever holding all of it
    send_length: bool = True  # False: no Content-Length, the body ends when the connection closes


class Server:
    """A real ThreadingHTTPServer on 127.0.0.1 (ephemeral port) in a background thread."""

    def __init__(self, handler, script: dict[str, list[Reply]] | None = None):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.script = script or {}
        self.httpd.requests = []  # (path, User-Agent) of every request, in order
        self.httpd.stopping = threading.Event()  # cuts scripted stalls short at shutdown
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.httpd.requests]

    @property
    def user_agents(self) -> list[str]:
        return [agent for _, agent in self.httpd.requests]

    def stop(self) -> None:
        if self._thread.is_alive():
            self.httpd.stopping.set()
            self.httpd.shutdown()
            self.httpd.server_close()


class _Files(SimpleHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("User-Agent", "")))
        super().do_GET()

    def log_message(self, *args):  # keep test output clean
        pass


class _Scripted(BaseHTTPRequestHandler):
    """Answers each path from its script: replies in turn, the last one repeating; unscripted paths get 404."""

    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("User-Agent", "")))
        replies = self.server.script.get(self.path) or [Reply(404, b"not found")]
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        self.send_response(reply.status)
        if reply.send_length:
            length = len(reply.body) * reply.repeat if reply.length is None else reply.length
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.server.stopping.wait(reply.stall)
        step = reply.piece if reply.drip else len(reply.body) or 1
        try:
            for _ in range(reply.repeat):
                for i in range(0, len(reply.body), step):
                    if self.server.stopping.is_set():
                        break
                    self.wfile.write(reply.body[i : i + step])
                    self.wfile.flush()
                    self.server.stopping.wait(reply.drip)
        except OSError:  # the client gave up (timeout, size cap) before the end
            pass
        self.close_connection = True

    def log_message(self, *args):
        pass


def _start(directory: Path | None = None, script: dict[str, list[Reply]] | None = None) -> Server:
    return Server(partial(_Files, directory=str(directory)) if directory else _Scripted, script)


@pytest.fixture(scope="session")
def gutenberg_server(gutenberg_dir):
    """shared/gutenberg over HTTP for the whole session (do not stop it; use `serve` for that)."""
    server = _start(gutenberg_dir)
    yield server
    server.stop()


@pytest.fixture
def serve():
    """Start servers for one test: `serve(directory)` or `serve(script={"/path": [Reply(500), Reply(200, b"..")]})`."""
    servers: list[Server] = []

    def start(directory: Path | None = None, script: dict[str, list[Reply]] | None = None) -> Server:
        servers.append(_start(directory, script))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


# --- `poet` as a real process -----------------------------------------------------------------------


@pytest.fixture
def env(tmp_path) -> dict:
    """The environment of a `poet` subprocess: private POET_* dirs under tmp_path."""
    e = dict(os.environ, POET_HOME=str(tmp_path / "home"), POET_CACHE=str(tmp_path / "cache"))
    e.pop("NO_COLOR", None)
    return e


def poet(*args, env, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "torch_poet", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw
    )


def history_len(model_dir: Path) -> int:
    path = model_dir / "history.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def wait_for_snapshot(model_dir: Path, timeout: float = 60) -> None:
    """Until the running process has written a new snapshot (so it is past start-up, training)."""
    before = history_len(model_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if history_len(model_dir) > before:
            return
        time.sleep(0.02)
    raise AssertionError("training wrote no snapshot")


# --- a tiny trained model (helpers.train_model) --------------------------------------------------------------------


@pytest.fixture(scope="session")
def home(tmp_path_factory) -> Path:
    """A POET_HOME holding the trained test model test/tiny (built once per session)."""
    from helpers import train_model

    where = tmp_path_factory.getbasetemp() / "trained-home"
    train_model(where)
    return where


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread, for modules that ask (`pytest.mark.usefixtures`): the test models are tiny, and on a
    shared machine idle OpenMP threads only spin."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def two_threads():
    """Two of PyTorch's threads, so that a CPU step trains by shards (train/shards.py) on any machine, one core
    included."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


# --- `poet serve` -------------------------------------------------------------------------------------------------

PRIDE_AND_PREJUDICE = "https://www.gutenberg.org/ebooks/1342"


@pytest.fixture(scope="module")
def serve_home(home, tmp_path_factory) -> Path:
    """A POET_HOME of the module's own holding test/tiny (helpers.train_model, trained once per session), its Austen
    text linked to Pride and Prejudice's page (a link is metadata: the attribution index does not depend on it)."""
    served = tmp_path_factory.mktemp("serve-home")
    shutil.copytree(home / "projects/test/tiny", served / "projects/test/tiny")
    config_path = served / "projects/test/tiny/config.json"
    config = json.loads(config_path.read_text())
    for text in config["library"]["texts"]:
        if text["key"] == "file:austen.txt":
            text["url"] = PRIDE_AND_PREJUDICE
    config_path.write_text(json.dumps(config))
    return served


@dataclass
class PoetServer:
    url: str  # http://127.0.0.1:PORT/
    process: subprocess.Popen
    env: dict  # its environment, for `poet` processes that share its dirs


@pytest.fixture(scope="module")
def poet_server(tmp_path_factory):
    """Start `poet serve --port 0` processes (one OpenMP thread: tiny models, shared cores): `poet_server(home, *args)`
    returns once it listens; all are stopped with Ctrl-C (SIGINT) at the end of the module."""
    started: list[subprocess.Popen] = []
    cache = tmp_path_factory.mktemp("serve-cache")

    def start(home: Path, *args: str) -> PoetServer:
        env = dict(os.environ, POET_HOME=str(home), POET_CACHE=str(cache), OMP_NUM_THREADS="1")
        env.pop("NO_COLOR", None)
        env.pop("POET_GUTENBERG_URL", None)
        process = poet("serve", "--port", "0", *args, env=env, text=True)
        started.append(process)
        line = process.stderr.readline()  # the first line names the URL, or is the warning before it, or an error
        while "serving" not in line and line.startswith("poet: warning"):
            line = process.stderr.readline()
        found = re.search(r"serving http://\S+?:(\d+)/", line)
        assert found, f"poet serve did not start: {line}{process.stderr.read() if process.poll() is not None else ''}"
        return PoetServer(f"http://127.0.0.1:{found.group(1)}/", process, env)

    yield start
    for process in started:
        process.send_signal(signal.SIGINT)
    for process in started:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

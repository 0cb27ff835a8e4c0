"""What the web app runs on: the models on disk loaded once and shared by all requests (`Models`, with the chat
sessions and the catalog), the worker threads that generate (`Workers`), and the `Guard` in front of it all."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..chat import Conversation
from ..disk import snapshots
from ..disk.config_json import path as config_path, read_json
from ..config import DEFAULT_MODEL, DEFAULT_PROJECT
from ..errors import PoetError
from ..disk.models import model_dirs
from ..paths import cache_root, data_root
from ..poet import Poet
from .schemas import ModelRef

MAX_CONVERSATIONS = 100  # chat sessions kept; the least recently used is forgotten first
MAX_BODY = 2 * 2**20  # bytes of a request body: MAX_TEXT characters as JSON escapes, with room to spare
MAX_FILE = 32 * 2**20  # bytes of a text file sent whole to be checked (POST /api/highlight/stream)
LARGE_BODIES = {"/api/highlight/stream": MAX_FILE}  # the routes that take more than MAX_BODY
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")  # as Host headers name them
NOT_FRAMED = "frame-ancestors 'none'"  # no other page may show this one in a frame (clickjacking)
ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s/:;,'\"()]+/)+([^\s/:;,'\"()]+)")
T = TypeVar("T")
log = logging.getLogger("uvicorn.error")


@dataclass
class Loaded:
    """A model ready to use: the shared Poet, the snapshot it came from, why quotes cannot be found (if so)."""

    poet: Poet
    stamp: int
    no_quotes: str | None


@dataclass
class ChatSession:
    """A chat of the web app: its model's name and its own Conversation with the shared Poet; one turn at a time."""

    key: tuple[str, str]
    conversation: Conversation
    lock: threading.Lock = field(default_factory=threading.Lock)


class Models:
    """The models on disk, looked up by name in `model_dirs` (a client's string never becomes a path), loaded
    on first use under a per-model lock and kept; plus the chat conversations and the catalog."""

    def __init__(self, root=None, cache=None, mirror=None, project: str | None = None, model: str | None = None):
        self.root, self.cache, self.mirror = data_root(root), cache, mirror
        self.default = (project, DEFAULT_MODEL if model is None else model) if project is not None else None
        self._lock = threading.Lock()  # held for dictionary updates only, never while loading anything
        self._catalog_lock = threading.Lock()  # a slow catalog download holds this one only
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._loaded: dict[tuple[str, str], Loaded] = {}
        self._chats: OrderedDict[str, ChatSession] = OrderedDict()
        self._catalog = None

    def default_name(self, names: list[tuple[str, str]]) -> tuple[str, str] | None:
        if self.default:
            return self.default
        fallback = (DEFAULT_PROJECT, DEFAULT_MODEL)
        return fallback if fallback in names else (names[0] if names else None)

    def find(self, project: str | None, model: str | None) -> tuple[tuple[str, str], Path]:
        """A model's name and directory (a glob: cheap enough for every request); 404 naming the models there are."""
        dirs = model_dirs(self.root)
        default = self.default_name(list(dirs)) or (None, None)
        key = (project, model or DEFAULT_MODEL) if project else (default[0], model or default[1])
        if key in dirs:
            return key, dirs[key]
        names = ", ".join(f"{p}/{m}" for p, m in dirs) or "none yet (train one with `poet train`)"
        raise HTTPException(404, f"unknown model {key[0]}/{key[1]}: choose one of {names}")

    def get(self, ref: ModelRef) -> tuple[tuple[str, str], Loaded]:
        key, path = self.find(ref.project, ref.model)
        stamp = snapshots.stamp(path)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            loaded = self._loaded.get(key)
            if loaded is None or loaded.stamp != stamp:
                poet = Poet.load(path, source=self.mirror, cache=self.cache)
                try:
                    poet.index()  # built (or read from disk) now, not on the first request that needs it
                    reason = None
                except PoetError as e:
                    reason = self.private_paths_hidden(f"quotes cannot be highlighted: {e}")
                loaded = self._loaded[key] = Loaded(poet, stamp, reason)
        return key, loaded

    def chat(self, session: str | None, key: tuple[str, str], poet: Poet) -> tuple[str, ChatSession]:
        """The chat session, or a new one (unknown session, or another model)."""
        with self._lock:
            chat = self._chats.get(session or "")
            if chat is None or chat.key != key:
                session, chat = secrets.token_urlsafe(16), ChatSession(key, Conversation(poet))
                self._chats[session] = chat
                while len(self._chats) > MAX_CONVERSATIONS:
                    self._chats.popitem(last=False)
            self._chats.move_to_end(session)
        return session, chat

    def private_paths_hidden(self, message: str) -> str:
        """A message for a client: paths in the data root and the cache relative to them, any other path by its
        file name alone (the server's file system is none of the client's business)."""
        for root, shown in ((self.root, ""), (cache_root(self.cache), "cache/")):
            message = message.replace(f"{root}{os.sep}", shown).replace(str(root), shown or ".")
        return ABSOLUTE_PATH.sub(r"\1", message)

    def forget(self, session: str) -> bool:
        with self._lock:
            return self._chats.pop(session, None) is not None

    def catalog(self):
        """The Gutenberg catalog, loaded once; a 503 naming the problem when it cannot be had."""
        from ..gutenberg import load_catalog

        with self._catalog_lock:
            if self._catalog is None:
                try:
                    self._catalog = load_catalog(self.mirror, self.cache)
                except PoetError as e:
                    raise HTTPException(503, self.private_paths_hidden(f"the catalog is not available: {e}")) from None
            return self._catalog

    def trained_on(self) -> dict[int, list[str]]:
        """Gutenberg book id -> the models whose library has it."""
        books: dict[int, list[str]] = {}
        for (project, model), path in model_dirs(self.root).items():
            for book in book_ids(path):
                books.setdefault(book, []).append(f"{project}/{model}")
        return books


def book_ids(model_dir: Path) -> list[int]:
    """The Gutenberg ids of a model's library, from its config.json (a model that has just begun may have only its
    library there; a broken one has none, and /api/models says what is wrong with it)."""
    try:
        config = read_json(config_path(model_dir))
    except PoetError:
        return []
    library = config.get("library") if isinstance(config, dict) else None
    texts = library.get("texts") if isinstance(library, dict) else None
    if not isinstance(texts, list):
        return []
    return [t["book_id"] for t in texts if isinstance(t, dict) and isinstance(t.get("book_id"), int)]


class Workers:
    """Generation in worker threads, relayed to the event loop as server-sent events or as one answer; counts
    the running and the stopped for /api/status."""

    def __init__(self, hide: Callable[[str], str], workers: int = 8):
        self.hide = hide  # a PoetError's message as a client may see it
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poet-generate")
        self._lock = threading.Lock()
        self.running = 0
        self.stopped = 0  # stopped early because their client went away

    def _count(self, running: int = 0, stopped: int = 0) -> None:
        with self._lock:
            self.running += running
            self.stopped += stopped

    async def relay(self, work: Callable[[Callable[[str, dict], None], threading.Event], None]) -> AsyncIterator[str]:
        """Run work(emit, stop) in a worker thread and pass on what it emits as server-sent events. When the
        client goes away, Starlette cancels this generator: `stop` is set and the worker ends at its next chunk."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def emit(event: str, data: dict | None) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, None if data is None else (event, data))

        def run() -> None:
            self._count(running=1)
            try:
                work(emit, stop)
                self._count(stopped=int(stop.is_set()))
            except PoetError as e:
                emit("error", {"error": self.hide(str(e))})
            except Exception:
                log.exception("generation failed")
                emit("error", {"error": "internal error: the server's log has the details"})
            finally:
                self._count(running=-1)
                if not stop.is_set():
                    emit("end", None)

        loop.run_in_executor(self.pool, run)
        try:
            while (item := await queue.get()) is not None:
                yield f"event: {item[0]}\ndata: {json.dumps(item[1], ensure_ascii=False)}\n\n"
        finally:
            stop.set()

    async def answer(self, request: Request, work: Callable[[threading.Event], T]) -> T:
        """work(stop) in a worker thread, its result the answer; when the client goes away first, `stop` is set
        (the work ends at its next chunk) and nobody is answered."""
        stop = threading.Event()

        def run() -> T:
            self._count(running=1)
            try:
                return work(stop)
            finally:
                self._count(running=-1, stopped=int(stop.is_set()))

        future = asyncio.get_running_loop().run_in_executor(self.pool, run)
        while not (await asyncio.wait({future}, timeout=0.1))[0]:
            if await request.is_disconnected():
                stop.set()
                raise HTTPException(499, "the client closed the request")
        return future.result()


class Guard:
    """Pure ASGI middleware: refuses a request body over MAX_BODY (LARGE_BODIES: a route's own limit) before it is
    in memory (by its Content-Length, else as it streams in: then the app sees the client leave and its own answer
    is dropped), and marks every response as not to be framed by other pages."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", NOT_FRAMED)
                headers.setdefault("x-frame-options", "DENY")
            await send(message)

        most = LARGE_BODIES.get(scope["path"], MAX_BODY)
        too_large = JSONResponse({"error": f"the request body is over {most:,} bytes"}, 413)
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > most):
            return await too_large(scope, receive, marked)
        received, refused = 0, False

        async def limited() -> Message:
            nonlocal received, refused
            message = await receive()
            received += len(message.get("body", b""))
            if received > most and not refused:
                refused = True
                await too_large(scope, receive, marked)
            return {"type": "http.disconnect"} if refused else message

        async def unless_refused(message: Message) -> None:
            if not refused:
                await marked(message)

        await self.app(scope, limited, unless_refused)


def allowed_hosts(host: str) -> Sequence[str]:
    """The Host headers a server listening on `host` accepts: on a loopback address only loopback names (another
    web site cannot take them by DNS rebinding); on any other address any name, since it may be reached by names
    it cannot know."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return ("*",)
    return tuple(dict.fromkeys(LOOPBACK_HOSTS + (f"[{host}]" if ":" in host else host,)))

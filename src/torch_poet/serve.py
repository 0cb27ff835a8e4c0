"""`poet serve`: a local web app and JSON API over the Python API (`Poet`, `list_models`, the catalog).

The page (static/) writes and chats with a model, its quotes highlighted while the text streams in, shows a
training dashboard and searches the catalog; it uses the API under /api/ (described at /openapi.json), which
scripts can use too. Each model is loaded once and shared by all requests (reloaded when a newer snapshot
lands); generation runs in worker threads, so tabs and the dashboard never wait for each other, and a closed
tab stops its generation, and a client that leaves stops the work done for it. There is no authentication: the
server binds to 127.0.0.1 unless told otherwise, and then answers only requests addressed to a loopback name (so
that no web site can reach it by DNS rebinding) and refuses to be framed by other pages.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import sys
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__
from .attribution import Span
from .checkpoint import read_config, read_json, snapshot_path
from .errors import PoetError
from .models import list_models, model_dirs, model_row
from .paths import cache_root, data_root
from .plot import read_history
from .poet import Poet
from .render import HTML_BACKGROUNDS, highlight_data
from .sample import Stream

STATIC = Path(__file__).with_name("static")
MAX_PROMPT = 2_000  # characters of a prompt or chat turn
MAX_LENGTH = 5_000  # characters generated per request
MAX_TEXT = 100_000  # characters of a text sent to be highlighted
MAX_CONVERSATIONS = 100  # chat sessions kept; the least recently used is forgotten first
MAX_BODY = 2 * 2**20  # bytes of a request body: MAX_TEXT characters as JSON escapes, with room to spare
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")  # as Host headers name them
NOT_FRAMED = "frame-ancestors 'none'"  # no other page may show this one in a frame (clickjacking)
ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s/:;,'\"()]+/)+([^\s/:;,'\"()]+)")
T = TypeVar("T")
log = logging.getLogger("uvicorn.error")
Words = Annotated[list[str], Query(max_length=20)]  # a repeatable search field


# --- requests -------------------------------------------------------------------------------------------------


class ModelRef(BaseModel):
    project: str | None = Field(None, max_length=200, description="default: the server's model (GET /api/models)")
    model: str | None = Field(None, max_length=200)
    min_quote: int | None = Field(
        None, ge=1, le=1000, description="shortest quote; default: the length unseen text reaches by chance in the library"
    )
    phrases: bool = Field(False, description="also mark shorter matches (common phrases)")


class Sampling(ModelRef):
    temperature: float = Field(0.8, ge=0, le=5, description="0 = greedy")
    top_k: int = Field(0, ge=0, description="pick among the k likeliest characters; 0 = all")
    top_p: float = Field(1.0, gt=0, le=1, description="pick among the likeliest characters holding probability p")
    seed: int | None = Field(None, ge=0, lt=2**31, description="default: a random one, returned")

    def options(self) -> dict:
        """As Poet's methods take them (None: no top-k / top-p)."""
        top_p = self.top_p if self.top_p < 1 else None
        return {"temperature": self.temperature, "top_k": self.top_k or None, "top_p": top_p}


class GenerateRequest(Sampling):
    prompt: str = Field(". ", min_length=1, max_length=MAX_PROMPT, description="text the model continues")
    length: int = Field(700, ge=1, le=MAX_LENGTH, description="characters to generate")
    skip_unknown: bool = Field(False, description="drop prompt characters the model never saw instead of refusing")
    highlight: bool = Field(True, description="find the quotes (false: the text only)")


class ChatRequest(Sampling):
    text: str = Field("", max_length=MAX_PROMPT, description="your turn; empty lets the model go on")
    session: str | None = Field(None, max_length=64, description="from the previous answer; none starts a conversation")
    sentences: int = Field(3, ge=1, le=20, description="sentences per answer at most")
    temperature: float = Field(0.7, ge=0, le=5, description="0 = greedy")


class ResetRequest(BaseModel):
    session: str = Field(..., max_length=64)


class HighlightRequest(ModelRef):
    text: str = Field(..., max_length=MAX_TEXT)


# --- models, shared by all requests -----------------------------------------------------------------------------


@dataclass
class Loaded:
    """A model ready to use: the shared Poet, the snapshot it came from, why quotes cannot be found (if so)."""

    poet: Poet
    stamp: int
    no_quotes: str | None


@dataclass
class Conversation:
    key: tuple[str, str]
    poet: Poet  # a copy of the shared Poet with its own dialog state (weights and index are shared)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _stamp(model_dir: Path) -> int:
    """When the snapshot that Poet.load picks was written (0: none yet)."""
    for which in ("best", "last"):
        path = snapshot_path(model_dir, which)
        if path.exists():
            return path.stat().st_mtime_ns
    return 0


class Models:
    """The models on disk, looked up by name in `model_dirs` (a client's string never becomes a path), loaded
    on first use under a per-model lock and kept; plus the chat conversations and the catalog."""

    def __init__(self, root=None, cache=None, mirror=None, project: str | None = None, model: str | None = None):
        self.root, self.cache, self.mirror = data_root(root), cache, mirror
        self.default = (project, "default" if model is None else model) if project is not None else None
        self._lock = threading.Lock()  # held for dictionary updates only, never while loading anything
        self._catalog_lock = threading.Lock()  # a slow catalog download holds this one only
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._loaded: dict[tuple[str, str], Loaded] = {}
        self._chats: OrderedDict[str, Conversation] = OrderedDict()
        self._catalog = None

    def default_name(self, names: list[tuple[str, str]]) -> tuple[str, str] | None:
        if self.default:
            return self.default
        return ("women_writers", "default") if ("women_writers", "default") in names else (names[0] if names else None)

    def find(self, project: str | None, model: str | None) -> tuple[tuple[str, str], Path]:
        """A model's name and directory (a glob: cheap enough for every request); 404 naming the models there are."""
        dirs = model_dirs(self.root)
        default = self.default_name(list(dirs)) or (None, None)
        key = (project, model or "default") if project else (default[0], model or default[1])
        if key in dirs:
            return key, dirs[key]
        names = ", ".join(f"{p}/{m}" for p, m in dirs) or "none yet (train one with `poet train`)"
        raise HTTPException(404, f"unknown model {key[0]}/{key[1]}: choose one of {names}")

    def get(self, ref: ModelRef) -> tuple[tuple[str, str], Loaded]:
        key, path = self.find(ref.project, ref.model)
        stamp = _stamp(path)
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

    def conversation(self, session: str | None, key: tuple[str, str], poet: Poet) -> tuple[str, Conversation]:
        """The chat session, or a new one (unknown session, or another model)."""
        with self._lock:
            chat = self._chats.get(session or "")
            if chat is None or chat.key != key:
                session, chat = secrets.token_urlsafe(16), Conversation(key, copy.copy(poet))
                chat.poet.reset()
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
        from .gutenberg import load_catalog

        with self._catalog_lock:
            if self._catalog is None:
                self._catalog = load_catalog(self.mirror, self.cache)
            return self._catalog

    def trained_on(self) -> dict[int, list[str]]:
        """Gutenberg book id -> the models whose library has it."""
        books: dict[int, list[str]] = {}
        for (project, model), path in model_dirs(self.root).items():
            try:
                config = read_json(path / "config.json")  # a model that has just begun may have only its library
            except PoetError:
                continue  # a broken model is listed as such by /api/models
            library = config.get("library") if isinstance(config, dict) else None
            texts = library.get("texts") if isinstance(library, dict) else None
            for t in texts if isinstance(texts, list) else []:
                if isinstance(t, dict) and isinstance(t.get("book_id"), int):
                    books.setdefault(t["book_id"], []).append(f"{project}/{model}")
        return books


class Streams:
    """Generation in worker threads, relayed to the event loop as server-sent events; counts for /api/status."""

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


def quotes(loaded: Loaded, text: str, req: ModelRef) -> dict:
    if loaded.no_quotes:
        return {"summary": None, "spans": None, "warning": loaded.no_quotes}
    index = loaded.poet.index()
    return highlight_data(index.segment(text, req.min_quote, req.phrases), index.rule(req.min_quote))


def public(row: dict, models: Models) -> dict:
    """A listing row without its path on disk (nor any other)."""
    return {k: models.private_paths_hidden(v) if k == "broken" and v else v for k, v in row.items() if k != "path"}


def palette_css() -> str:
    """The quote colours of render.HTML_BACKGROUNDS as CSS: classes q0.., light and dark, following the page's theme."""
    light = ";".join(f"--q{i}:{pair[0]}" for i, pair in enumerate(HTML_BACKGROUNDS))
    dark = ";".join(f"--q{i}:{pair[1]}" for i, pair in enumerate(HTML_BACKGROUNDS))
    classes = "".join(f".q{i}{{background:var(--q{i})}}\n" for i in range(len(HTML_BACKGROUNDS)))
    return (f":root{{{light}}}\n@media (prefers-color-scheme:dark){{:root:not([data-theme=light]){{{dark}}}}}\n"
            f":root[data-theme=dark]{{{dark}}}\n{classes}")  # fmt: skip


# --- the app --------------------------------------------------------------------------------------------------------


class Guard:
    """Pure ASGI middleware: refuses a request body over MAX_BODY before it is in memory (by its Content-Length,
    else as it streams in: then the app sees the client leave and its own answer is dropped), and marks every
    response as not to be framed by other pages."""

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

        too_large = JSONResponse({"error": f"the request body is over {MAX_BODY:,} bytes"}, 413)
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return await too_large(scope, receive, marked)
        received, refused = 0, False

        async def limited() -> Message:
            nonlocal received, refused
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY and not refused:
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



def create_app(
    root=None, cache=None, mirror=None, project=None, model=None, hosts: Sequence[str] = LOOPBACK_HOSTS
) -> FastAPI:
    """The ASGI app. hosts: the Host headers accepted ("*" for any), which keeps other web sites from reaching a
    loopback server through DNS rebinding."""
    models = Models(root, cache, mirror, project, model)
    streams = Streams(models.private_paths_hidden)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        streams.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="torch-poet", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Generate text with character-level models, see the verbatim quotes of their books, "
                  "follow training, search the catalog.")  # fmt: skip
    app.state.models = models
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))
    app.add_middleware(Guard)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path")) or "request"
        got = repr(e.get("input"))
        detail = f" (got {got})" if e["type"] != "missing" and len(got) <= 40 else ""
        return JSONResponse({"error": f"{where}: {e['msg']}{detail}"}, 422)

    @app.exception_handler(PoetError)
    async def poet_error(request: Request, exc: PoetError) -> JSONResponse:
        return JSONResponse({"error": models.private_paths_hidden(str(exc))}, 400)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        policy = f"default-src 'self'; {NOT_FRAMED}"  # nothing from elsewhere loads, and no page frames it
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": policy})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/palette.css", include_in_schema=False)
    def palette() -> Response:
        return Response(palette_css(), media_type="text/css")

    @app.get("/api/status")
    def status() -> dict:
        """The server: its version, the streams running now and those stopped early (their client left)."""
        return {"version": __version__, "generating": streams.running, "stopped": streams.stopped}

    @app.get("/api/models")
    def all_models() -> dict:
        """Every model on disk: step, best validation bpc, size, last update, whether it is training now."""
        rows = list_models(models.root)
        default = models.default_name([(r["project"], r["model"]) for r in rows])
        return {"default": "/".join(default) if default else None, "models": [public(r, models) for r in rows]}

    @app.get("/api/models/{project}/{model}")
    def one_model(project: str, model: str) -> dict:
        """A model's shape, its library, the latest samples written during training and its speed."""
        _, where = models.find(project, model)
        row = model_row(where)
        try:
            config = read_config(where)
        except PoetError:
            config = {}  # the row says what is broken
        keep = ("key", "title", "author", "book_id", "url", "chars")
        library = [{k: t.get(k) for k in keep} for t in config.get("library", {}).get("texts", [])]
        samples = sorted((where / "samples").glob("step*.txt"))
        latest = None
        if samples:
            latest = {"step": int(samples[-1].stem[4:]), "text": samples[-1].read_text(encoding="utf-8")}
        history = read_history(where)
        speed = history[-1].get("chars_per_sec") if history else None
        return {**public(row, models), "shape": config.get("model"), "library": library, "samples": latest,
                "chars_per_sec": speed}  # fmt: skip

    @app.get("/api/models/{project}/{model}/history")
    def history(project: str, model: str) -> dict:
        """history.jsonl: one row per snapshot (time, step, train/validation loss, val_bpc, chars_per_sec...)."""
        return {"history": read_history(models.find(project, model)[1])}

    def start(req: GenerateRequest) -> tuple[Loaded, Stream]:
        _, loaded = models.get(req)
        return loaded, loaded.poet.stream_samples(req.prompt, req.length, **req.options(), seed=req.seed,
                                                  skip_unknown=req.skip_unknown)  # fmt: skip

    @app.post("/api/generate")
    async def generate(req: GenerateRequest, request: Request) -> dict:
        """Generate all at once: the text, its seed, its quotes."""

        def work(stop: threading.Event) -> dict | None:
            loaded, s = start(req)
            for _ in s:
                if stop.is_set():
                    return None
            found = quotes(loaded, s.texts[0], req) if req.highlight else {}
            return {"seed": s.seed, "text": s.texts[0], **found}

        return await streams.answer(request, work)

    @app.post("/api/stream", response_class=StreamingResponse,
              responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}})  # fmt: skip
    async def stream(req: GenerateRequest) -> StreamingResponse:
        """Generate as server-sent events: `start` {seed, warning}, `text` {text} per chunk, `spans` {spans,
        summary} as quotes become final, then `done` {text}, or `error` {error}."""
        loaded, s = await asyncio.get_running_loop().run_in_executor(streams.pool, start, req)  # bad input: a 4xx
        live = loaded.poet.live(req.min_quote, req.phrases) if req.highlight and not loaded.no_quotes else None
        everything: list[Span] = []

        def spans(new: list[Span]) -> dict:
            everything.extend(new)
            return highlight_data(new, live.rule, everything)

        def work(emit: Callable[[str, dict], None], stop: threading.Event) -> None:
            emit("start", {"seed": s.seed, "warning": loaded.no_quotes if req.highlight else None})
            for chunk in s:
                if stop.is_set():
                    return
                emit("text", {"text": chunk[0]})
                if live and (new := live.feed(chunk[0])):
                    emit("spans", spans(new))
            if live:
                emit("spans", spans(live.finish()))
            emit("done", {"text": s.texts[0]})

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(streams.relay(work), media_type="text/event-stream", headers=headers)

    @app.post("/api/chat")
    async def chat(req: ChatRequest, request: Request) -> dict:
        """One turn of a dialog: the answer (up to `sentences` sentences) and its quotes. Send the returned
        session with the next turn to continue the conversation."""

        def work(stop: threading.Event) -> dict:
            key, loaded = models.get(req)
            session, conversation = models.conversation(req.session, key, loaded.poet)
            seed = secrets.randbelow(2**31) if req.seed is None else req.seed
            with conversation.lock:
                answer = conversation.poet.chat_turn(req.text, req.sentences, **req.options(), seed=seed, stop=stop)
            return {"session": session, "seed": seed, "answer": answer, **quotes(loaded, answer, req)}

        return await streams.answer(request, work)

    @app.post("/api/chat/reset")
    def reset(req: ResetRequest) -> dict:
        """Forget a conversation: the next turn starts afresh."""
        return {"forgotten": models.forget(req.session)}

    @app.post("/api/highlight")
    def highlight(req: HighlightRequest) -> dict:
        """The verbatim quotes of any text in a model's library, with their sources."""
        _, loaded = models.get(req)
        if loaded.no_quotes:
            raise HTTPException(409, loaded.no_quotes)
        return quotes(loaded, req.text, req)

    @app.get("/api/search")
    def search(author: Words = [], title: Words = [], language: Words = [], subject: Words = [],
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:  # fmt: skip
        """Search the Gutenberg catalog (words of each field must all occur; repeated fields are OR'ed); each
        book says which models on disk were trained on it."""
        from .gutenberg import search as find

        if not any((author, title, language, subject)):
            raise HTTPException(400, "empty search: give an author, title, language or subject")
        try:
            catalog = models.catalog()
        except PoetError as e:
            raise HTTPException(503, models.private_paths_hidden(f"the catalog is not available: {e}")) from None
        books = find(catalog, author=author, title=title, language=language, subject=subject)
        trained = models.trained_on()
        rows = [{"id": b.id, "title": b.title, "author": b.author, "language": list(b.language), "url": b.url,
                 "models": trained.get(b.id, [])} for b in books[:limit]]  # fmt: skip
        return {"count": len(books), "books": rows}

    return app


def serve(
    host: str = "127.0.0.1", port: int = 8000, root=None, cache=None, mirror=None, project=None, model=None
) -> None:
    """Run the app until Ctrl-C. Binds the socket first, so a busy port is a one-line error."""
    import torch
    import uvicorn

    # One torch thread per generation: tabs generate in parallel on the cores, while OpenMP teams in several threads
    # at once run ~3x slower than one thread (BENCHMARKS.md, "Web app").
    torch.set_num_threads(1)

    if model is not None and project is None:
        project = "women_writers"  # as for every other command
    hosts = allowed_hosts(host)
    app = create_app(root, cache, mirror, project, model, hosts=hosts)
    if project is not None:
        try:
            app.state.models.find(project, model)
        except HTTPException as e:
            raise PoetError(f"{e.detail} (--project/--model; `poet models` lists them)") from None
    if hosts == ("*",):
        print(f"poet: warning: serving on {host}: the app has no authentication; anyone who can reach this port "
              "can use it and its models", file=sys.stderr, flush=True)  # fmt: skip
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)  # proto TCP: asyncio turns Nagle off (40 ms stalls) only then
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except (OSError, UnicodeError) as e:
        raise PoetError(f"cannot listen on {host}:{port} ({getattr(e, 'strerror', None) or e}): "
                        "choose another --port or --host") from None  # fmt: skip
    shown = f"[{host}]" if ":" in host else host
    print(f"poet: serving http://{shown}:{sock.getsockname()[1]}/ (Ctrl-C to stop)", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])

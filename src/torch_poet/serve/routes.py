"""The web app's routes: the page, and the JSON API under /api/ (described at /openapi.json) over `Poet`,
`list_models` and the catalog. Each route parses its request, calls the Python API (in a worker thread where it
generates) and answers."""

from __future__ import annotations

import asyncio
import pathlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .. import __version__
from ..attribution import Rule, Span, segment_stream
from ..config import SampleConfig
from ..disk import config_json
from ..disk import history as history_jsonl
from ..disk import samples
from ..disk.models import list_models, model_row
from ..errors import PoetError, UnknownCharacters
from ..render import HTML_BACKGROUNDS, highlight_data
from .runtime import LOOPBACK_HOSTS, MAX_FILE, NOT_FRAMED, Guard, Loaded, Models, Workers, book_ids
from .schemas import (ChatRequest, GenerateRequest, HighlightRequest, ModelRef, ResetRequest, StopRequest,
                      TrainRequest, sampling)
from .training import Trainers

FILE_CHUNK = 1 << 16  # characters of a checked file per `text` event
STATIC = pathlib.Path(__file__).parent.parent / "static"
Words = Annotated[list[str], Query(max_length=20)]  # a repeatable search field


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


def highlighted_events(workers: Workers, pairs: Iterator[tuple[str, list[Span]]], rule: Rule | None, start: dict,
                       echo: bool = False) -> StreamingResponse:  # fmt: skip
    """A text as it grows, with its quotes, as server-sent events: `start`, then `text` per chunk and `spans` as
    quotes become final, then `done` {chars} (and the whole text, if `echo`)."""
    everything: list[Span] = []

    def work(emit: Callable[[str, dict], None], stop: threading.Event) -> None:
        emit("start", start)
        text = []
        for chunk, new in pairs:
            if stop.is_set():
                return
            if chunk:
                text.append(chunk)
                emit("text", {"text": chunk})
            if rule and (new or not chunk):  # the last pair ("", the rest) always: its summary is the text's
                everything.extend(new)
                emit("spans", highlight_data(new, rule, everything))
        whole = "".join(text)
        emit("done", {"chars": len(whole), **({"text": whole} if echo else {})})

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(workers.relay(work), media_type="text/event-stream", headers=headers)


# --- the app --------------------------------------------------------------------------------------------------------


def create_app(
    root=None, cache=None, mirror=None, project=None, model=None, hosts: Sequence[str] = LOOPBACK_HOSTS,
    training_off: str | None = None,
) -> FastAPI:
    """The ASGI app. hosts: the Host headers accepted ("*" for any), which keeps other web sites from reaching a
    loopback server through DNS rebinding; training_off: why the page may not start and stop training (None: it
    may)."""
    models = Models(root, cache, mirror, project, model)
    workers = Workers(models.private_paths_hidden)
    trainers = Trainers(models, training_off)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        workers.pool.shutdown(wait=False, cancel_futures=True)
        trainers.shutdown()

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

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        """Even a bug answers the documented JSON error (and is logged with its traceback)."""
        return JSONResponse({"error": f"internal error ({type(exc).__name__}): please report it"}, 500)

    @app.exception_handler(PoetError)
    async def poet_error(request: Request, exc: PoetError) -> JSONResponse:
        if isinstance(exc, UnknownCharacters):  # the page's words: it has a box for it (skip_unknown in the API)
            exc = exc.said("tick “drop unknown characters” (skip_unknown)")
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
        """The server: its version, the streams running now and those stopped early (their client left), the
        largest file /api/highlight/stream takes."""
        return {"version": __version__, "generating": workers.running, "stopped": workers.stopped, "max_file": MAX_FILE}

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
            config = config_json.read(where)
        except PoetError:
            config = {}  # the row says what is broken
        keep = ("key", "title", "author", "book_id", "url", "chars")
        library = [{k: t.get(k) for k in keep} for t in config.get("library", {}).get("texts", [])]
        rows = history_jsonl.read(where)
        speed = rows[-1].get("chars_per_sec") if rows else None
        return {**public(row, models), "shape": config.get("model"), "library": library,
                "samples": samples.latest(where), "sample_steps": samples.steps(where), "chars_per_sec": speed,
                **{k: config.get("train", {}).get(k) for k in ("minutes", "sample_every", "sample_below")}}  # fmt: skip

    @app.get("/api/models/{project}/{model}/history")
    def history(project: str, model: str) -> dict:
        """history.jsonl: one row per snapshot (time, step, train/validation loss, val_bpc, chars_per_sec...)."""
        return {"history": history_jsonl.read(models.find(project, model)[1])}

    @app.get("/api/models/{project}/{model}/samples/{step}")
    def samples_at(project: str, model: str, step: Annotated[int, Path(ge=0)]) -> dict:
        """The samples written at a step (`sample_steps` lists them): each temperature's text under its head."""
        found = samples.read(models.find(project, model)[1], step)
        if found is None:
            raise HTTPException(404, f"no samples at step {step}: GET /api/models/{project}/{model} lists them")
        return found

    @app.post("/api/generate")
    async def generate(req: GenerateRequest, request: Request) -> dict:
        """Generate all at once: the text, its seed, its quotes."""

        def work(stop: threading.Event) -> dict | None:
            _, loaded = models.get(req)
            s = loaded.poet.stream(req.prompt, sampling(req), skip_unknown=req.skip_unknown)
            for _ in s:
                if stop.is_set():
                    return None
            found = quotes(loaded, s.texts[0], req) if req.highlight else {}
            return {"seed": s.seed, "text": s.texts[0], **found}

        return await workers.answer(request, work)

    @app.post("/api/stream", response_class=StreamingResponse,
              responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}})  # fmt: skip
    async def stream(req: GenerateRequest) -> StreamingResponse:
        """Generate as server-sent events: `start` {seed, warning}, `text` {text} per chunk, `spans` {spans,
        summary} as quotes become final, then `done` {chars, text}, or `error` {error}."""

        def start() -> tuple[Loaded, SampleConfig, Rule | None, Iterator[tuple[str, list[Span]]]]:
            _, loaded = models.get(req)
            config, quoting = sampling(req), req.highlight and not loaded.no_quotes
            pairs = loaded.poet.stream_highlighted(req.prompt, config, req.min_quote, req.phrases,
                                                   skip_unknown=req.skip_unknown, quotes=quoting)  # fmt: skip
            return loaded, config, loaded.poet.index().rule(req.min_quote) if quoting else None, pairs

        loaded, config, rule, pairs = await asyncio.get_running_loop().run_in_executor(workers.pool, start)  # bad input: 4xx
        start_event = {"seed": config.seed, "warning": loaded.no_quotes if req.highlight else None}
        return highlighted_events(workers, pairs, rule, start_event, echo=True)

    @app.post("/api/highlight/stream", response_class=StreamingResponse, openapi_extra={
        "requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}, "required": True}},
        responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}})  # fmt: skip
    async def highlight_stream(request: Request, ref: Annotated[ModelRef, Query()]) -> StreamingResponse:
        """The quotes of a text file of any size up to MAX_FILE bytes, sent as the body (UTF-8 text), as server-sent
        events while it is checked: `start` {chars}, `text` {text} per chunk, `spans` {spans, summary} as quotes
        become final, then `done` {chars}, or `error` {error}."""
        try:
            text = (await request.body()).decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError:
            raise HTTPException(400, "the file is not UTF-8 text: save it as UTF-8, or pick a text file") from None

        def start() -> tuple[Rule, Iterator[tuple[str, list[Span]]]]:
            _, loaded = models.get(ref)
            if loaded.no_quotes:
                raise HTTPException(409, loaded.no_quotes)
            index = loaded.poet.index()
            pieces = (text[i : i + FILE_CHUNK] for i in range(0, len(text), FILE_CHUNK))
            return index.rule(ref.min_quote), segment_stream(pieces, index.segmenter(ref.min_quote, ref.phrases))

        rule, pairs = await asyncio.get_running_loop().run_in_executor(workers.pool, start)
        return highlighted_events(workers, pairs, rule, {"chars": len(text)})

    @app.post("/api/chat")
    async def chat(req: ChatRequest, request: Request) -> dict:
        """One turn of a dialog: the answer (up to `sentences` sentences) and its quotes. Send the returned
        session with the next turn to continue the conversation."""

        def work(stop: threading.Event) -> dict:
            key, loaded = models.get(req)
            session, chat = models.chat(req.session, key, loaded.poet)
            config = sampling(req)
            with chat.lock:
                answer = chat.conversation.turn(req.text, req.sentences, config, stop=stop)
            return {"session": session, "seed": config.seed, "answer": answer, **quotes(loaded, answer, req)}

        return await workers.answer(request, work)

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

    @app.post("/api/train")
    async def train(req: TrainRequest) -> dict:
        """Start `poet train` on a model: a new one on a library (a search and Gutenberg ids), or the model resumed.
        Checked first against the model on disk and the catalog. Its progress: /api/models, its output: /api/train."""
        return await asyncio.get_running_loop().run_in_executor(workers.pool, trainers.start, req)

    @app.post("/api/train/stop")
    def stop_training(req: StopRequest) -> dict:
        """Stop a model's training as Ctrl-C would: it writes a snapshot, then ends."""
        return trainers.stop((req.project, req.model))

    @app.get("/api/train")
    def runs() -> dict:
        """Whether the page may train, and the runs this server started: running or how they ended, their output."""
        return {"allowed": training_off is None, "why": training_off, "runs": trainers.runs()}

    @app.get("/api/search")
    def search(author: Words = [], title: Words = [], language: Words = [], subject: Words = [],
               model: Annotated[str | None, Query(max_length=201, description="a model's books: project/model")] = None,
               offset: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:  # fmt: skip
        """Search the Gutenberg catalog (words of each field must all occur; repeated fields are OR'ed; `model`:
        among that model's books), `limit` books from `offset` on; each book says which models on disk were trained
        on it."""
        from ..gutenberg import search as find

        if not any((author, title, language, subject, model)):
            raise HTTPException(400, "empty search: give an author, title, language or subject, or a model")
        ids = book_ids(models.find(*model.partition("/")[::2])[1]) if model else []
        if model and not ids:
            return {"count": 0, "offset": offset, "books": []}  # none of its texts is a Gutenberg book
        books = find(models.catalog(), author=author, title=title, language=language, subject=subject, ids=ids)
        trained = models.trained_on()
        rows = [{"id": b.id, "title": b.title, "author": b.author, "language": list(b.language), "url": b.url,
                 "models": trained.get(b.id, [])} for b in books[offset : offset + limit]]  # fmt: skip
        return {"count": len(books), "offset": offset, "books": rows}

    return app

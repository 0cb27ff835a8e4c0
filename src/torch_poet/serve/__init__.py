"""`poet serve`: a local web app and JSON API over the Python API (`Poet`, `list_models`, the catalog).

The page (static/) writes and chats with a model, its quotes highlighted while the text streams in, checks any
text or file for quotes, searches the catalog, starts, follows, compares and stops training; it uses the API under
/api/ (described at /openapi.json), which scripts can use too. Each model is loaded once and shared by all
requests (reloaded when a newer snapshot lands); generation runs in worker threads, so tabs and the dashboard never wait for each other, and a closed
tab stops its generation, and a client that leaves stops the work done for it. There is no authentication: the
server binds to 127.0.0.1 unless told otherwise, and then answers only requests addressed to a loopback name (so
that no web site can reach it by DNS rebinding) and refuses to be framed by other pages. Elsewhere the page may
start training processes only when the server is told it may (allow_training).

Connections have deadlines, so that idle or dripping clients cannot pile up: a request's head must arrive
within HEAD_SECONDS of the connection (or of the previous answer), an idle kept-alive connection is closed after
KEEP_ALIVE_SECONDS, and past MAX_CONNECTIONS open connections new requests get a 503.

schemas.py holds the requests, runtime.py the models, the worker threads and the guard, training.py the training
runs started from the page, routes.py the app.
"""

from __future__ import annotations

import asyncio
import socket

from fastapi import HTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..config import DEFAULT_PROJECT
from ..errors import PoetError, say
from .routes import create_app
from .runtime import MAX_BODY, MAX_FILE, allowed_hosts
from .schemas import MAX_LENGTH, MAX_PROMPT, MAX_TEXT

__all__ = ["HEAD_SECONDS", "KEEP_ALIVE_SECONDS", "MAX_BODY", "MAX_CONNECTIONS", "MAX_FILE", "MAX_LENGTH",
           "MAX_PROMPT", "MAX_TEXT", "create_app", "serve"]  # fmt: skip

HEAD_SECONDS = 10.0  # for a request's line and headers to arrive; a slower client is cut off
KEEP_ALIVE_SECONDS = 5.0  # an idle connection between requests is closed after this
MAX_CONNECTIONS = 200  # open connections at most (a page holds a few); past it, 503


class Deadlines(H11Protocol):
    """uvicorn's HTTP/1.1 connection with a deadline for each request's head: uvicorn has none, so a client
    that connects and sends nothing (or a header a byte at a time) would hold its connection for good."""

    head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for_head()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's head arrived
            self._stop_waiting()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        idle = self.cycle is None or self.cycle.response_complete  # else a pipelined request is under way
        if idle and not self.transport.is_closing():
            self._wait_for_head()  # the next request on this kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _wait_for_head(self) -> None:
        self._stop_waiting()
        self.head_timer = self.loop.call_later(HEAD_SECONDS, self.transport.close)

    def _stop_waiting(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None


def serve(
    host: str = "127.0.0.1", port: int = 8000, root=None, cache=None, mirror=None, project=None, model=None,
    allow_training: bool = False,
) -> None:
    """Run the app until Ctrl-C. Binds the socket first, so a busy port is a one-line error. Off loopback the
    page may start training (processes on this machine) only with allow_training."""
    import torch
    import uvicorn

    # One torch thread per generation: tabs generate in parallel on the cores, while OpenMP teams in several threads
    # at once run slower than one thread each (BENCHMARKS.md, "Web app").
    torch.set_num_threads(1)

    if model is not None and project is None:
        project = DEFAULT_PROJECT  # as for every other command
    hosts = allowed_hosts(host)
    off = None if hosts != ("*",) or allow_training else (
        "training from the page is off on a server other machines can reach: its owner can allow it "
        "(poet serve --allow-training)")
    app = create_app(root, cache, mirror, project, model, hosts=hosts, training_off=off)
    if project is not None:
        try:
            app.state.models.find(project, model)
        except HTTPException as e:
            raise PoetError(f"{e.detail} (--project/--model; `poet models` lists them)") from None
    if hosts == ("*",):
        say(f"warning: serving on {host}: the app has no authentication; anyone who can reach this port can use it "
            "and its models" + (", and train models on this machine" if allow_training else ""))
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
    say(f"serving http://{shown}:{sock.getsockname()[1]}/ (Ctrl-C to stop)")
    config = uvicorn.Config(app, http=Deadlines, log_level="warning", access_log=False, timeout_graceful_shutdown=2,
                            timeout_keep_alive=KEEP_ALIVE_SECONDS, limit_concurrency=MAX_CONNECTIONS)  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])

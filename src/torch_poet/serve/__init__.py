"""`poet serve`: a local web app and JSON API over the Python API (`Poet`, `list_models`, the catalog).

The page (static/) writes and chats with a model, its quotes highlighted while the text streams in, shows a
training dashboard and searches the catalog; it uses the API under /api/ (described at /openapi.json), which
scripts can use too. Each model is loaded once and shared by all requests (reloaded when a newer snapshot
lands); generation runs in worker threads, so tabs and the dashboard never wait for each other, and a closed
tab stops its generation, and a client that leaves stops the work done for it. There is no authentication: the
server binds to 127.0.0.1 unless told otherwise, and then answers only requests addressed to a loopback name (so
that no web site can reach it by DNS rebinding) and refuses to be framed by other pages.

schemas.py holds the requests, runtime.py the models, the worker threads and the guard, routes.py the app.
"""

from __future__ import annotations

import socket
import sys

from fastapi import HTTPException

from ..config import DEFAULT_PROJECT
from ..errors import PoetError
from .routes import create_app
from .runtime import MAX_BODY, allowed_hosts
from .schemas import MAX_LENGTH, MAX_PROMPT, MAX_TEXT

__all__ = ["MAX_BODY", "MAX_LENGTH", "MAX_PROMPT", "MAX_TEXT", "create_app", "serve"]


def serve(
    host: str = "127.0.0.1", port: int = 8000, root=None, cache=None, mirror=None, project=None, model=None
) -> None:
    """Run the app until Ctrl-C. Binds the socket first, so a busy port is a one-line error."""
    import torch
    import uvicorn

    # One torch thread per generation: tabs generate in parallel on the cores, while OpenMP teams in several threads
    # at once run slower than one thread each (BENCHMARKS.md, "Web app").
    torch.set_num_threads(1)

    if model is not None and project is None:
        project = DEFAULT_PROJECT  # as for every other command
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

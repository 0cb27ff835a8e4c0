"""Training from the page: the server starts `poet train` as a process of its own for each model (the model's
lock still refuses a second trainer, whoever started it), stops one as Ctrl-C would (SIGTERM: a snapshot is
written, then it ends) and keeps the tail of what it printed. A start is checked here first, so that a bad
library or setting is a 4xx saying what is wrong before anything is written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import HTTPException

from ..config import LibrarySpec, ModelConfig
from ..disk import config_json
from ..disk.lock import is_training, trainer_pid
from ..errors import say
from ..paths import check_name, model_dir
from .runtime import Models
from .schemas import TrainRequest

TAIL = 200  # lines of a run's output kept for the page
STOP_SECONDS = 60.0  # for a run to write its snapshot when the server shuts down
SHAPE = ("cell", "layers", "hidden")


@dataclass
class Run:
    """A `poet train` process this server started (`command`: as the user would type it), with the last lines it
    printed."""

    key: tuple[str, str]
    process: subprocess.Popen
    command: str
    started: float = field(default_factory=time.time)
    output: deque = field(default_factory=lambda: deque(maxlen=TAIL))

    def state(self) -> dict:
        code = self.process.poll()
        return {"project": self.key[0], "model": self.key[1], "running": code is None, "exit_code": code,
                "started": self.started, "command": self.command,
                "output": list(self.output)}  # fmt: skip


class Trainers:
    """The runs started from the page, one per model at a time. `off`: why training from the page is off (None:
    it is on)."""

    def __init__(self, models: Models, off: str | None = None):
        self.models, self.off = models, off
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str], Run] = {}

    def start(self, req: TrainRequest) -> dict:
        """Checks the request against the model on disk and the catalog, then starts the run."""
        if self.off:
            raise HTTPException(403, self.off)
        key = (check_name("project", req.project), check_name("model", req.model))
        where = model_dir(*key, self.models.root)
        spec = LibrarySpec(**req.library.model_dump())
        self._not_training(key, where)
        saved = config_json.read(where) if config_json.exists(where) and not req.restart else None
        if saved:
            self._fits(key, saved, spec, req)
        elif spec.is_empty():
            raise HTTPException(400, "choose the books to train on: pick them from a search, or take a model's")
        if spec.has_search() or spec.books:
            self._in_catalog(spec)  # perhaps a download: not under the lock, which /api/train's listing takes
        asked = ["train", "--project", key[0], "--model", key[1], *self._flags(spec, req)]
        sources = [f"--{name}={value}" for name, value in (("root", self.models.root), ("cache", self.models.cache),
                                                          ("mirror", self.models.mirror)) if value is not None]  # fmt: skip
        with self._lock:
            self._not_training(key, where)  # still: another start may have come meanwhile
            process = subprocess.Popen([sys.executable, "-m", "torch_poet", *asked, *sources], stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True,
                                       env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
            run = self._runs[key] = Run(key, process, " ".join(["poet", *asked]))
        threading.Thread(target=self._follow, args=(run,), daemon=True, name=f"poet-train-{key[1]}").start()
        say(f"training {key[0]}/{key[1]} (pid {process.pid}): {run.command}")
        return run.state()

    def _not_training(self, key: tuple[str, str], where: Path) -> None:
        run = self._runs.get(key)
        if (run and run.process.poll() is None) or is_training(where):
            raise HTTPException(409, f"{key[0]}/{key[1]} is training now: stop it first, or name another model")

    def _fits(self, key: tuple[str, str], saved: dict, spec: LibrarySpec, req: TrainRequest) -> None:
        """A resumed model keeps its books and its shape; naming others is a mistake said before the run."""
        name, again = f"{key[0]}/{key[1]}", "name a new model, or start this one over"
        if not spec.is_empty() and spec != LibrarySpec(**saved["library"]["spec"]):
            raise HTTPException(409, f"{name} was trained on other books: {again}")
        shape = ModelConfig(**saved["model"])
        for f in SHAPE:
            if getattr(req, f) is not None and getattr(req, f) != getattr(shape, f):
                raise HTTPException(409, f"{name} is a {shape.layers}×{shape.hidden} {shape.cell.upper()}, "
                                    f"its {f} {getattr(shape, f)}: {again}")  # fmt: skip

    def _in_catalog(self, spec: LibrarySpec) -> None:
        from ..gutenberg import search

        catalog = self.models.catalog()
        if spec.has_search() and not search(catalog, author=spec.author, title=spec.title, language=spec.language,
                                            subject=spec.subject):  # fmt: skip
            raise HTTPException(400, "the search matches no books: loosen the author, title, language or subject")
        missing = sorted(set(spec.books) - {b.id for b in search(catalog, ids=spec.books)})
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (" …" if len(missing) > 5 else "")
            raise HTTPException(400, f"no book {shown} in the catalog: pick books from a search")

    def _flags(self, spec: LibrarySpec, req: TrainRequest) -> list[str]:
        """`poet train`'s flags for the request: the library and the settings named."""
        flags = [f"--{name}={value}" for name in ("author", "title", "language", "subject")
                 for value in getattr(spec, name)]  # fmt: skip
        flags += [f"--book={b}" for b in spec.books] + (["--all-editions"] if spec.all_editions else [])
        flags += [f"--{name.replace('_', '-')}={getattr(req, name)}" for name, f in type(req).model_fields.items()
                  if f.json_schema_extra and f.json_schema_extra.get("x-train") and getattr(req, name) is not None]
        return flags + (["--restart"] if req.restart else [])

    def _follow(self, run: Run) -> None:
        """Keeps the run's last lines (draining its pipe, so that it never blocks on a full one) and reaps it."""
        for line in run.process.stdout:
            run.output.append(self.models.private_paths_hidden(line.rstrip("\n")))
        code = run.process.wait()
        say(f"training {run.key[0]}/{run.key[1]} ended (exit {code})")

    def stop(self, key: tuple[str, str]) -> dict:
        """SIGTERM to the model's trainer, as Ctrl-C: it writes a snapshot and ends. A trainer started elsewhere
        (a terminal) is found by the pid its lock holds."""
        if self.off:
            raise HTTPException(403, self.off)
        with self._lock:
            run = self._runs.get(key)
        if run and run.process.poll() is None:  # perhaps still preparing its library: no model on disk yet
            run.process.send_signal(signal.SIGTERM)
            return {"stopping": True, "pid": run.process.pid}
        where = self.models.find(*key)[1]
        if not is_training(where):
            raise HTTPException(409, f"{key[0]}/{key[1]} is not training")
        pid, unstoppable = trainer_pid(where), f"{key[0]}/{key[1]} is trained by a process this server cannot stop"
        if pid is None:
            raise HTTPException(409, unstoppable)
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            raise HTTPException(409, unstoppable) from None
        return {"stopping": True, "pid": pid}

    def runs(self) -> list[dict]:
        with self._lock:
            return [run.state() for run in self._runs.values()]

    def shutdown(self) -> None:
        """The runs still going are stopped with a snapshot each, as Ctrl-C on `poet train` would."""
        with self._lock:
            going = [run for run in self._runs.values() if run.process.poll() is None]
        for run in going:
            say(f"stopping the training of {run.key[0]}/{run.key[1]}: a snapshot is written")
            run.process.send_signal(signal.SIGTERM)
        for run in going:
            try:
                run.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                run.process.kill()

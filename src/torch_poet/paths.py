"""Where things live: the data root (models) and the cache (catalog, downloaded books)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import platformdirs

from .errors import PoetError

APP = "torch-poet"
# Project and model names: a letter, digit or _ first, then those, '-', '.', '+' or inner spaces; they become folder
# names, so nothing that escapes a folder, hides (a leading '.'), expands ('~') or fails on a file system (length).
NAME = re.compile(r"\w(?:[\w.+ -]*[\w.+-])?")
MAX_NAME_BYTES = 100


def data_root(root: str | os.PathLike | None = None) -> Path:
    """`--root`, else $POET_HOME, else the platform's user data dir."""
    return _folder(root, "--root", "POET_HOME", platformdirs.user_data_path)


def cache_root(cache: str | os.PathLike | None = None) -> Path:
    """`--cache`, else $POET_CACHE, else the platform's user cache dir."""
    return _folder(cache, "--cache", "POET_CACHE", platformdirs.user_cache_path)


def _folder(given: str | os.PathLike | None, flag: str, variable: str, default: Callable[[str], Path]) -> Path:
    """The folder a flag names, else the environment variable, else the platform's; a file there is a PoetError."""
    if given:
        path, named = Path(given).expanduser(), flag
    elif os.environ.get(variable):
        path, named = Path(os.environ[variable]).expanduser(), f"${variable}"
    else:
        return default(APP)
    if path.exists() and not path.is_dir():
        raise PoetError(f"{named} {path} is a file, not a folder: point it to a folder (a missing one is made)")
    return path


def check_name(kind: str, name: str) -> str:
    """`name` if it is a valid project or model name (see NAME), else a PoetError saying what is allowed."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or len(name.encode()) > MAX_NAME_BYTES:
        raise PoetError(
            f"invalid {kind} name {name!r}: use up to {MAX_NAME_BYTES} bytes of letters, digits, '_', '-', '.', '+' "
            "or inner spaces, starting with a letter, digit or '_'"
        )
    return name


def model_dir(project: str, model: str, root: str | os.PathLike | None = None) -> Path:
    """$POET_HOME/projects/<project>/<model>; names are checked so they never escape the root."""
    return data_root(root) / "projects" / check_name("project", project) / check_name("model", model)


def atomic_write(path: Path, data: bytes | Callable[[BinaryIO], None]) -> None:
    """All of `data` (bytes, or a function that writes them to the file it is handed) or nothing under `path`:
    temp file + fsync + rename + fsync of the folder, so a crash or kill at any moment leaves the old file or
    the new one, never half of one, and a failed write leaves no temp file."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            data(f) if callable(data) else f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            sized = isinstance(data, bytes)
            size, need = (f" ({len(data) / 1e6:,.1f} MB)", "at least that much") if sized else ("", "space")
            raise PoetError(
                f"the disk is full: cannot write {path.name}{size} in {path.parent}; free {need} there (old models: "
                "`poet models`; downloaded books: the cache) and try again"
            ) from None
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Held by one process of the machine at a time; the others wait for it. An flock, so the kernel releases it
    when its holder dies, even by SIGKILL."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)

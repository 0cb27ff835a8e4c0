"""Where things live: the data root (models) and the cache (catalog, downloaded books)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import platformdirs

from .errors import PoetError

APP = "torch-poet"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """`--root`, else $POET_HOME, else the platform's user data dir."""
    if root:
        return Path(root).expanduser()
    if os.environ.get("POET_HOME"):
        return Path(os.environ["POET_HOME"]).expanduser()
    return platformdirs.user_data_path(APP)


def cache_root(cache: str | os.PathLike | None = None) -> Path:
    """`--cache`, else $POET_CACHE, else the platform's user cache dir."""
    if cache:
        return Path(cache).expanduser()
    if os.environ.get("POET_CACHE"):
        return Path(os.environ["POET_CACHE"]).expanduser()
    return platformdirs.user_cache_path(APP)


def model_dir(project: str, model: str, root: str | os.PathLike | None = None) -> Path:
    """$POET_HOME/projects/<project>/<model>; names are checked so they never escape the root."""
    for kind, name in (("project", project), ("model", model)):
        if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
            raise PoetError(f"invalid {kind} name {name!r}: use letters, digits, '-' or '_'")
    return data_root(root) / "projects" / project / model


def atomic_write(path: Path, data: bytes) -> None:
    """All of `data` or nothing under `path`: temp file + fsync + rename + fsync of the folder, so a
    crash or kill at any moment leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

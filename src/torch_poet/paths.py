"""Where things live: the data root (models) and the cache (catalog, downloaded books)."""

from __future__ import annotations

import os
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

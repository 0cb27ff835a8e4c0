"""The models on disk, as `poet models` and the web app list them: where they are, how far each has
trained, its size, whether it is training now, and what is wrong with a broken one. Reads config.json and
snapshot headers only, without torch."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

from ..config import LN2
from ..errors import PoetError
from . import config_json, heartbeat, snapshots
from .lock import is_training


def model_dirs(root: Path) -> dict[tuple[str, str], Path]:
    """(project, model) -> directory of every model under root/projects: a glob, no file read."""
    found = sorted(Path(root).glob(f"projects/*/*/{config_json.NAME}"))
    return {(c.parent.parent.name, c.parent.name): c.parent for c in found}


def model_row(d: Path) -> dict:
    """A model's step, best validation bpc, size on disk, last update, whether it is training now, and what is
    wrong with it (`broken`, None for a model that loads): files may come and go while it is read."""
    row = {"project": d.parent.name, "model": d.name, "path": str(d), "step": None, "best_bpc": None}
    row["training"], row["broken"] = is_training(d), None
    try:
        config = config_json.read(d)
        found = snapshots.newest(d)  # weights that do not fit config.json show when the model is loaded
        if found is not None:
            try:
                snapshots.check_owner(found[1], config)
            except PoetError as e:
                raise PoetError(f"its {found[0]} snapshot {e}") from None
    except PoetError as e:
        row["broken"], found = str(e), None
    if found is not None:
        _, meta = found
        row["step"] = meta["step"]
        best = meta.get("best")
        if isinstance(best, (int, float)) and math.isfinite(best):
            row["best_bpc"] = round(best / LN2, 4)
    row["bytes"], row["updated"] = disk_usage(d)
    row["live"] = heartbeat.read(d) if row["training"] else None  # where a running training is between snapshots
    return row


def disk_usage(d: Path) -> tuple[int, float]:
    """Bytes of the files under d and the latest modification time, skipping files gone since the listing."""
    total, latest = 0, 0.0
    for folder, _, names in os.walk(d):
        for name in names:
            try:
                st = os.stat(os.path.join(folder, name))
            except OSError:  # a temp file renamed or a file deleted meanwhile, a link into a loop or nowhere
                continue
            if stat.S_ISREG(st.st_mode) and name != heartbeat.NAME:  # a beat is not an update of the model
                total, latest = total + st.st_size, max(latest, st.st_mtime)
    return total, latest


def list_models(root: Path) -> list[dict]:
    """Every model under root/projects, as `model_row` describes it."""
    return [model_row(d) for d in model_dirs(root).values()]

"""history.jsonl: one JSON line per snapshot (time, step, losses, bits per char, speed, memorisation,
readability). Rewritten whole after each snapshot; each snapshot also holds its own row, so a kill
between the two loses nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..paths import atomic_write

NAME = "history.jsonl"


def path(model_dir: str | os.PathLike) -> Path:
    return Path(model_dir) / NAME


def read(model_dir: str | os.PathLike) -> list[dict]:
    """The rows; a line cut by a kill, or one that is not a row at all, is skipped."""
    try:
        data = path(model_dir).read_bytes()
    except OSError:  # none yet (or not a file we can read)
        return []
    rows = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            rows.append(row)
    return rows


def write(model_dir: str | os.PathLike, rows: list[dict]) -> None:
    atomic_write(path(model_dir), "".join(json.dumps(r) + "\n" for r in rows).encode())


def until(model_dir: str | os.PathLike, step: int, snapshot_row: dict | None) -> list[dict]:
    """The rows up to the snapshot at `step` (a resumed run goes on from there), with the snapshot's own row
    where a kill came before history.jsonl was written."""
    rows = [r for r in read(model_dir) if r["step"] <= step]
    if isinstance(snapshot_row, dict) and all(r["step"] < step for r in rows) and snapshot_row.get("step") == step:
        rows.append(snapshot_row)
    return rows

"""heartbeat.json: where a running training is between snapshots (step, epoch, loss, speed, time spent and
left), rewritten every few seconds by the heartbeat hook and read by the web app's dashboard. Ephemeral: replaced
whole (temp and rename, no fsync: a lost beat is the next one's), removed when the run ends."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

NAME = "heartbeat.json"


def write(model_dir: Path, beat: dict) -> None:
    path = Path(model_dir) / NAME
    tmp = path.with_name(f".{NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(beat))
    os.replace(tmp, path)


def read(model_dir: Path) -> dict | None:
    """The latest beat, or None (no run, or a file that is not one)."""
    try:
        beat = json.loads((Path(model_dir) / NAME).read_text())
    except (OSError, ValueError):
        return None
    return beat if isinstance(beat, dict) else None


def remove(model_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (Path(model_dir) / NAME).unlink()

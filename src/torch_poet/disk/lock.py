"""The training lock of a model directory: one trainer at a time, and a way to see that one is running."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import PoetError
from . import config_json, history, snapshots

NAME = "train.lock"  # holds the pid of the process training the model
# written by trainers only
TRAINER_FILES = (*(snapshots.path(Path(), w).name for w in snapshots.SNAPSHOTS), config_json.NAME, history.NAME)


@contextmanager
def training_lock(model_dir: Path) -> Iterator[None]:
    """Held while a process trains the model: a second trainer is refused instead of interleaving
    snapshots, and `is_training` tells a dashboard whether it is running. An flock, so the kernel
    releases it when the trainer dies, even by SIGKILL."""
    import fcntl

    path = Path(model_dir) / NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or "?"
            raise PoetError(
                f"model {model_dir} is being trained by another process (pid {pid}): "
                "wait for it to finish, stop it, or use --model NEWNAME"
            ) from None
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        remove_stale_temps(Path(model_dir))
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def remove_stale_temps(model_dir: Path) -> None:
    """Delete the temp files of trainer writes that a kill cut short (`.last.safetensors.*.tmp`...): only
    the lock holder writes these, so any that exist when it takes the lock are leftovers."""
    for name in TRAINER_FILES:
        for tmp in model_dir.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


def trainer_pid(model_dir: Path) -> int | None:
    """The pid of the process training the model now (as its lock says), or None: no trainer, or no pid."""
    if not is_training(model_dir):
        return None
    try:
        return int((Path(model_dir) / NAME).read_text().strip())
    except (OSError, ValueError):
        return None


def is_training(model_dir: Path) -> bool:
    """Whether some process holds the model's training lock right now."""
    import fcntl

    try:
        with open(Path(model_dir) / NAME) as f:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # no lock file: never trained here (or not one we can read)
        return False
    return False

"""samples/: the text a model wrote during training, one pair of files per time it sampled (`step%08d.txt`, the
plain texts, and `.html`, highlighted with links to the books). Written by the samples hook, read by the web
app's dashboard; a file that is not one of ours (another name, another encoding) is passed over."""

from __future__ import annotations

import re
from pathlib import Path

from ..paths import atomic_write

FOLDER = "samples"
NAME = re.compile(r"step(\d{8})\.txt")


def write(model_dir: Path, step: int, text: str, page: str) -> None:
    base = Path(model_dir) / FOLDER / f"step{step:08d}"
    atomic_write(base.with_suffix(".txt"), text.encode())
    atomic_write(base.with_suffix(".html"), page.encode())


def latest(model_dir: Path) -> dict | None:
    """{"step", "text"} of the latest samples that can be read, or None."""
    try:
        names = [(NAME.fullmatch(p.name), p) for p in (Path(model_dir) / FOLDER).iterdir()]
    except OSError:  # no samples yet, or not a folder we can read
        return None
    for step, path in sorted(((int(m.group(1)), p) for m, p in names if m), reverse=True):
        try:
            return {"step": step, "text": path.read_text(encoding="utf-8")}
        except (OSError, UnicodeDecodeError):
            continue
    return None

"""samples/: the text a model wrote during training, one pair of files per time it sampled (`step%08d.txt`, the
texts at each temperature under a `--- head ---` line, and `.html`, highlighted with links to the books).
Written by the samples hook, read by the web app's dashboard; a file that is not one of ours (another name,
another encoding) is passed over."""

from __future__ import annotations

import re
from pathlib import Path

from ..paths import atomic_write

FOLDER = "samples"
NAME = re.compile(r"step(\d{8})\.txt")
HEAD = re.compile(r"^--- (.*) ---\n", re.MULTILINE)


def write(model_dir: Path, step: int, parts: list[tuple[str, str]], page: str) -> None:
    """parts: (head, text) of each sample, e.g. ("temperature 0.6 · readability 47%", "...")."""
    base = Path(model_dir) / FOLDER / f"step{step:08d}"
    atomic_write(base.with_suffix(".txt"), "\n".join(f"--- {head} ---\n{text}\n" for head, text in parts).encode())
    atomic_write(base.with_suffix(".html"), page.encode())


def steps(model_dir: Path) -> list[int]:
    """The steps at which samples were written, oldest first."""
    try:
        names = [NAME.fullmatch(p.name) for p in (Path(model_dir) / FOLDER).iterdir()]
    except OSError:  # no samples yet, or not a folder we can read
        return []
    return sorted(int(m.group(1)) for m in names if m)


def read(model_dir: Path, step: int) -> dict | None:
    """{"step", "text", "parts": [{"head", "text"}]} of the samples written at `step`, or None."""
    try:
        text = (Path(model_dir) / FOLDER / f"step{step:08d}.txt").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    cut = HEAD.split(text)  # ["", head, text, head, text...]: each text ends in "\n", all but the last in two
    if len(cut) == 1:  # no heads: one text as it is
        return {"step": step, "text": text, "parts": [{"head": "", "text": text}]}
    texts = [t[:-2] for t in cut[2:-1:2]] + [cut[-1][:-1]]
    parts = [{"head": h, "text": t} for h, t in zip(cut[1::2], texts)]
    return {"step": step, "text": text, "parts": parts}


def latest(model_dir: Path) -> dict | None:
    """The latest samples that can be read (as `read` gives them), or None."""
    for step in reversed(steps(model_dir)):
        found = read(model_dir, step)
        if found is not None:
            return found
    return None

"""Layout-blind text: any run of white space reads as one space, typographic apostrophes and quotation marks
as straight ones, and a run of hyphens (--) as an em dash. Case is kept: a capital is part of the words
(BENCHMARKS.md has the figures behind both choices). A keep mask maps folded positions back to the original
ones, so spans and source offsets point into the real texts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_FOLD = np.arange(0x3001, dtype=np.uint32)  # code points up to U+3000 (the last white space) -> folded
_FOLD[[c for c in range(0x3001) if chr(c).isspace()]] = ord(" ")
_FOLD[[0x2018, 0x2019]] = ord("'")
_FOLD[[0x201C, 0x201D]] = ord('"')
_EM_DASH = 0x2014
_FOLD16 = np.arange(0x10000, dtype=np.uint16)
_FOLD16[: len(_FOLD)] = _FOLD


def code_points(s: str) -> np.ndarray:
    """The text's code points: 2 bytes each unless it has characters beyond U+FFFF."""
    data = s.encode("utf-16-le", "surrogatepass")
    if len(data) == 2 * len(s):
        return np.frombuffer(data, dtype="<u2")
    return np.frombuffer(s.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def fold(points: np.ndarray, first: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(the folded code points, which original positions they come from as a keep mask).

    first marks positions that begin a text, where no run continues from the character before."""
    if points.dtype == np.uint16:
        p = _FOLD16[points]
    else:
        p = np.where(points <= 0x3000, _FOLD[np.minimum(points, 0x3000)], points).astype(np.uint32)
    space, hyphen = p == ord(" "), p == ord("-")
    run_space, run_hyphen = space[1:] & space[:-1], hyphen[1:] & hyphen[:-1]  # position i+1 continues a run
    if first is not None:
        run_space[first[1:]] = run_hyphen[first[1:]] = False
    keep = np.ones(len(p), dtype=bool)
    keep[1:] = ~(run_space | run_hyphen)
    dash = np.flatnonzero(run_hyphen & keep[:-1])  # a hyphen that a run continues, and that starts it
    p[dash] = _EM_DASH
    return p[keep], keep


def fold_texts(bodies: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The texts folded one by one and joined: (the folded code points, each text's folded size, and the folded
    position of the first character after each dropped one, the texts joined without separators)."""
    lengths = np.array([len(b) for b in bodies], dtype=np.int64)
    points = code_points("".join(bodies))
    first = np.zeros(len(points), dtype=bool)
    first[(np.cumsum(lengths) - lengths)[lengths > 0]] = True
    folded, keep = fold(points, first)
    dropped = np.flatnonzero(~keep)
    in_text = np.searchsorted(np.cumsum(lengths), dropped, side="right")
    sizes = lengths - np.bincount(in_text, minlength=len(bodies))[: len(bodies)]
    return folded, sizes, dropped - np.arange(len(dropped))

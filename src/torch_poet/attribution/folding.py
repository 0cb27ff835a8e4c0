"""Layout-blind text: any run of white space reads as one space, typographic apostrophes and quotation marks
as straight ones, and a run of hyphens (--) as an em dash. Case is kept: a capital is part of the words
(BENCHMARKS.md has the figures behind both choices). A keep mask maps folded positions back to the original
ones, so spans and source offsets point into the real texts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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


def _mapped(points: np.ndarray) -> np.ndarray:
    """Each code point as it folds alone: white space to a space, typographic quotation marks to straight ones."""
    if points.dtype == np.uint16:
        return _FOLD16[points]
    return np.where(points <= 0x3000, _FOLD[np.minimum(points, 0x3000)], points).astype(np.uint32)


def fold(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the folded code points of one text, which original positions they come from as a keep mask)."""
    p = _mapped(points)
    space, hyphen = p == ord(" "), p == ord("-")
    run_space, run_hyphen = space[1:] & space[:-1], hyphen[1:] & hyphen[:-1]  # position i+1 continues a run
    keep = np.ones(len(p), dtype=bool)
    keep[1:] = ~(run_space | run_hyphen)
    dash = np.flatnonzero(run_hyphen & keep[:-1])  # a hyphen that a run continues, and that starts it
    p[dash] = _EM_DASH
    return p[keep], keep


def folded_alphabet(points: np.ndarray) -> np.ndarray:
    """Every code point that texts of these characters can hold once folded (an em dash where '-' is)."""
    dash = [_EM_DASH] if (points == ord("-")).any() else []
    return np.unique(np.concatenate([_mapped(points).astype(np.uint32), np.array(dash, np.uint32)]))


def fold_texts(texts: Iterable[np.ndarray], drops: list[np.ndarray]) -> Iterator[np.ndarray]:
    """Each text's code points folded, as they come; `drops` gets, text by text, the folded position of the first
    character after each dropped one, in that text."""
    for points in texts:
        folded, keep = fold(points)
        dropped = np.flatnonzero(~keep)
        drops.append(dropped - np.arange(len(dropped)))
        yield folded

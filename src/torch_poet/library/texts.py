"""A text as it enters a library (a Gutenberg book, a user's own file), and the words of texts."""

from __future__ import annotations

import re
import warnings
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path

from ..errors import PoetError


@dataclass(frozen=True)
class Text:
    """One cleaned text, with what attribution needs to name and link it."""

    key: str  # stable and unique within a library: "pg1342" for Gutenberg books, "file:<name>" for local files
    title: str
    author: str
    text: str
    url: str | None = None  # https://www.gutenberg.org/ebooks/<ID> for Gutenberg books
    book_id: int | None = None
    path: str | None = None  # local files: where the text was read from


WORD = re.compile(r"[^\W\d_]+")  # a run of letters, in any script
_SPLIT = bytes(c if chr(c).isalpha() or c > 127 else 32 for c in range(256))  # ASCII non-letters -> space


def words_of(text: str) -> set[str]:
    """The words (runs of letters, lower-cased) of text, as WORD finds them in text.lower(): what `readability`
    checks against. The UTF-8 bytes are split at ASCII non-letters by a byte table (several times the regular
    expression's speed); only the few distinct pieces with other characters are split by WORD."""
    words = set()
    for piece in set(text.encode().lower().translate(_SPLIT).split()):
        if piece.isascii():
            words.add(piece.decode())
        else:
            words.update(WORD.findall(piece.decode().lower()))
    return words


def readability(text: str, words: Set[str]) -> float:
    """Share of the words (runs of letters, case ignored) of `text` that occur as words in the library
    (`Library.words`); 0 for a text without words. Letter soup scores 10-40%, a decent model over 90%."""
    found = WORD.findall(text.lower())
    return sum(w in words for w in found) / len(found) if found else 0.0


def read_file(path: Path) -> Text:
    """A user's own text file, decoded like a Gutenberg book, stripped of boilerplate when it has any."""
    from ..gutenberg import clean
    from ..gutenberg.clean import marked_encoding, text_problem

    try:
        data = path.read_bytes()
    except OSError as e:
        raise PoetError(f"cannot read {path}: {e.strerror}") from None
    problem = text_problem(data)
    if problem is None:
        try:
            data.decode(marked_encoding(data) or "utf-8")
        except UnicodeDecodeError as e:
            problem = f"not UTF-8 (byte {e.start:,} is {data[e.start]:#04x}; read as a legacy 8-bit encoding)"
    if problem:
        warnings.warn(f"{path} does not look like a text file: it is {problem}; check it is the file you meant, "
                      "or convert it to UTF-8 text", stacklevel=2)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a plain file without Gutenberg markers is normal here
        text = clean(data, name=str(path))
    return Text(key=f"file:{path.name}", title=path.stem, author="", text=text, path=str(path.resolve()))


def file_keys(paths: list[Path]) -> dict[Path, str]:
    """Each file's key: "file:<name>", or as many of its folders before the name as make it unique (a/x.txt and
    b/x.txt are "file:a/x.txt" and "file:b/x.txt"), so that two files of one name are two texts."""
    parts = {p: p.resolve().parts for p in paths}
    keys = {}
    for p, whole in parts.items():
        depth = 1
        while depth < len(whole) and any(q != p and parts[q][-depth:] == whole[-depth:] for q in paths):
            depth += 1
        keys[p] = "file:" + "/".join(whole[-depth:])
    return keys

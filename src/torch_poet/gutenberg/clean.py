"""Decode a Project Gutenberg plain-text file and strip its licence header, footer and production credits.

Gutenberg files span three decades of formats; every marker style below occurs in real files (see the table in
shared/gutenberg/README.md). A model trained on the boilerplate would learn to recite the licence, so it goes.
"""

from __future__ import annotations

import codecs
import io
import re
import warnings
from typing import BinaryIO, TextIO

from ..errors import PoetError

# "*** START OF THE PROJECT GUTENBERG EBOOK X ***", "***START OF THE…", "*** START OF THIS …", "EBOOK, X".
START = re.compile(r"^[ \t]*\*+[ \t]*START OF (?:THE |THIS )?PROJECT GUTENBERG.*$", re.I | re.M)
# "*** END OF THIS PROJECT GUTENBERG EBOOK X ***" (possibly indented), "End of the Project Gutenberg EBook of X",
# "End of Project Gutenberg's X", "End of The Project Gutenberg Etext of X", German "Ende dieses Projekt Gutenberg …".
END = re.compile(
    r"^[ \t]*(?:\*+[ \t]*)?(?:END OF (?:THE |THIS )?PROJECT GUTENBERG|ENDE DIESES PROJEKT GUTENBERG)", re.I | re.M
)
# The 1990s files have no START marker: the text begins after the licence, "*END*THE SMALL PRINT! … *END*".
SMALL_PRINT_END = re.compile(r"^[ \t]*\*END\*?[ \t]*THE SMALL PRINT.*$", re.I | re.M)
# A first paragraph that credits the volunteers or a partner project rather than belonging to the book.
CREDITS = re.compile(
    r"(?:Produced by|E-?text prepared by|Prepared by|Transcribed from|Transcribed by|Digitized by"
    r"|This e-?(?:text|book) was (?:produced|prepared)|Special thanks are due"
    r"|This book was generously provided|Dieses Buch wurde uns freundlicherweise)",
    re.I,
)
LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")
HTML = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype html|html|head|body)\b", re.I | re.S)
CONTROL = bytes(c for c in range(32) if c not in b"\t\n\r\f\x1b")  # bytes that plain text hardly ever holds
MIN_PLAIN_BOOK = 1_000  # bytes: a file without Gutenberg markers must at least look like a text of some length
DECLARED_CHARSET = re.compile(rb"^Character set encoding:[ \t]*([\w.:-]+)", re.I | re.M)
# byte-order marks and what they name; UTF-32's first: its little-endian mark begins like UTF-16's
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"), (codecs.BOM_UTF8, "utf-8-sig"))  # fmt: skip


def marked_encoding(data: bytes) -> str | None:
    """The encoding a byte-order mark at the start of `data` names, if any."""
    return next((encoding for bom, encoding in BOMS if data.startswith(bom)), None)


def text_reader(raw: BinaryIO) -> TextIO:
    """A text reader of a file or stream read in pieces, decoded as `decode` would: the UTF-16 or UTF-32 that its
    byte-order mark names, else UTF-8; line ends become LF."""
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
    return io.TextIOWrapper(buffered, encoding=marked_encoding(buffered.peek(4)[:4]) or "utf-8-sig")


def decode(data: bytes) -> str:
    """Bytes → str with LF line ends: the UTF-16 or UTF-32 a byte-order mark names, else UTF-8 (BOM dropped),
    else the charset the header declares, else cp1252/Latin-1.

    Old files are often Latin-1, and some that declare ASCII still hold a stray Latin-1 byte, so the declaration
    is only a hint after UTF-8 fails.
    """
    try:
        text = data.decode(marked_encoding(data) or "utf-8-sig")
    except UnicodeDecodeError:
        text = _decode_legacy(data)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_legacy(data: bytes) -> str:
    m = DECLARED_CHARSET.search(data[:20_000].replace(b"\r", b""))
    encodings = [m.group(1).decode("ascii")] if m else []
    for encoding in encodings + ["cp1252"]:
        try:
            codecs.lookup(encoding)
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")  # never fails: every byte is a character


def text_problem(data: bytes) -> str | None:
    """What makes `data` not plain text (an HTML page, binary data), or None if it looks like text."""
    encoding = marked_encoding(data)
    if encoding in ("utf-16", "utf-32"):  # wide text: its zero bytes are characters' halves, not binary data
        try:
            data = codecs.getincrementaldecoder(encoding)().decode(data[: 1 << 18]).encode()
        except UnicodeDecodeError as e:
            return f"not {encoding.upper()} text, though it starts with its byte-order mark ({e.reason})"
    if HTML.match(data[:4096]):
        return "an HTML page"
    sample = data[:65536]
    controls = len(sample) - len(sample.translate(None, CONTROL))
    if b"\x00" in sample or controls > len(sample) // 100:
        return f"binary data ({controls:,} control bytes in its first {len(sample):,})"
    return None


def book_problem(data: bytes) -> str | None:
    """Why `data` cannot be a complete Gutenberg text (HTML, binary, a header without its footer: cut short, or
    no markers and too short to be a book), or None if it can: checked before anything is cached."""
    problem = text_problem(data)
    if problem:
        return problem
    text = decode(data)
    start = header_end(text)
    if start and not END.search(text, start.end()):
        return f"cut short ({len(data):,} bytes: the Project Gutenberg header is there but not the footer)"
    if not start and len(data) < MIN_PLAIN_BOOK:
        return f"only {len(data)} bytes without Project Gutenberg markers"
    return None


def header_end(text: str) -> re.Match | None:
    """The START marker, or in 1990s files the end of the licence block that opens them; None if neither."""
    start = START.search(text)
    if start is None:
        small_print = SMALL_PRINT_END.search(text)
        # Only a licence block in the header counts; in later files the same block sits in the footer.
        start = small_print if small_print and small_print.start() < len(text) // 2 else None
    return start


def strip_boilerplate(text: str, name: str = "text") -> str:
    """The book between the Gutenberg header and footer, without the production credits that open it.

    A text with no marker at all is kept whole (with a warning): it may be a local file that never had any.
    """
    start = header_end(text)
    begin = start.end() if start else 0
    end = END.search(text, begin)
    if start is None and end is None:
        warnings.warn(f"{name}: no Project Gutenberg header or footer found; keeping the whole text", stacklevel=2)
    body = text[begin : end.start() if end else len(text)]
    return _drop_credits(body).rstrip() + "\n"


def _drop_credits(body: str) -> str:
    """Remove leading paragraphs such as "Produced by Judy Boss" or "Transcribed from the 1897 … edition"."""
    while True:
        body = LEADING_BLANK_LINES.sub("", body)  # keeps the indentation of a centred title
        if not CREDITS.match(body.lstrip()):
            return body
        paragraph_end = re.search(r"\n[ \t]*\n", body)
        body = body[paragraph_end.end() :] if paragraph_end else ""


def clean(data: bytes | str, name: str = "text") -> str:
    """Decoded, boilerplate-free text of one Gutenberg file; a PoetError if no text is left."""
    text = decode(data) if isinstance(data, bytes) else data.replace("\r\n", "\n").replace("\r", "\n")
    body = strip_boilerplate(text, name)
    if not body.strip():
        raise PoetError(f"{name} is empty once the Project Gutenberg header and footer are removed: use another book")
    return body

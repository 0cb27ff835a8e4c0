"""Decoding and header/footer stripping, on every real file of shared/gutenberg and its README's marker table."""

from __future__ import annotations

import re
import warnings

import pytest
from conftest import GUTENBERG

from torch_poet.errors import PoetError
from torch_poet.gutenberg.clean import clean, decode


def marker_table() -> dict[str, tuple[list[str], list[str]]]:
    """README's "Boilerplate marker lines actually present": file → (start-type lines, end-type lines)."""
    readme = (GUTENBERG / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Boilerplate marker lines actually present")[1].split("\n## ")[0]
    table = {}
    for line in section.splitlines():
        cells = line.split(" | ")
        if len(cells) == 3 and cells[0].startswith("| `"):
            lines = [re.findall(r"`([^`]*)`", cell) for cell in cells]
            table[lines[0][0]] = (lines[1], lines[2])
    return table


MARKERS = marker_table()


def body_between_markers(text: str, starts: list[str], ends: list[str]) -> str:
    """The text between the README's first start line and first end line; for the 1990s files, which have no
    START marker, between the end of the SMALL PRINT licence and the "End of" line."""
    if starts[0].startswith("***START**THE SMALL PRINT"):
        starts, ends = [ends[0]], ends[1:]
    begin = text.index(starts[0]) + len(starts[0])
    return text[begin : text.index(ends[0], begin)]


OPENINGS = {  # read in the files: the book's first sentence, which cleaning must keep near the top
    "cache/epub/1342/pg1342.txt": "It is a truth universally acknowledged, that a single man in possession",
    "cache/epub/768/pg768.txt": "1801.--I have just returned from a visit to my landlord",
    "cache/epub/158/pg158.txt": "Emma Woodhouse, handsome, clever, and rich",
    "cache/epub/144/pg144.txt": "As the streets that lead from the Strand to the Embankment",
    "cache/epub/5670/pg5670.txt": '"So of course," wrote Betty Flanders',
    "cache/epub/2229/pg2229.txt": "Ihr naht euch wieder, schwankende Gestalten",
    "cache/epub/22367/pg22367.txt": "Als Gregor Samsa eines Morgens aus unruhigen Träumen erwachte",
    "cache/epub/14155/pg14155.txt": "Nous étions à l'Étude, quand le Proviseur entra",
    "legacy/22367-8.txt": "Als Gregor Samsa eines Morgens aus unruhigen Träumen erwachte",
    "legacy/pandp10.txt": "It is a truth universally acknowledged, that a single man in\npossession",
    "legacy/pandp12.txt": "It is a truth universally acknowledged, that a single man in\npossession",
    "legacy/wuthr10.txt": "1801. - I have just returned from a visit to my landlord",
}
FIRST_LINES = {  # what a cleaned book starts with: its title page, not credits (indentation kept)
    "cache/epub/1342/pg1342.txt": "PRIDE AND PREJUDICE\n",
    "cache/epub/1260/pg1260.txt": "JANE EYRE\nAN AUTOBIOGRAPHY\n",
    "cache/epub/767/pg767.txt": "_Facsimile of the Title-Page of the First Edition_",
    "cache/epub/969/pg969.txt": "     [Picture: Anne Brontë from a drawing by Charlotte Brontë",
    "cache/epub/2229/pg2229.txt": "  Faust: Der Tragödie erster Teil\n",
    "cache/epub/22367/pg22367.txt": "                          DIE VERWANDLUNG\n",
    "cache/epub/161/pg161.txt": "SENSE AND SENSIBILITY\n",
    "legacy/pandp10.txt": "Pride and Prejudice\n",
}


def test_marker_table_covers_every_file():
    files = {str(p.relative_to(GUTENBERG)) for p in GUTENBERG.glob("cache/epub/*/*.txt")}
    files |= {str(p.relative_to(GUTENBERG)) for p in GUTENBERG.glob("legacy/*")}
    assert set(MARKERS) == files and len(files) == 27


@pytest.mark.parametrize("name", sorted(MARKERS))
def test_clean_every_fixture_file(name):
    data = (GUTENBERG / name).read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every file has markers: no "no header found" warning
        text = clean(data, name)
    assert "\r" not in text and "\ufeff" not in text and "\ufffd" not in text
    for edge in (text[:2000], text[-2000:]):
        assert not re.search(r"project gutenberg|gutenberg project|small print|produced by", edge, re.I), edge
    body = body_between_markers(decode(data), *MARKERS[name])
    assert 0.9 * len(body.strip()) < len(text) <= len(body)
    if name in OPENINGS:
        assert 0 <= text.find(OPENINGS[name]) < 1000
    if name in FIRST_LINES:
        assert text.startswith(FIRST_LINES[name])


def test_first_sentence_after_a_long_preface_is_kept():
    text = clean((GUTENBERG / "cache/epub/1260/pg1260.txt").read_bytes())
    assert "There was no possibility of taking a walk that day." in text
    assert text.rstrip().endswith("even so come, Lord Jesus!'\"")


def test_latin1_files_decode_like_their_utf8_transcoding():
    latin1 = decode((GUTENBERG / "legacy/22367-8.txt").read_bytes())
    assert latin1 == decode((GUTENBERG / "cache/epub/22367/pg22367.txt").read_bytes())
    assert "Träumen" in latin1 and "Mistkäfer" in latin1 and latin1.count("ß") == 460


def test_invalid_utf8_declared_ascii_falls_back_to_latin1():
    data = (GUTENBERG / "legacy/1028.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text = decode(data)
    assert text.count("\xa0") == 4 and "\ufffd" not in text
    assert clean(data).startswith("THE PROFESSOR\n")


def test_utf8_wins_over_a_wrong_declaration_and_bom_is_dropped():
    faust = decode((GUTENBERG / "cache/epub/2229/pg2229.txt").read_bytes())  # says ISO-8859-1, is UTF-8
    assert "Character set encoding: ISO-8859-1" in faust and "Tragödie" in faust
    assert (GUTENBERG / "cache/epub/1342/pg1342.txt").read_bytes().startswith(b"\xef\xbb\xbf")
    assert not decode((GUTENBERG / "cache/epub/1342/pg1342.txt").read_bytes()).startswith("\ufeff")


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"Character set encoding: ISO-8859-1\n\nna\xefve \x80", "Character set encoding: ISO-8859-1\n\nnaïve \x80"),
        (b"\x93quoted\x94 \xe9t\xe9", "\u201cquoted\u201d été"),  # no declaration: cp1252
        (b"Character set encoding: KLINGON\n\xe9", "Character set encoding: KLINGON\n\xe9"),  # unknown: cp1252
        (b"a\r\nb\rc\n", "a\nb\nc\n"),
    ],
)
def test_decode_fallbacks_and_line_ends(data, expected):
    assert decode(data) == expected


def test_text_without_markers_is_kept_with_a_warning():
    with pytest.warns(UserWarning, match="no Project Gutenberg header"):
        assert clean(b"Roses are red,\r\nviolets are blue.\r\n", "poem.txt") == "Roses are red,\nviolets are blue.\n"


def test_credits_are_dropped_but_a_following_paragraph_is_kept():
    raw = (
        "header\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n\nProduced by A. Volunteer and the Online\n"
        "Distributed Proofreading Team\n\n\nE-text prepared by B\n\nCHAPTER I\n\nIt began.\n\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK X ***\nlicence"
    )
    assert clean(raw) == "CHAPTER I\n\nIt began.\n"


def test_a_book_that_is_only_boilerplate_is_an_error():
    raw = b"*** START OF THE PROJECT GUTENBERG EBOOK X ***\r\n\r\nProduced by Nobody\r\n\r\n"
    raw += b"*** END OF THE PROJECT GUTENBERG EBOOK X ***\r\n"
    with pytest.raises(PoetError, match="empty"):
        clean(raw, "book 7")

"""The attribution package on real books from the shared Gutenberg sample: whole passages found at the right
offsets, unseen prose almost never quoted, copied passages found despite layout and typos."""

from pathlib import Path

import pytest

from torch_poet.attribution import Index, summary
from torch_poet.library import Library, Text

SHARED = Path(__file__).resolve().parents[2] / "shared"
EPUB = SHARED / "gutenberg" / "cache" / "epub"


def read_book(book_id: int) -> Text:
    path = EPUB / str(book_id) / f"pg{book_id}.txt"
    url = f"https://www.gutenberg.org/ebooks/{book_id}"
    return Text(f"pg{book_id}", path.stem, "", path.read_bytes().decode("utf-8-sig"), url, book_id)


@pytest.fixture(scope="module")
def books():
    if not EPUB.is_dir():
        pytest.skip(f"no Gutenberg sample at {EPUB}")
    return [read_book(i) for i in (1342, 1260, 161, 2229)]


def test_passage_from_pride_and_prejudice_is_one_quote(books):
    index = Index.build(Library.from_texts(books))
    pride = books[0].text
    offset = pride.index("It is a truth universally acknowledged")
    passage = pride[offset : offset + 300]
    spans = index.segment("Zqxj vbnm\u4e00" + passage + "\u4e00Qzxv jkwp")  # U+4E00 is in no book: it ends any quote
    quotes = [s for s in spans if s.quoted]
    assert [q.text for q in quotes] == [passage]
    assert [(s.key, s.offset, s.title) for s in quotes[0].sources] == [("pg1342", offset, "pg1342")]
    assert quotes[0].sources[0].url == "https://www.gutenberg.org/ebooks/1342"


def test_offsets_are_characters_in_non_ascii_books(books):
    faust = books[3].text
    offset = faust.index("Habe nun, ach!")
    assert faust[:offset].encode() != faust[:offset].encode("latin-1")  # umlauts before it: bytes != chars
    passage = faust[offset : offset + 120]
    [quote] = [s for s in Index.build(Library.from_texts(books)).segment("Öäü ßxq\u4e00" + passage + "\u4e00qxz") if s.quoted]
    assert quote.text == passage
    assert [(s.key, s.offset) for s in quote.sources] == [("pg2229", offset)]


# --- acceptance against the shared mirror: a library of some authors, the others unseen ---------------------------

LIBRARY = (1342, 161, 158, 105, 121, 141, 946, 1260, 9182, 1028, 30486)  # Jane Austen and Charlotte Brontë
UNSEEN = (768, 767, 969, 144, 1245, 5670, 29220)  # Emily and Anne Brontë, Virginia Woolf


def cleaned(book_id: int) -> Text:
    from torch_poet.gutenberg import clean

    path = EPUB / str(book_id) / f"pg{book_id}.txt"
    return Text(f"pg{book_id}", path.stem, "", clean(path.read_bytes(), path.name), None, book_id)


@pytest.fixture(scope="module")
def library_index():
    if not EPUB.is_dir():
        pytest.skip(f"no Gutenberg sample at {EPUB}")
    return Index.build(Library.from_texts([cleaned(i) for i in LIBRARY]))


def passages(text: str, count: int = 10, size: int = 2000) -> list[str]:
    return [text[k * (len(text) - size) // (count - 1) :][:size] for k in range(count)]


def test_unseen_prose_is_almost_never_quoted(library_index):
    threshold = library_index.threshold
    assert 20 <= threshold <= 40  # longer than everyday phrases, far shorter than a sentence
    rule = library_index.rule()
    assert rule.calibrated and rule.unseen.fraction <= 0.002 and rule.unseen.longest >= threshold
    spans = [s for i in UNSEEN for p in passages(cleaned(i).text) for s in library_index.segment(p)]
    stats = summary(spans)
    assert stats.chars >= 7 * 10 * 1900
    assert stats.fraction <= 0.01
    assert stats.longest_chars < 2 * threshold
    old = summary([s for i in UNSEEN for p in passages(cleaned(i).text) for s in library_index.segment(p, 10)])
    assert old.fraction > 0.5  # what the original 10-char rule marks: most of any English text


def perturb(text: str, rng) -> tuple[str, list[int], set[int]]:
    """Re-flowed lines, apostrophes swapped between straight and typographic, 1 char in 150 changed: the
    new text, each new char's offset in the old one, and the new offsets that were changed."""
    out, origin, changed = [], [], set()
    i = 0
    while i < len(text):
        if text[i].isspace():
            j = i
            while j < len(text) and text[j].isspace():
                j += 1
            out.append(rng.choice([" ", " ", "\n"]))
            origin.append(i)
            i = j
            continue
        c = {"'": "\u2019", "\u2019": "'", '"': "\u201c", "\u201c": '"', "\u201d": '"'}.get(text[i], text[i])
        if c.isalpha() and rng.random() < 1 / 150:
            c = "Q" if c != "Q" else "Z"
            changed.add(len(out))
        out.append(c)
        origin.append(i)
        i += 1
    return "".join(out), origin, changed


def test_copied_passages_are_found_whole_despite_layout_and_typos(library_index):
    import random

    rng = random.Random(0)
    recovered = unchanged = 0
    for book in (cleaned(i) for i in LIBRARY[::2]):
        for passage_start in (len(book.text) // 7, len(book.text) // 2, 6 * len(book.text) // 7):
            original = book.text[passage_start : passage_start + 1500]
            text, origin, changed = perturb(original, rng)
            unchanged += len(text) - len(changed)
            for span in library_index.segment(text):
                right = any(s.key == book.key and s.offset == passage_start + origin[span.start] for s in span.sources)
                if span.quoted and right:
                    recovered += sum(1 for k in range(span.start, span.end) if k not in changed)
    assert recovered >= 0.95 * unchanged


def test_the_first_sentence_of_pride_and_prejudice_is_one_quote():
    if not EPUB.is_dir():
        pytest.skip(f"no Gutenberg sample at {EPUB}")
    index = Index.build(Library.from_texts([cleaned(1342), cleaned(768)]))
    sentence = (
        "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
        "must be in want of a wife."
    )
    spans = index.segment(f"Zqx vvv. {sentence} Qqq zzx.")
    [quote] = [s for s in spans if s.quoted]
    assert sentence in quote.text and len(quote.text) <= len(sentence) + 2
    assert quote.books == ("pg1342",) and "\n" in quote.sources[0].text  # the book breaks the line

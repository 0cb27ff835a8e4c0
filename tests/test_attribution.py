from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_poet import attribution
from torch_poet.attribution import Index, Source, Span, summary
from torch_poet.errors import PoetError
from torch_poet.library import Text

SHARED = Path(__file__).resolve().parents[2] / "shared"
EPUB = SHARED / "gutenberg" / "cache" / "epub"


def reference(texts: list[str], text: str, min_quote: int) -> list[tuple[int, int]]:
    """The original tool's greedy rule, plainly: grow the candidate while it occurs in some text."""
    quotes, i = [], 0
    while i < len(text):
        length = 0
        while i + length < len(text) and any(text[i : i + length + 1] in t for t in texts):
            length += 1
        if length >= min_quote:
            quotes.append((i, i + length))
            i += length
        else:
            i += 1
    return quotes


def occurrences(texts: list[Text], quote: str) -> list[tuple[str, int]]:
    found = []
    for t in texts:
        at = t.text.find(quote)
        while at != -1:
            found.append((t.key, at))
            at = t.text.find(quote, at + 1)
    return found


def check(texts: list[Text], text: str, min_quote: int) -> None:
    spans = Index.build(texts).segment(text, min_quote, max_sources=10**9)
    assert "".join(s.text for s in spans) == text
    assert all(a.end == b.start for a, b in zip(spans, spans[1:]))
    assert all(s.quoted or t.quoted for s, t in zip(spans, spans[1:]))  # original stretches are merged
    assert [(s.start, s.end) for s in spans if s.quoted] == reference([t.text for t in texts], text, min_quote)
    by_key = {t.key: t.text for t in texts}
    for span in (s for s in spans if s.quoted):
        assert all(by_key[s.key][s.offset : s.offset + len(span.text)] == span.text for s in span.sources)
        assert [(s.key, s.offset) for s in span.sources] == occurrences(texts, span.text)  # all, in library order
        assert span.count == len(span.sources)


ALPHABET = "ab éß"
corpora = st.lists(st.text(ALPHABET, max_size=60), max_size=4).map(
    lambda ts: [Text(f"k{i}", f"Title {i}", "Author", t) for i, t in enumerate(ts)]
)
generated = st.text(ALPHABET + "xé\u4e00", max_size=80)


@settings(max_examples=150, deadline=None)
@given(corpora, generated, st.integers(1, 12))
def test_segment_equals_reference_greedy(texts, text, min_quote):
    check(texts, text, min_quote)


@pytest.mark.parametrize("rounds, few", [(1, 0), (1, 2), (2, 8)])
@settings(max_examples=40, deadline=None)
@given(corpora, generated, st.integers(1, 12))
def test_long_matches_are_extended_exactly(rounds, few, texts, text, min_quote):
    # few lockstep keys force the one-by-one extension, through both its key-wise and char-wise parts
    with mock.patch.object(attribution, "_ROUNDS", rounds), mock.patch.object(attribution, "_FEW", few):
        check(texts, text, min_quote)


@pytest.mark.parametrize("distinct, width", [(300, 2), (70_000, 4)])
@settings(max_examples=15, deadline=None)
@given(texts=corpora, text=generated, min_quote=st.integers(1, 12))
def test_large_alphabets_use_wider_symbols(distinct, width, texts, text, min_quote):
    filler = Text("filler", "Filler", "", "".join(chr(0x4E00 + i) for i in range(distinct)))
    assert Index.build([filler]).codes.itemsize == width
    check([filler, *texts], text, min_quote)


def test_edge_cases():
    assert Index.build([]).segment("abc") == [Span(0, 3, "abc")]
    index = Index.build([Text("a", "A", "", "hello world"), Text("b", "B", "", "")])
    assert index.segment("") == []
    assert index.segment("say hello world!", 5)[1].text == "hello world"
    assert index.segment("hello worldhello", 5)[0].text == "hello world"  # no match across the separator
    with pytest.raises(ValueError):
        index.segment("hello", 0)
    with pytest.raises(ValueError):
        Index.build([Text("a", "A", "", "x"), Text("a", "B", "", "y")])


def test_sources_are_capped_and_counted():
    texts = [Text("a", "A", "Author", "the cat sat. " * 30), Text("b", "B", "Author", "a cat sat. " * 30)]
    [span] = Index.build(texts).segment("cat sat. ", 5, max_sources=40)
    assert span.count == 60 and len(span.sources) == 40
    assert [s.offset for s in span.sources[:3]] == [4, 17, 30] and span.books == ("a", "b")
    first = span.sources[1]
    assert first.before == "the cat sat. the " and first.after.startswith("the cat sat.")
    assert len(span.sources[-1].after) == attribution.CONTEXT


def test_summary_counts_per_book_in_order_of_first_appearance():
    def quote(start, text, *keys):
        return Span(start, start + len(text), text, tuple(Source(k, k.upper(), "", None, 0) for k in keys), len(keys))

    spans = [Span(0, 4, "abcd"), quote(4, "efghij", "b", "a"), Span(10, 12, "kl"), quote(12, "mnop", "a", "a")]
    s = summary(spans)
    assert (s.chars, s.quoted_chars, s.quotes, s.fraction) == (16, 10, 2, 10 / 16)
    assert (s.longest_chars, s.longest_text) == (6, "efghij")
    assert [(x.key, x.quotes, x.chars) for x in s.sources] == [("b", 1, 6), ("a", 2, 10)]
    assert summary([]).fraction == 0 and summary([]).longest_text == ""


def test_cache_loads_the_same_index_and_rebuilds_for_a_changed_library(tmp_path):
    texts = [
        Text("a", "A", "", "It was the best of times, it was the worst of times"),
        Text("b", "B", "", "Äpfel, Birnen"),
    ]
    generated = "xx it was the worst of times and Äpfel, Birnen yy"
    built = Index.cached(tmp_path, texts)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alphabet.npy", "codes.npy", "meta.json", "sa.npy"]
    for name in ("alphabet", "codes", "sa"):  # plain arrays, no pickle
        np.load(tmp_path / f"{name}.npy", allow_pickle=False)
    loaded = Index.load(tmp_path, texts)
    assert loaded.segment(generated) == built.segment(generated)
    with mock.patch.object(Index, "build", side_effect=AssertionError("rebuilt")):
        assert Index.cached(tmp_path, texts).segment(generated) == built.segment(generated)

    changed = [texts[0], Text("b", "B", "", "Äpfel, Birnen und Kirschen")]
    with pytest.raises(PoetError, match="another library"):
        Index.load(tmp_path, changed)
    rebuilt = Index.cached(tmp_path, changed)
    assert rebuilt.segment("und Kirschen!")[0].text == "und Kirschen"
    assert Index.load(tmp_path, changed).segment("und Kirschen!") == rebuilt.segment("und Kirschen!")

    (tmp_path / "sa.npy").write_bytes(b"damaged")
    with pytest.raises(PoetError, match="cannot read"):
        Index.load(tmp_path, changed)
    assert Index.cached(tmp_path, changed).segment(generated) == rebuilt.segment(generated)


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
    index = Index.build(books)
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
    [quote] = [s for s in Index.build(books).segment("Öäü ßxq\u4e00" + passage + "\u4e00qxz") if s.quoted]
    assert quote.text == passage
    assert [(s.key, s.offset) for s in quote.sources] == [("pg2229", offset)]

from unittest import mock

import pytest
from attribution_reference import check, corpora, generated
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_poet.attribution import Index, Segmenter, segment, summary
from torch_poet.errors import PoetError
from torch_poet.library import Library, Text


@settings(max_examples=150, deadline=None)
@given(corpora, generated, st.integers(1, 12))
def test_segment_equals_reference(texts, text, min_quote):
    check(texts, text, min_quote)


@settings(max_examples=60, deadline=None)
@given(corpora, generated, st.integers(1, 12), st.data())
def test_pieces_segment_like_the_whole(texts, text, min_quote, data):
    """A text fed in pieces (a stream, a file in chunks) gives the spans of the whole text."""
    index = Index.build(Library.from_texts(texts))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    segmenter = index.segmenter(min_quote)
    got = []
    for a, b in zip([0, *cuts], [*cuts, len(text)]):
        got += segmenter.feed(text[a:b])
    got += segmenter.finish()
    assert "".join(s.text for s in got) == text and all(text[s.start : s.end] == s.text for s in got)
    assert [s for s in got if s.count] == [s for s in index.segment(text, min_quote) if s.count]


def test_long_inputs_go_in_bounded_chunks():
    """A text many chunks long: the quote that crosses chunk borders is whole, the work is per chunk."""
    book = "".join(f"line {i} of a book that goes on; " for i in range(3000))
    index = Index.build(Library.from_texts([Text("a", "A", "", book)]), calibrate=False)
    noise = "qzx" * 30_000
    text = noise + book[5000:95000] + noise
    with (
        mock.patch.object(segment, "_CHUNK", 4096),
        mock.patch.object(Segmenter, "_segment", autospec=True, side_effect=Segmenter._segment) as calls,
    ):
        spans = index.segment(text, 50)
    assert [(s.start, s.end) for s in spans if s.quoted] == [(90_000, 180_000)]
    assert spans[1].sources[0].offset == 5000
    sizes = [len(c.args[1]) for c in calls.call_args_list]  # the undecided text segmented each time
    assert len(sizes) == len(text) // 4096 + 2  # one pass per chunk, and one to finish
    assert max(sizes[:20]) <= 4096 + 64  # before the quote: a chunk and a short undecided tail
    assert max(sizes) <= 90_000 + 2 * 4096  # a growing quote stays undecided, and no more than it


def test_edge_cases():
    index = Index.build(Library.from_texts([Text("a", "A", "", "hello world"), Text("b", "B", "", "")]))
    assert index.segment("") == []
    assert index.segment("say hello world!", 5)[1].text == "hello world"
    assert index.segment("hello worldhello", 5)[0].text == "hello world"  # no match across the separator
    assert index.segment("say hello\n\n  world!", 5)[1].text == "hello\n\n  world"  # layout-blind
    with pytest.raises(ValueError):
        index.segment("hello", 0)
    with pytest.raises(PoetError, match="names a twice"):
        Index.build(Library.from_texts([Text("a", "A", "", "x"), Text("a", "B", "", "y")]))


def test_phrases_are_shown_but_not_counted():
    index = Index.build(Library.from_texts([Text("a", "A", "", "the quiet morning light fell on the garden wall")]), calibrate=False)
    text = "zz the quiet morning light zz fell on the qq"
    plain = index.segment(text, 20)
    assert [s.text for s in plain if s.quoted] == ["the quiet morning light "]
    spans = index.segment(text, 20, phrases=True)
    assert [s.text for s in spans if s.quoted] == ["the quiet morning light "]
    assert [s.text for s in spans if s.phrase] == [" fell on the "]
    assert summary(spans).quotes == 1 and summary(spans).quoted_chars == len("the quiet morning light ")

from unittest import mock

import pytest
from attribution_reference import ALPHABET, check, corpora, generated
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_poet.attribution import Index, suffix_array
from torch_poet.library import Library, Text


@pytest.mark.parametrize("rounds, few", [(1, 0), (1, 2), (2, 8)])
@settings(max_examples=40, deadline=None)
@given(corpora, generated, st.integers(1, 12))
def test_long_matches_are_extended_exactly(rounds, few, texts, text, min_quote):
    # few lockstep keys force the one-by-one extension, the search for the next start inside a long match
    # and the character-wise check of a few rows
    with mock.patch.object(suffix_array, "_ROUNDS", rounds), mock.patch.object(suffix_array, "_FEW", few):
        check(texts, text, min_quote)


@pytest.mark.parametrize("first, distinct, width", [(0x4E00, 300, 2), (0x10000, 65_527, 4)])
@settings(max_examples=15, deadline=None)
@given(texts=corpora, text=generated, min_quote=st.integers(1, 12))
def test_large_alphabets_use_wider_symbols(first, distinct, width, texts, text, min_quote):
    # 65,527 characters and the corpora's 8 make a vocabulary of 65,535 (a model reads up to 65,536), which folds
    # to 65,535 codes: with the separator and the unknown symbol, past two bytes
    filler = Text("filler", "Filler", "", "".join(chr(first + i) for i in range(distinct)) + ALPHABET)
    assert Index.build(Library.from_texts([filler])).shards[0].codes.itemsize == width
    check([filler, *texts], text, min_quote)


@pytest.mark.parametrize("rounds", [1, 8])
@settings(max_examples=60, deadline=None)
@given(texts=corpora, text=generated, min_quote=st.integers(1, 12), most=st.integers(1, 90), cap=st.integers(1, 4))
def test_a_sharded_index_equals_one_index_over_everything(rounds, texts, text, min_quote, most, cap):
    """Shards of at most `most` characters (a text longer than that is a shard of its own): the same spans, counts
    and sources (the first `cap` in library order) as one index, long matches extended in each shard included."""
    library = Library.from_texts(texts)
    with mock.patch.object(suffix_array, "_ROUNDS", rounds):
        one, sharded = Index.build(library, calibrate=False), Index.build(library, calibrate=False, most=most)
        assert len(sharded.shards) == len(set(sharded.bounds)) - 1
        for phrases in (False, True):
            assert sharded.segment(text, min_quote, phrases, cap) == one.segment(text, min_quote, phrases, cap)

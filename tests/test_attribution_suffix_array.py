from unittest import mock

import pytest
from attribution_reference import check, corpora, generated
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_poet.attribution import Index, suffix_array
from torch_poet.library import Text


@pytest.mark.parametrize("rounds, few", [(1, 0), (1, 2), (2, 8)])
@settings(max_examples=40, deadline=None)
@given(corpora, generated, st.integers(1, 12))
def test_long_matches_are_extended_exactly(rounds, few, texts, text, min_quote):
    # few lockstep keys force the one-by-one extension, the search for the next start inside a long match
    # and the character-wise check of a few rows
    with mock.patch.object(suffix_array, "_ROUNDS", rounds), mock.patch.object(suffix_array, "_FEW", few):
        check(texts, text, min_quote)


@pytest.mark.parametrize("distinct, width", [(300, 2), (70_000, 4)])
@settings(max_examples=15, deadline=None)
@given(texts=corpora, text=generated, min_quote=st.integers(1, 12))
def test_large_alphabets_use_wider_symbols(distinct, width, texts, text, min_quote):
    filler = Text("filler", "Filler", "", "".join(chr(0x4E00 + i) for i in range(distinct)))
    assert Index.build([filler]).suffixes.codes.itemsize == width
    check([filler, *texts], text, min_quote)

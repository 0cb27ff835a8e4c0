import numpy as np
from attribution_reference import fold_reference
from hypothesis import given
from hypothesis import strategies as st

from torch_poet.attribution.folding import code_points, fold, fold_texts

LAYOUT = " \t\n\u2003\u3000-—‘’“”'\"ab"


@given(st.text(LAYOUT, max_size=40), st.booleans())
def test_fold_equals_the_plain_reference(text, wide):
    text += "\U0001d538" if wide else ""  # beyond U+FFFF: 4 bytes a code point
    folded, keep = fold(code_points(text))
    reference, origin = fold_reference(text)
    assert "".join(map(chr, folded.tolist())) == reference and np.flatnonzero(keep).tolist() == origin


def test_runs_do_not_continue_across_texts():
    folded, sizes, drops = fold_texts(["a  -", "- b", "", "c"])
    assert "".join(map(chr, folded.tolist())) == "a -- bc" and sizes.tolist() == [3, 3, 0, 1]
    assert drops.tolist() == [2]  # the second space of "a  -": the folded text goes on at position 2

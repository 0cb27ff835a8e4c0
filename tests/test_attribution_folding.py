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
    drops = []
    folded = list(fold_texts((code_points(t) for t in ["a  -", "- b", "", "c"]), drops))
    assert ["".join(map(chr, f.tolist())) for f in folded] == ["a -", "- b", "", "c"]
    assert [d.tolist() for d in drops] == [[2], [], [], []]  # the second space of "a  -": it goes on at position 2

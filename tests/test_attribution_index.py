import json
from unittest import mock

import numpy as np
import pytest

from torch_poet.attribution import CONTEXT, Index
from torch_poet.errors import PoetError
from torch_poet.library import Text


def test_sources_are_capped_and_counted():
    texts = [Text("a", "A", "Author", "the cat sat. " * 30), Text("b", "B", "Author", "a cat sat. " * 30)]
    [span] = Index.build(texts).segment("cat sat. ", 5, max_sources=40)
    assert span.count == 60 and len(span.sources) == 40
    assert [s.offset for s in span.sources[:3]] == [4, 17, 30] and span.books == ("a", "b")
    first = span.sources[1]
    assert first.before == "the cat sat. the " and first.after.startswith("the cat sat.")
    assert len(span.sources[-1].after) == CONTEXT


def test_cache_loads_the_same_index_and_rebuilds_for_a_changed_library(tmp_path):
    texts = [
        Text("a", "A", "", "It was the best of times, it was the worst of times"),
        Text("b", "B", "", "Äpfel, Birnen"),
    ]
    generated = "xx it was the worst of times and Äpfel, Birnen yy"
    said = []
    built = Index.cached(tmp_path, texts, log=said.append)
    assert said == ["building the attribution index (first time only)"]
    arrays = ["alphabet", "calibration", "codes", "drops", "sa"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{a}.npy" for a in arrays] + ["meta.json"])
    for name in arrays:  # plain arrays, no pickle
        np.load(tmp_path / f"{name}.npy", allow_pickle=False)
    loaded = Index.load(tmp_path, texts)
    assert loaded.threshold == built.threshold and loaded.rule() == built.rule()
    assert loaded.segment(generated, 5) == built.segment(generated, 5)
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


def test_an_index_in_the_old_format_is_rebuilt_once_with_a_notice(tmp_path):
    texts = [Text("a", "A", "", "It was the best of times, it was the worst of times")]
    Index.cached(tmp_path, texts)
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "format": 1}))  # as the first version wrote it
    (tmp_path / "drops.npy").unlink()
    said = []
    index = Index.cached(tmp_path, texts, log=said.append)
    assert said == [f"the attribution index in {tmp_path} was built by an older version: rebuilding it (once)"]
    assert index.segment("so it was the worst of times!", 10)[1].text == " it was the worst of times"
    said.clear()
    Index.cached(tmp_path, texts, log=said.append)
    assert said == []

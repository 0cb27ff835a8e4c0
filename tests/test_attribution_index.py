import json
from unittest import mock

import numpy as np
import pytest

from torch_poet.attribution import CONTEXT, Index
from torch_poet.errors import PoetError
from torch_poet.library import Library, Text, prepare


def prepared(texts: list[Text], cache) -> Library:
    return prepare([lambda t=t: t for t in texts], cache=cache, log=lambda m: None)


def test_sources_are_capped_and_counted():
    texts = [Text("a", "A", "Author", "the cat sat. " * 30), Text("b", "B", "Author", "a cat sat. " * 30)]
    [span] = Index.build(Library.from_texts(texts)).segment("cat sat. ", 5, max_sources=40)
    assert span.count == 60 and len(span.sources) == 40
    assert [s.offset for s in span.sources[:3]] == [4, 17, 30] and span.books == ("a", "b")
    first = span.sources[1]
    assert first.before == "the cat sat. the " and first.after.startswith("the cat sat.")
    assert len(span.sources[-1].after) == CONTEXT


def test_the_index_is_kept_beside_its_library_and_mapped_not_read(tmp_path):
    texts = [
        Text("a", "A", "", "It was the best of times, it was the worst of times"),
        Text("b", "B", "", "Äpfel, Birnen"),
    ]
    generated = "xx it was the worst of times and Äpfel, Birnen yy"
    library = prepared(texts, tmp_path)
    said = []
    built = Index.cached(library, log=said.append)
    assert said == ["building the attribution index (first time only)"]
    path = library.home / "index"
    arrays = ["alphabet", "calibration", "codes.0", "drops", "head.0", "sa.0", "sizes"]
    assert sorted(p.name for p in path.iterdir()) == sorted([f"{a}.npy" for a in arrays] + ["meta.json"])
    for name in arrays:  # plain arrays, no pickle
        np.load(path / f"{name}.npy", allow_pickle=False)
    loaded = Index.load(path, library)
    assert all(isinstance(a, np.memmap) for a in (loaded.shards[0].sa, loaded.shards[0].head, loaded.drops))
    assert loaded.threshold == built.threshold and loaded.rule() == built.rule()
    assert loaded.segment(generated, 5) == built.segment(generated, 5)
    with mock.patch.object(Index, "build", side_effect=AssertionError("rebuilt")):
        assert Index.cached(library).segment(generated) == built.segment(generated)

    changed = prepared([texts[0], Text("b", "B", "", "Äpfel, Birnen und Kirschen")], tmp_path)
    with pytest.raises(PoetError, match="another library"):
        Index.load(path, changed)  # another library's index, given to this one
    rebuilt = Index.cached(changed)
    assert rebuilt.segment("und Kirschen!")[0].text == "und Kirschen"
    assert Index.load(changed.home / "index", changed).segment("und Kirschen!") == rebuilt.segment("und Kirschen!")

    (changed.home / "index" / "sa.0.npy").write_bytes(b"damaged")
    with pytest.raises(PoetError, match="cannot read"):
        Index.load(changed.home / "index", changed)
    assert Index.cached(changed).segment(generated) == rebuilt.segment(generated)


def test_a_sharded_index_is_saved_and_loaded_whole(tmp_path):
    texts = [Text(f"t{i}", f"T{i}", "", f"book {i}: It was the best of times, it was the worst of times. " * 5)
             for i in range(5)]  # fmt: skip
    library = prepared(texts, tmp_path)
    built = Index.build(library, most=700)
    assert len(built.shards) == 3
    built.save(tmp_path / "sharded")
    loaded = Index.load(tmp_path / "sharded", library)
    generated = "so book 3: It was the best of times, it was the worst of times. zz It was the worst of times. zz"
    assert loaded.segment(generated, 8, max_sources=100) == built.segment(generated, 8, max_sources=100)
    common = loaded.segment(generated, 8, max_sources=100)[3]
    assert "was the worst of times." in common.text and {s.key for s in common.sources} == {f"t{i}" for i in range(5)}


def test_an_index_in_an_old_format_is_rebuilt_once_with_a_notice(tmp_path):
    library = prepared([Text("a", "A", "", "It was the best of times, it was the worst of times")], tmp_path)
    path = library.home / "index"
    Index.cached(library)
    meta = json.loads((path / "meta.json").read_text())
    (path / "meta.json").write_text(json.dumps({**meta, "format": 2}))  # as the version before shards wrote it
    said = []
    index = Index.cached(library, log=said.append)
    assert said == [f"the attribution index in {path} was built by an older version: rebuilding it (once)"]
    assert index.segment("so it was the worst of times!", 10)[1].text == " it was the worst of times"
    said.clear()
    Index.cached(library, log=said.append)
    assert said == []


def test_a_library_past_the_split_is_sorted_in_one_shard_per_core_at_once(tmp_path):
    """Cut as evenly as its texts allow, one shard a core (four at most), sorted at once; the same quotes."""
    from torch_poet.attribution import index

    texts = [Text(f"t{i}", "", "", f"book {i}: It was the best of times, it was the worst of times. " * (i + 3))
             for i in range(9)]  # fmt: skip
    library = Library.from_texts(texts)
    with mock.patch.object(index, "SPLIT_CHARS", 1000), mock.patch("os.cpu_count", return_value=3):
        bounds, workers = index.shard_plan(library)
        sharded = Index.build(library, calibrate=False)
    assert workers == 3 and len(bounds) == 4 and sharded.bounds == bounds
    sizes = [sum(t.text.__len__() for t in texts[a:b]) for a, b in zip(bounds, bounds[1:])]
    assert max(sizes) < 1.5 * library.chars / 3  # even, as whole texts allow
    one = Index.build(library, calibrate=False, most=library.chars)
    generated = "so book 8: It was the best of times, it was the worst of times. And book 2: It was"
    assert len(one.shards) == 1 and sharded.segment(generated, 8, max_sources=99) == one.segment(generated, 8, max_sources=99)

"""The library (library/): prepared once into memory-mapped files that hold exactly what the in-memory path held,
reused, rebuilt when damaged, safe against kills and a second process; and its word set."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import lib
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_poet.errors import PoetError
from torch_poet.library import SEP, Library, Part, Text, open_prepared, prepare, readability, words_of
from torch_poet.library.texts import WORD
from torch_poet.train.data import Batches

TEXTS = [Text("a", "A", "Ann", "It was the best of times,\nit was the worst of times.\n" * 40),
         Text("b", "B", "Bea", ""),
         Text("c", "Crème", "Cé", "Élodie's café — “naïve” façade 日本語 \U0001d538.\n" * 30)]  # fmt: skip


def readers(texts: list[Text]) -> list:
    return [lambda t=t: t for t in texts]


def quiet(message: str) -> None:
    pass


def test_readability_is_the_share_of_words_found_in_the_library():
    library = lib("The cat sat on the mat; Élodie's 2 dogs ran.")
    assert library.words == {"the", "cat", "sat", "on", "mat", "élodie", "s", "dogs", "ran"}
    assert readability("THE cat zat, the dog", library.words) == 3 / 5  # case ignored; "zat", "dog" are not words
    assert readability("élodie42mat", library.words) == 1.0  # digits split words
    assert readability("  12 ... !", library.words) == 0.0  # no words: nothing readable


@given(st.text(st.characters(max_codepoint=0x2FF) | st.sampled_from("İK’—ǅ"), max_size=60))
def test_the_byte_word_splitter_equals_the_regular_expression(text):
    assert words_of(text) == set(WORD.findall(text.lower()))


def old_split(texts: list[Text], fraction: float) -> tuple[str, str]:
    """The in-memory path before libraries were prepared: the texts' shares joined by SEP, as strings."""
    cut = [len(t.text) - int(len(t.text) * fraction) for t in texts]
    return SEP.join(t.text[:c] for t, c in zip(texts, cut)), SEP.join(t.text[c:] for t, c in zip(texts, cut))


def test_the_prepared_tokens_and_parts_are_what_the_in_memory_path_held(tmp_path):
    library = prepare(readers(TEXTS), cache=tmp_path, log=quiet)
    vocab = library.vocab
    assert vocab == "".join(sorted(set("".join(t.text for t in TEXTS)) | {"\n"}))
    assert library.tokens.dtype == np.uint8 and isinstance(library.tokens, np.memmap)
    naive = np.array([vocab.index(c) for c in SEP.join(t.text for t in TEXTS)])
    assert np.array_equal(np.fromfile(library.home / "tokens.bin", np.uint8), naive)
    assert [library.text(i) for i in range(3)] == [t.text for t in TEXTS]
    assert library.text(2, 5, 12) == TEXTS[2].text[5:12] and library.words == Library.from_texts(TEXTS).words
    for fraction in (0.05, 0.3):
        for part, old in zip(library.split(fraction), old_split(TEXTS, fraction)):
            assert len(part) == len(old)
            assert "".join(vocab[i] for i in part.take(np.arange(len(part)))) == old
        # the batches of one seed, from the prepared part and from the old tensor (one piece, read as it is)
        train = torch.tensor([vocab.index(c) for c in old_split(TEXTS, fraction)[0]])
        whole = Part(train.numpy(), np.array([0]), np.array([len(train)]), np.array([len(train)]), np.array([0]))
        new, ref = (Batches(p, 3, 16, torch.Generator().manual_seed(7)) for p in (library.split(fraction)[0], whole))
        for _ in range(2 * new.steps_per_epoch + 1):  # past an epoch's random shift
            (x, y, fresh), (x0, y0, fresh0) = new.next(), ref.next()
            assert torch.equal(x, x0) and torch.equal(y, y0) and fresh == fresh0


def test_a_prepared_library_is_reused_and_another_text_is_another_library(tmp_path):
    said = []
    first = prepare(readers(TEXTS), cache=tmp_path, log=said.append)
    written = (first.home / "meta.json").stat().st_mtime_ns
    again = prepare(readers(TEXTS), cache=tmp_path, log=said.append)
    assert again.home == first.home and (again.home / "meta.json").stat().st_mtime_ns == written and not said
    changed = prepare(readers([*TEXTS[:2], Text("c", "C", "", "another text")]), cache=tmp_path, log=quiet)
    assert changed.home != first.home and changed.fingerprint != first.fingerprint


def test_a_damaged_prepared_library_is_prepared_again(tmp_path):
    good = prepare(readers(TEXTS), cache=tmp_path, log=quiet)
    home, tokens = good.home, (good.home / "tokens.bin").read_bytes()
    breakages = {
        "tokens cut short": lambda: (home / "tokens.bin").write_bytes(tokens[:-10]),
        "tokens zeroed": lambda: (home / "tokens.bin").write_bytes(bytes(len(tokens))),
        "meta not json": lambda: (home / "meta.json").write_text("{"),
        "meta empty": lambda: (home / "meta.json").write_bytes(b""),
        "table edited": lambda: (home / "texts.json").write_text((home / "texts.json").read_text().replace("Ann", "Bob")),
        "words gone": lambda: (home / "words.txt").unlink(),
    }  # fmt: skip
    for why, breaks in breakages.items():
        breaks()
        with pytest.raises(PoetError, match="missing or damaged"):
            open_prepared(home)
        said = []
        again = prepare(readers(TEXTS), cache=tmp_path, log=said.append)
        assert len(said) == 1 and said[0].endswith("preparing it again"), (why, said)
        assert [again.text(i) for i in range(3)] == [t.text for t in TEXTS] and again.words == good.words, why


def test_characters_past_one_byte_take_two_and_past_two_bytes_are_refused(tmp_path):
    wide = "".join(chr(0x4E00 + i) for i in range(300)) + " \U0001d538"
    library = prepare(readers([Text("w", "W", "", wide)]), cache=tmp_path, log=quiet)
    assert library.tokens.dtype == np.dtype("<u2") and library.text(0) == wide
    huge = "".join(chr(c) for c in range(0x20000, 0x20000 + 65_537))
    with pytest.raises(PoetError, match=r"65,537 distinct characters, more than the 65,536 a model can read"):
        prepare(readers([Text("h", "H", "", huge)]), cache=tmp_path, log=quiet)


PREPARE = """
import sys
from torch_poet.library import Text, prepare
body = open(sys.argv[2]).read()
read = [lambda i=i: Text(f"t{i}", "", "", f"{i} " + body) for i in range(int(sys.argv[3]))]
print(prepare(read, cache=sys.argv[1], log=lambda m: None).home, flush=True)
"""


def preparing(cache: Path, book: Path, texts: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PREPARE, str(cache), str(book), str(texts)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


@pytest.fixture
def book(tmp_path) -> Path:
    from conftest import SHARED

    path = tmp_path / "book.txt"
    path.write_text((SHARED / "corpora/tiny-shakespeare.txt").read_text())
    return path


def test_a_kill_at_any_moment_of_a_preparation_leaves_nothing_half_written(tmp_path, book):
    cache = tmp_path / "cache"
    for delay in (0.6, 1.0, 1.4, 1.8):  # after the imports: while reading, encoding, writing
        p = preparing(cache, book, 24)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        for home in (cache / "libraries").glob("[!.]*"):
            open_prepared(home)  # whatever was published is whole
    p = preparing(cache, book, 24)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    library = open_prepared(Path(out.strip()))
    assert library.text(23)[:3] == "23 " and len(library.entries) == 24
    assert not [q.name for q in (cache / "libraries").iterdir() if q.name.endswith(".tmp")]  # leftovers removed


def test_two_processes_preparing_one_library_at_once_share_one(tmp_path, book):
    cache = tmp_path / "cache"
    both = [preparing(cache, book, 8) for _ in range(2)]
    homes = []
    for p in both:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        homes.append(out.strip())
    assert homes[0] == homes[1] and len([q for q in (cache / "libraries").iterdir() if q.is_dir()]) == 1


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text("ab \n\u00e9", max_size=30), min_size=1, max_size=4), st.sampled_from([0.0, 0.1, 0.5]))
def test_parts_equal_the_joined_strings(bodies, fraction):
    texts = [Text(f"k{i}", "", "", b) for i, b in enumerate(bodies)]
    library = Library.from_texts(texts)
    for part, old in zip(library.split(fraction), old_split(texts, fraction)):
        assert "".join(library.vocab[i] for i in part.take(np.arange(len(part)))) == old

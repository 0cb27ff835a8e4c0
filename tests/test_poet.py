"""`Poet` (poet.py): a trained model as one object: generate, stream, highlight, load. The model is helpers'
tiny LSTM trained on two short texts."""

from __future__ import annotations

import re

import pytest
import torch
from helpers import AUSTEN, BRONTE, reference_greedy
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_poet.chat import Conversation
from torch_poet.config import SampleConfig
from torch_poet.errors import PoetError
from torch_poet.generate import encode
from torch_poet.poet import Poet
from torch_poet.render import ansi_parts

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def poet(home) -> Poet:
    return Poet.load(home / "projects/test/tiny", device="cpu")


# --- generation -----------------------------------------------------------------------------------------------------


def test_fixed_seed_reproduces_and_seeds_differ(poet):
    a = poet.generate(". ", 300, temperature=0.8, seed=7)
    assert a == poet.generate(". ", 300, temperature=0.8, seed=7)
    assert a != poet.generate(". ", 300, temperature=0.8, seed=8)
    assert len(a) == 300 and isinstance(a, str)


def test_temperature_zero_is_argmax(poet):
    ids = encode(poet.vocab, "It is a ")
    text = poet.generate("It is a ", 80, temperature=0)
    assert encode(poet.vocab, text) == reference_greedy(poet.model, ids, 80)
    assert poet.generate("It is a ", 80, temperature=0, seed=1) == poet.generate("It is a ", 80, temperature=0, seed=2)


def test_trained_model_quotes_its_books(poet):
    h = poet.highlight(poet.generate(". ", 300, temperature=0))
    assert h.summary.longest_chars >= 30  # greedy text of a model that learned its library by heart


def test_top_k_one_equals_greedy(poet):
    greedy = poet.generate(". ", 200, temperature=0)
    assert poet.generate(". ", 200, temperature=1.3, top_k=1, seed=3) == greedy
    assert poet.generate(". ", 200, temperature=2.0, top_p=1e-6, seed=3) == greedy


@pytest.mark.parametrize("kwargs", [{}, {"top_k": 5}, {"top_p": 0.8}, {"temperature": 0}])
def test_batch_equals_single_samples(poet, kwargs):
    kwargs = {"temperature": 0.9, **kwargs}
    batch = poet.generate("The ", 150, num=4, seed=11, **kwargs)
    assert batch == [poet.generate("The ", 150, seed=11 + i, **kwargs) for i in range(4)]
    if kwargs["temperature"]:
        assert len(set(batch)) == 4
    many = poet.generate("The ", 150, num=40, seed=11, **kwargs)  # a batch large enough for the other loop
    assert many[:4] == batch and many[39] == poet.generate("The ", 150, seed=50, **kwargs)


@pytest.mark.parametrize("kwargs", [{"top_k": 3}, {"top_p": 0.5}, {"top_k": 4, "top_p": 0.9}])
def test_top_k_and_top_p_restrict_the_choice(poet, kwargs):
    prompt = "The "
    text = poet.generate(prompt, 120, temperature=1.5, seed=5, **kwargs)
    ids = encode(poet.vocab, prompt + text)
    with torch.no_grad():
        logits, _ = poet.model(torch.tensor([ids]))
    probs = torch.softmax(logits[0] / 1.5, -1)
    for t in range(len(prompt) - 1, len(ids) - 1):
        p = probs[t]
        order = p.argsort(descending=True).tolist()
        rank = order.index(ids[t + 1])
        if "top_k" in kwargs:
            assert rank < kwargs["top_k"]
        if "top_p" in kwargs:
            assert float(p[order[:rank]].sum()) < kwargs["top_p"] + 1e-5


def test_min_p_reaches_generate_stream_and_chat(poet):
    greedy = poet.generate(". ", 200, temperature=0)
    assert poet.generate(". ", 200, temperature=1.5, min_p=1.0, seed=3) == greedy  # the likeliest character only
    assert "".join(c[0] for c in poet.stream(". ", SampleConfig(200, temperature=1.5, min_p=1.0, seed=3))) == greedy
    sampled = poet.generate(". ", 200, temperature=1.5, seed=3)
    assert sampled != poet.generate(". ", 200, temperature=1.5, min_p=0.3, seed=3) != greedy
    answer = Conversation(poet).turn("It is a truth", 1, SampleConfig(temperature=0))
    assert Conversation(poet).turn("It is a truth", 1, SampleConfig(temperature=1.5, min_p=1.0)) == answer
    with pytest.raises(PoetError, match=re.escape("--min-p must be a number from 0 to 1, not 1.5")):
        poet.generate(". ", 10, min_p=1.5)


def test_the_prompt_runs_through_the_model_once(poet):
    calls = []
    hook = poet.model.register_forward_hook(lambda module, args, out: calls.append(args[0].shape))
    try:
        poet.generate("It is a truth", 300, num=3, seed=1)
        poet.generate("It is a truth", 300, num=40, seed=1)
    finally:
        hook.remove()
    assert calls == [torch.Size([1, 13])] * 2  # one forward over the whole prompt; the state is carried from there


def test_stream_chunks_join_to_the_same_text(poet):
    whole = poet.generate(". ", 300, temperature=0.8, seed=9, num=2)
    for chunk in (1, 7, 64, 1000):
        s = poet.stream(". ", SampleConfig(300, temperature=0.8, num=2, seed=9), chunk=chunk)
        parts = list(s)
        assert all(len(p) == 2 for p in parts)
        assert ["".join(p[i] for p in parts) for i in range(2)] == whole == s.texts
        assert len(parts) == -(-300 // chunk)
    s = poet.stream(". ", SampleConfig(300, temperature=0.8, seed=9))
    assert "".join(c[0] for c in s) == whole[0]
    s = poet.stream(". ", SampleConfig(300, temperature=0.8, seed=9))
    assert s.read(5)[0] + s.read(100)[0] + s.read(1000)[0] == whole[0]  # read(n) stops at the length


def test_context_continues_the_text(poet):
    s = poet.stream("It ", SampleConfig(100, temperature=0))
    first = s.read_all()[0]
    more = poet.sampler.generate("", SampleConfig(100, temperature=0), state=s.context)[0]
    assert first + more == poet.generate("It ", 200, temperature=0)
    # a prompt after a context is read on top of it, once
    after = poet.sampler.generate(" and", SampleConfig(50, temperature=0), state=s.context)[0]
    assert after == poet.generate("It " + first + " and", 50, temperature=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": -0.1}, "--temperature must be a number >= 0"),
        ({"temperature": float("nan")}, "--temperature must be"),
        ({"top_k": 0}, "--top-k must be a whole number >= 1"),
        ({"top_p": 0.0}, "--top-p must be a number > 0 and <= 1"),
        ({"top_p": 1.5}, "--top-p must be a number > 0 and <= 1"),
        ({"num": 0}, "--num must be"),
    ],
)
def test_invalid_settings_are_poet_errors(poet, kwargs, message):
    with pytest.raises(PoetError, match=re.escape(message)):
        poet.generate(". ", 10, **kwargs)


def test_unknown_prompt_characters(poet):
    with pytest.raises(PoetError) as e:
        poet.generate("Hello ☃ wörld", 10)
    assert "'☃'" in str(e.value) and "'ö'" in str(e.value) and "pass skip_unknown=True" in str(e.value)
    assert "\n" not in str(e.value)
    with pytest.warns(UserWarning, match="dropping characters"):
        text = poet.generate("Hello ☃ wörld", 50, temperature=0, skip_unknown=True)
    assert text == poet.generate("Hello  wrld", 50, temperature=0)
    with pytest.raises(PoetError, match="the prompt is empty"):
        poet.generate("", 10)


def test_snapshot_loads_on_cpu_and_last_snapshot(home):
    poet = Poet.load(project="test", model="tiny", root=home, which="last")
    assert poet.model.head.weight.device.type == "cpu"
    assert "LSTM" in repr(poet)
    with pytest.raises(PoetError, match="no model"):
        Poet.load(project="test", model="missing", root=home)


# --- highlighting --------------------------------------------------------------------------------------------------


def test_highlight_finds_quotes_and_sources(poet):
    text = "Nonsense zzz. It is a truth universally acknowledged, that a single man qqq; a rain so penetrating!"
    h = poet.highlight(text, min_quote=10)
    quotes = [s for s in h.spans if s.quoted]
    assert [q.text for q in quotes] == [
        "It is a truth universally acknowledged, that a single man ",
        " a rain so penetrating",
    ]
    assert quotes[0].sources[0].key == "file:austen.txt" and quotes[1].sources[0].key == "file:bronte.txt"
    assert "".join(s.text for s in h.spans) == text
    assert (poet.library().home / "index" / "meta.json").is_file()  # kept beside the prepared library
    assert "<span" in h._repr_html_() and "austen" in str(h)
    body, legend = ansi_parts(h.spans, color=False)  # as the CLI and chat print them
    assert re.sub(r"[«»]|\[\d\]", "", body) == text
    assert legend.startswith(f"{h.summary.fraction:.1%} of ") and legend.count("\n") == len(h.summary.sources) == 2


def test_stream_highlighted_gives_the_text_and_its_quotes_as_they_become_final(poet):
    greedy = SampleConfig(300, temperature=0)
    pairs = list(poet.stream_highlighted(". ", greedy, min_quote=10))
    text = "".join(chunk for chunk, _ in pairs)
    assert text == poet.generate(". ", 300, temperature=0) and pairs[-1][0] == ""  # then the rest of the spans
    spans = [(s.start, s.end, s.count) for _, new in pairs for s in new]
    assert spans == [(s.start, s.end, s.count) for s in poet.highlight(text, 10).spans]
    assert [new for _, new in poet.stream_highlighted(". ", greedy, quotes=False)] == [[]] * len(pairs)
    with pytest.raises(PoetError, match="num=2"):
        poet.stream_highlighted(". ", SampleConfig(10, num=2))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_live_segmenter_equals_segmenting_the_whole_text(poet, data):
    pieces = data.draw(
        st.lists(
            st.sampled_from([AUSTEN[:80], AUSTEN[150:260], BRONTE[40:200], "xq zz", " ", "abc.", "Mr. Be"]), max_size=8
        )
    )
    text = "".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=10)))
    min_quote = data.draw(st.sampled_from([5, 10, 20]))
    index = poet.index()
    live = index.segmenter(min_quote)
    got = []
    for a, b in zip([0] + cuts, cuts + [len(text)]):
        got += live.feed(text[a:b])
    got += live.finish()
    want = index.segment(text, min_quote)
    assert "".join(s.text for s in got) == text
    assert [(s.start, s.end, s.count) for s in got if s.quoted] == [(s.start, s.end, s.count) for s in want if s.quoted]
    assert all(text[s.start : s.end] == s.text for s in got)

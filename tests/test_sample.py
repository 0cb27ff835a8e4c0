"""Sampling (sample.py), the Poet API (poet.py) and `poet generate` / `poet highlight`.

A small LSTM is trained for a few seconds on two short texts (local files, so the library reloads offline)
and saved like `poet train` saves it; random-weight models of both cells and several depths check the
lean decode loop against CharRNN.forward.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_poet.checkpoint import save_snapshot, write_json
from torch_poet.errors import PoetError
from torch_poet.library import Library, read_file
from torch_poet.model import CharRNN, ModelConfig
from torch_poet.attribution import Segmenter
from torch_poet.poet import Poet, SentenceCounter
from torch_poet.render import ansi_parts
from torch_poet.sample import Sampler, encode, generate, prime

AUSTEN = """It is a truth universally acknowledged, that a single man in possession of a good fortune, must be
in want of a wife. However little known the feelings or views of such a man may be on his first entering a
neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered the
rightful property of some one or other of their daughters. "My dear Mr. Bennet," said his lady to him one day,
"have you heard that Netherfield Park is let at last?" Mr. Bennet replied that he had not. "But it is," returned
she; "for Mrs. Long has just been here, and she told me all about it." Mr. Bennet made no answer.
"""
BRONTE = """There was no possibility of taking a walk that day. We had been wandering, indeed, in the leafless
shrubbery an hour in the morning; but since dinner the cold winter wind had brought with it clouds so sombre,
and a rain so penetrating, that further out-door exercise was now out of the question. I was glad of it: I
never liked long walks, especially on chilly afternoons: dreadful to me was the coming home in the raw
twilight, with nipped fingers and toes, and a heart saddened by the chidings of Bessie, the nurse.
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")
ENV = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "POET_GUTENBERG_URL")}
ENV["OMP_NUM_THREADS"] = "1"  # the CLI tests run in parallel with whatever else shares the machine


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: these models are tiny, and on a shared machine idle OpenMP threads only spin."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_model(where: Path, steps: int = 250) -> Path:
    """A 2x64 LSTM trained briefly on AUSTEN + BRONTE, saved as $where/projects/test/tiny."""
    model_dir = where / "projects" / "test" / "tiny"
    if (model_dir / "best.safetensors").exists():
        return model_dir
    books = where / "books"
    books.mkdir(parents=True, exist_ok=True)
    (books / "austen.txt").write_text(AUSTEN)
    (books / "bronte.txt").write_text(BRONTE)
    library = Library.from_texts([read_file(books / "austen.txt"), read_file(books / "bronte.txt")])
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=len(library.vocab), layers=2, hidden=64, embedding=16, dropout=0.0)
    model = CharRNN(config)
    data, _ = library.split(0.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        starts = torch.randint(0, len(data) - 65, (32,), generator=g)
        batch = torch.stack([data[s : s + 65] for s in starts.tolist()])
        logits, _ = model(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    meta = {"step": steps, "loss": loss.item()}
    for which in ("best", "last"):
        save_snapshot(model_dir / f"{which}.safetensors", model, None, meta, {})
    from dataclasses import asdict

    write_json(
        model_dir / "config.json",
        {
            "model": asdict(config),
            "train": {},
            "vocab": library.vocab,
            "library": {"spec": {"files": []}, "texts": library.record(), "fingerprint": library.fingerprint()},
        },
    )
    return model_dir


@pytest.fixture(scope="session")
def home(tmp_path_factory) -> Path:
    """A POET_HOME holding the trained test model (built once per session)."""
    where = tmp_path_factory.getbasetemp() / "trained-home"
    train_model(where)
    return where


@pytest.fixture(scope="session")
def poet(home) -> Poet:
    return Poet.load(home / "projects/test/tiny", device="cpu")


def random_model(cell="lstm", layers=2, hidden=32, vocab=40, seed=0) -> CharRNN:
    torch.manual_seed(seed)
    model = CharRNN(ModelConfig(vocab_size=vocab, cell=cell, layers=layers, hidden=hidden, embedding=8))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)  # peaky distributions: greedy paths that are not constant
    return model.eval()


VOCAB40 = "".join(chr(c) for c in range(ord("A"), ord("A") + 26)) + " .,;:!?'-()\n\"&"


def reference_greedy(model: CharRNN, ids: list[int], length: int) -> list[int]:
    """Greedy decoding the slow, obvious way: the whole text through forward at every step."""
    ids = list(ids)
    out = []
    with torch.no_grad():
        for _ in range(length):
            logits, _ = model(torch.tensor([ids]))
            out.append(int(logits[0, -1].argmax()))
            ids.append(out[-1])
    return out


# --- sampling -------------------------------------------------------------------------------------------------------


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


def test_sampling_follows_the_distribution():
    model = random_model(vocab=8, hidden=16)
    vocab = "abcdefgh"
    ctx = prime(model, encode(vocab, "abc"))
    n = 20000
    texts = generate(model, vocab, "", 1, temperature=0.7, num=n, seed=0, state=ctx)
    counts = torch.bincount(torch.tensor(encode(vocab, "".join(texts))), minlength=8).double()
    expected = torch.softmax(ctx.logits[0].double() / 0.7, -1) * n
    chi2 = float(((counts - expected) ** 2 / expected.clamp(min=1e-9)).sum())
    assert chi2 < 30, (counts, expected)  # 7 degrees of freedom: p < 1e-4 by chance


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_lean_loop_equals_forward(cell, layers):
    model = random_model(cell, layers, hidden=48, vocab=len(VOCAB40), seed=layers)
    sampler = Sampler(model, VOCAB40)
    prompt = "IT IS A TRUTH "
    want = reference_greedy(model, encode(VOCAB40, prompt), 200)
    for num in (1, 40):  # the loop for a few samples and the one for many
        s = sampler.stream(prompt, 200, temperature=0, num=num)
        texts = s.read_all()
        assert all(encode(VOCAB40, text) == want for text in texts)
        # the state after 200 lean steps equals forward over the whole text
        ctx, ref = s.context, prime(model, encode(VOCAB40, prompt + texts[0])).expand(num)
        torch.testing.assert_close(ctx.logits, ref.logits, atol=2e-5, rtol=1e-4)
        for mine, theirs in zip(ctx.state, ref.state):
            for a, b in zip(mine, theirs):
                torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)
    # and sampled text equals the plain path's, character for character
    for kw in ({"temperature": 0.9}, {"temperature": 1.2, "top_k": 5}, {"temperature": 1.0, "top_p": 0.9}):
        fast = sampler.generate(prompt, 200, seed=4, num=3, **kw)
        assert fast == Sampler(model, VOCAB40, fast=False).generate(prompt, 200, seed=4, num=3, **kw)


def test_the_prompt_runs_through_the_model_once(poet):
    calls = []
    hook = poet.model.register_forward_hook(lambda module, args, out: calls.append(args[0].shape))
    try:
        poet.generate("It is a truth", 300, num=3, seed=1)
        poet.generate("It is a truth", 300, num=40, seed=1)
    finally:
        hook.remove()
    assert calls == [torch.Size([1, 13])] * 2  # one forward over the whole prompt; the state is carried from there


def test_decode_loops_are_compiled():
    """A loop that failed to compile would still give right answers, silently 10x slower: catch that here."""
    from torch_poet import sample

    for name in ("_lstm_loop", "_lstm_small_loop", "_gru_loop", "_gru_small_loop", "_filter", "_pick", "_linear"):
        assert isinstance(getattr(sample, name), torch.jit.ScriptFunction), name


def test_stream_chunks_join_to_the_same_text(poet):
    whole = poet.generate(". ", 300, temperature=0.8, seed=9, num=2)
    for chunk in (1, 7, 64, 1000):
        s = poet.stream_samples(". ", 300, 0.8, num=2, seed=9, chunk=chunk)
        parts = list(s)
        assert all(len(p) == 2 for p in parts)
        assert ["".join(p[i] for p in parts) for i in range(2)] == whole == s.texts
        assert len(parts) == -(-300 // chunk)
    assert "".join(poet.stream(". ", 300, temperature=0.8, seed=9)) == whole[0]
    s = poet.stream_samples(". ", 300, 0.8, seed=9)
    assert s.read(5)[0] + s.read(100)[0] + s.read(1000)[0] == whole[0]  # read(n) stops at the length


def test_context_continues_the_text(poet):
    s = poet.stream_samples("It ", 100, 0)
    first = s.read_all()[0]
    more = poet.sampler.generate("", 100, temperature=0, state=s.context)[0]
    assert first + more == poet.generate("It ", 200, temperature=0)
    # a prompt after a context is read on top of it, once
    after = poet.sampler.generate(" and", 50, temperature=0, state=s.context)[0]
    assert after == poet.generate("It " + first + " and", 50, temperature=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": -0.1}, "temperature must be a number >= 0"),
        ({"temperature": float("nan")}, "temperature must be"),
        ({"top_k": 0}, "top-k must be a whole number >= 1"),
        ({"top_p": 0.0}, "top-p must be in (0, 1]"),
        ({"top_p": 1.5}, "top-p must be in (0, 1]"),
        ({"num": 0}, "num must be"),
    ],
)
def test_invalid_settings_are_poet_errors(poet, kwargs, message):
    with pytest.raises(PoetError, match=re.escape(message)):
        poet.generate(". ", 10, **kwargs)


def test_unknown_prompt_characters(poet):
    with pytest.raises(PoetError) as e:
        poet.generate("Hello ☃ wörld", 10)
    assert "'☃'" in str(e.value) and "'ö'" in str(e.value) and "--skip-unknown" in str(e.value)
    assert "\n" not in str(e.value)
    with pytest.warns(UserWarning, match="dropping characters"):
        text = poet.generate("Hello ☃ wörld", 50, temperature=0, skip_unknown=True)
    assert text == poet.generate("Hello  wrld", 50, temperature=0)
    with pytest.raises(PoetError, match="the prompt is empty"):
        poet.generate("", 10)


def test_generation_leaves_a_training_model_in_training_mode():
    model = random_model()
    model.train()
    model.config.dropout = 0.5
    a = generate(model, VOCAB40, "AB", 50, temperature=0)
    assert model.training
    assert a == generate(model.eval(), VOCAB40, "AB", 50, temperature=0)


def test_generation_inside_a_trainers_autocast_block():
    model = random_model()
    want = generate(model, VOCAB40, "AB", 100, temperature=0.8, seed=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert generate(model, VOCAB40, "AB", 100, temperature=0.8, seed=2) == want


def test_prepared_weights_follow_parameter_updates():
    model = random_model()
    sampler = Sampler(model, VOCAB40)
    before = sampler.generate("AB", 80, temperature=0)
    with torch.no_grad():
        model.head.bias[VOCAB40.index("Q")] += 100.0  # in place, as an optimizer step is
    assert sampler.generate("AB", 80, temperature=0) == ["Q" * 80] != before


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
    assert (poet.dir / "index").is_dir()
    assert "<span" in h._repr_html_() and "austen" in str(h)
    body, legend = ansi_parts(h.spans, color=False)  # as the CLI and chat print them
    assert re.sub(r"[«»]|\[\d\]", "", body) == text
    assert legend.startswith(f"{h.summary.fraction:.1%} of ") and legend.count("\n") == len(h.summary.sources) == 2


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_live_segmenter_equals_segmenting_the_whole_text(poet, data):
    pieces = data.draw(
        st.lists(st.sampled_from([AUSTEN[:80], AUSTEN[150:260], BRONTE[40:200], "xq zz", " ", "abc.", "Mr. Be"]), max_size=8)
    )
    text = "".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=10)))
    min_quote = data.draw(st.sampled_from([5, 10, 20]))
    index = poet.index()
    live = Segmenter(index, min_quote)
    got = []
    for a, b in zip([0] + cuts, cuts + [len(text)]):
        got += live.feed(text[a:b])
    got += live.finish()
    want = index.segment(text, min_quote)
    assert "".join(s.text for s in got) == text
    assert [(s.start, s.end, s.count) for s in got if s.quoted] == [(s.start, s.end, s.count) for s in want if s.quoted]
    assert all(text[s.start : s.end] == s.text for s in got)


def test_sentence_counter():
    c = SentenceCounter()
    assert c.feed("Mr. Bennet said so. Really? ") == 2
    assert c.feed('"Yes!" she cried. ') == 4
    assert c.feed("No") == 4


def test_chat_turns_carry_state_and_reset(poet):
    poet.reset()
    first = poet.chat_turn("It is a truth", sentences=1, temperature=0.5, seed=3)
    assert 0 < SentenceCounter().feed(first + " ") <= 1
    poet.chat_turn("It is a truth", sentences=1, temperature=0.5, seed=3)
    poet.reset()
    assert poet.chat_turn("It is a truth", sentences=1, temperature=0.5, seed=3) == first
    # the state carries over: after two turns it is the state after reading the whole conversation
    poet.reset()
    poet.chat_turn("It is a truth", sentences=1, temperature=0.5, seed=3)
    poet.chat_turn("Mr. Bennet", sentences=2, temperature=0.8, seed=4)
    assert poet.transcript.startswith("It is a truth") and first in poet.transcript and "Mr. Bennet" in poet.transcript
    ref = prime(poet.model, encode(poet.vocab, poet.transcript))
    torch.testing.assert_close(poet._context.logits, ref.logits, atol=1e-4, rtol=1e-4)
    # an empty turn lets the model go on; characters it never saw are dropped
    with pytest.warns(UserWarning):
        assert poet.chat_turn("☃", sentences=1, seed=1)
    poet.reset()
    assert poet.transcript == ""


# --- the command line ----------------------------------------------------------------------------------------------


def poet_cli(home: Path, *args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "torch_poet", *args],
        input=stdin, capture_output=True, text=True, timeout=120,
        env={**ENV, "POET_HOME": str(home), **(env or {})},
    )  # fmt: skip


MODEL = ("--project", "test", "--model", "tiny")


def test_cli_generate_json_matches_the_api(home, poet):
    r = poet_cli(home, "generate", *MODEL, "--json", "--seed", "5", "--length", "120", "--num", "2",
                 "--temperature", "0.5", "1.0", "--prompt", "It is")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [(s["temperature"], s["seed"]) for s in out["samples"]] == [(0.5, 5), (0.5, 6), (1.0, 5), (1.0, 6)]
    assert [s["text"] for s in out["samples"][:2]] == poet.generate("It is", 120, temperature=0.5, num=2, seed=5)
    assert all("".join(sp["text"] for sp in s["spans"]) == s["text"] for s in out["samples"])
    assert out["samples"][0]["summary"]["chars"] == 120
    assert [s["readability"] for s in out["samples"]] == [poet.readability(s["text"]) for s in out["samples"]]


def test_cli_generate_piped_prints_once_highlighted(home, poet, tmp_path):
    page = tmp_path / "out.html"
    r = poet_cli(home, "generate", *MODEL, "--seed", "1", "--length", "200", "--temperature", "0",
                 "--prompt", "It is a truth", "--html", str(page))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "\x1b[" not in r.stdout  # piped: no colour codes
    text = poet.generate("It is a truth", 200, temperature=0)
    assert "»[1]" in r.stdout or "»[2]" in r.stdout  # greedy text quotes the books it learned by heart
    assert "quoted in" in r.stdout and "[1] austen" in r.stdout
    assert r.stdout.endswith(f"\nreadability {poet.readability(text):.1%} (share of its words found in the library)\n")
    assert "poet-q" in page.read_text() and "wrote" in r.stderr
    plain = poet_cli(home, "generate", *MODEL, "--length", "200", "--temperature", "0", "--prompt", "It is a truth", "--plain")
    assert plain.stdout == text + "\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--temperature", "-1"], "temperature must be a number >= 0"),
        (["--top-p", "2"], "top-p must be in (0, 1]"),
        (["--top-k", "0"], "top-k must be a whole number >= 1"),
        (["--prompt", "snow ☃"], "characters the model never saw: '☃'"),
        (["--model", "nope"], "no model in"),
        (["--device", "floppy"], "unknown device 'floppy'"),
    ],
)
def test_cli_generate_errors_are_one_line(home, args, message):
    r = poet_cli(home, "generate", "--project", "test", "--model", "tiny", *args)
    assert r.returncode == 2
    assert r.stderr.startswith("poet: error: ") and message in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_cli_highlight_file_stdin_json(home, tmp_path):
    f = tmp_path / "mine.txt"
    f.write_text("Well. It is a truth universally acknowledged, said nobody.\n")
    r = poet_cli(home, "highlight", str(f), *MODEL)
    assert r.returncode == 0, r.stderr
    assert "«It is a truth universally acknowledged, »[1]" in r.stdout and "[1] austen" in r.stdout
    r = poet_cli(home, "highlight", "-", *MODEL, "--json", "--min-quote", "5", stdin=f.read_text())
    data = json.loads(r.stdout)
    assert data["summary"]["quotes"] >= 1 and data["spans"][1]["sources"][0]["key"] == "file:austen.txt"
    r = poet_cli(home, "highlight", str(tmp_path / "missing.txt"), *MODEL)
    assert r.returncode == 2 and r.stderr.startswith("poet: error: cannot read") and "Traceback" not in r.stderr


def test_cli_highlight_states_the_rule_and_shows_phrases(home, tmp_path, poet):
    f = tmp_path / "mine.txt"
    f.write_text("Well. It is a truth universally acknowledged, said nobody; a rain so penetrating.\n")
    rule = poet.index().rule()
    r = poet_cli(home, "highlight", str(f), *MODEL, "--json")
    data = json.loads(r.stdout)
    assert data["min_quote"] == rule.min_quote and data["summary"]["rule"] == rule.describe()
    assert data["summary"]["unseen"]["fraction"] == round(rule.unseen.fraction, 6)
    assert "per_1000" in data["summary"] and all("phrase" in s for s in data["spans"])
    r = poet_cli(home, "highlight", str(f), *MODEL, "--min-quote", "30", "--phrases", "--json")
    data = json.loads(r.stdout)
    assert data["min_quote"] == 30 and "set by --min-quote" in data["summary"]["rule"]
    assert [s["text"] for s in data["spans"] if s["quoted"]] == ["It is a truth universally acknowledged, "]
    assert [s["text"] for s in data["spans"] if s["phrase"]] == [" a rain so penetrating"]
    r = poet_cli(home, "highlight", str(f), *MODEL)
    assert f"\n{rule.describe()}\n" in r.stdout


@pytest.mark.slow
def test_cli_highlight_reads_a_big_file_in_bounded_memory(home, tmp_path):
    piece = "Zqx vvv. " + AUSTEN[:300] + " qqq zzx jjj kk." * 20 + "\n"
    small, big = tmp_path / "small.txt", tmp_path / "big.txt"
    small.write_text(piece)
    big.write_text(piece * (4_000_000 // len(piece)))
    code = ("import resource, sys; from torch_poet.cli import main; rc = main(sys.argv[1:]); "
            "print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)")  # fmt: skip

    def run(path: Path) -> tuple[subprocess.CompletedProcess, int]:
        r = subprocess.run([sys.executable, "-c", code, "highlight", str(path), *MODEL, "--no-color"],
                           capture_output=True, text=True, timeout=600, env={**ENV, "POET_HOME": str(home)})  # fmt: skip
        assert r.returncode == 0, r.stderr
        return r, int(re.search(r"maxrss (\d+)", r.stderr).group(1))  # KiB

    _, base = run(small)
    r, peak = run(big)
    pieces = 4_000_000 // len(piece)
    assert r.stdout.count("»[1]") == pieces  # each copy of the passage is one quote, wherever the chunks end
    assert f"quoted in {pieces:,} quotes" in r.stdout
    assert peak - base < 150_000  # memory follows the chunk (1 MB of text), not the 4 MB file


def test_cli_generate_streams_on_a_terminal(home, poet):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(
        sys.executable, ["-m", "torch_poet", "generate", *MODEL, "--seed", "3", "--length", "400",
                         "--temperature", "0.7", "0", "--prompt", "It "],
        env={**ENV, "POET_HOME": str(home), "TERM": "xterm-256color"}, encoding="utf-8", timeout=60,
        dimensions=(50, 200),
    )  # fmt: skip
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    out = ANSI.sub("", child.before.replace("\r\n", "\n"))
    assert "── temperature 0.7 · seed 3 ──" in out and "── temperature 0 · seed 3 ──" in out
    for t in (0.7, 0):
        text = poet.generate("It ", 400, temperature=t, seed=3)
        assert text in out  # streamed, coloured, and the same text as the API's
    assert out.count("quoted in") == 2 and out.count("% (share of its words found in the library)") == 2
    assert "\x1b[48;5;" in child.before  # quotes coloured on the terminal
    child = pexpect.spawn(
        sys.executable, ["-m", "torch_poet", "generate", *MODEL, "--seed", "3", "--length", "400", "--prompt", "It "],
        env={**ENV, "POET_HOME": str(home), "NO_COLOR": "1"}, encoding="utf-8", timeout=60,
    )  # fmt: skip
    child.expect(pexpect.EOF)
    assert "\x1b[" not in child.before and "»[1]" in child.before  # NO_COLOR: marked, not coloured

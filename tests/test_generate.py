"""The generation engine (torch_poet.generate): the lean decode loops against CharRNN.forward and the plain
reference decoder, the distribution sampled, the filters, and generation from a model in training."""

from __future__ import annotations

import pytest
import torch
from helpers import VOCAB40, random_model, reference_greedy

from torch_poet.config import SampleConfig
from torch_poet.generate import Sampler, encode, generate, prime

pytestmark = pytest.mark.usefixtures("one_thread")


def test_sampling_follows_the_distribution():
    model = random_model(vocab=8, hidden=16)
    vocab = "abcdefgh"
    ctx = prime(model, encode(vocab, "abc"))
    n = 20000
    texts = Sampler(model, vocab).generate("", SampleConfig(1, temperature=0.7, num=n, seed=0), state=ctx)
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
        s = sampler.stream(prompt, SampleConfig(200, temperature=0, num=num))
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
        sampling = SampleConfig(200, seed=4, num=3, **kw)
        assert sampler.generate(prompt, sampling) == Sampler(model, VOCAB40, fast=False).generate(prompt, sampling)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_min_p_keeps_the_characters_near_the_likeliest(cell):
    model = random_model(cell, 2, hidden=48, vocab=len(VOCAB40), seed=5)
    sampler, prompt = Sampler(model, VOCAB40), "IT IS A TRUTH "
    for num in (1, 40):  # the loops for a few samples and for many, against the plain path
        sampling = SampleConfig(150, temperature=1.2, min_p=0.2, seed=4, num=num)
        fast = sampler.generate(prompt, sampling)
        assert fast == Sampler(model, VOCAB40, fast=False).generate(prompt, sampling)
    ids = encode(VOCAB40, prompt + fast[0])
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids]))
    probs = torch.softmax(logits[0] / 1.2, -1)
    for t in range(len(prompt) - 1, len(ids) - 1):  # each character at least min_p times as likely as the likeliest
        assert probs[t, ids[t + 1]] >= 0.2 * probs[t].max() * (1 - 1e-4)
    assert fast[0] != sampler.generate(prompt, SampleConfig(150, temperature=1.2, seed=4))[0]  # the filter changed it
    greedy = sampler.generate(prompt, SampleConfig(150, temperature=0))
    assert sampler.generate(prompt, SampleConfig(150, temperature=1.5, min_p=1.0, seed=3)) == greedy  # the likeliest


def test_decode_loops_are_compiled():
    """A loop that failed to compile would still give right answers, silently 10x slower: catch that here."""
    from torch_poet.generate import jit, kernels, pick

    for module, name in [(kernels, "lstm_loop"), (kernels, "lstm_small_loop"), (kernels, "gru_loop"),
                         (kernels, "gru_small_loop"), (pick, "filter_scores"), (pick, "pick"), (jit, "linear")]:  # fmt: skip
        assert isinstance(getattr(module, name), torch.jit.ScriptFunction), name


def test_generation_leaves_a_training_model_in_training_mode():
    model = random_model()
    model.train()
    model.config.dropout = 0.5
    a = generate(model, VOCAB40, "AB", SampleConfig(50, temperature=0))
    assert model.training
    assert a == generate(model.eval(), VOCAB40, "AB", SampleConfig(50, temperature=0))


def test_generation_inside_a_trainers_autocast_block():
    model = random_model()
    sampling = SampleConfig(100, temperature=0.8, seed=2)
    want = generate(model, VOCAB40, "AB", sampling)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert generate(model, VOCAB40, "AB", sampling) == want


def test_prepared_weights_follow_parameter_updates():
    model = random_model()
    sampler = Sampler(model, VOCAB40)
    greedy = SampleConfig(80, temperature=0)
    before = sampler.generate("AB", greedy)
    with torch.no_grad():
        model.head.bias[VOCAB40.index("Q")] += 100.0  # in place, as an optimizer step is
    assert sampler.generate("AB", greedy) == ["Q" * 80] != before

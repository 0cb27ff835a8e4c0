"""Training: it learns, resumes exactly, survives kills, and refuses what it cannot do, clearly."""

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import pytest
import torch

from conftest import poet, wait_for_snapshot

from torch_poet import checkpoint
from torch_poet.errors import PoetError
from torch_poet.library import Library, Text, readability
from torch_poet.model import ModelConfig
from torch_poet.sample import generate
from torch_poet.train import MEASURE_TEMPERATURE, Streams, TrainConfig, Trainer, sample_prompt

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHAKESPEARE = SHARED / "corpora" / "tiny-shakespeare.txt"


def lib(text: str) -> Library:
    return Library.from_texts([Text(key="t", title="t", author="a", text=text)])


def tiny(**kw) -> TrainConfig:
    base = dict(batch_size=8, seq_len=32, lr=1e-2, warmup_steps=5, snapshot_every=60, seed=3, precision="fp32")
    return TrainConfig(**{**base, **kw})


def unigram_entropy(text: str) -> float:
    n = len(text)
    return -sum(c / n * math.log(c / n) for c in Counter(text).values())


def test_learns_real_text(tmp_path):
    text = SHAKESPEARE.read_text()[:20_000]
    t = Trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=128), tiny(steps=300, val_fraction=0.1))
    t.run()
    val = t.history[-1]["val_loss"]
    assert val < unigram_entropy(text) - 0.7, (val, unigram_entropy(text))
    assert t.history[-1]["val_bpc"] == pytest.approx(val / math.log(2), rel=1e-3)
    measured = generate(t.model, t.library.vocab, sample_prompt(t.library.vocab), t.cfg.sample_length,
                        temperature=MEASURE_TEMPERATURE, seed=t.cfg.seed + t.step)[0]  # the snapshot's sample, again
    assert 0 < t.history[-1]["readability"] == round(readability(measured, t.library.words), 4)


def test_readability_is_the_share_of_words_found_in_the_library():
    library = lib("The cat sat on the mat; Élodie's 2 dogs ran.")
    assert library.words == {"the", "cat", "sat", "on", "mat", "élodie", "s", "dogs", "ran"}
    assert readability("THE cat zat, the dog", library.words) == 3 / 5  # case ignored; "zat", "dog" are not words
    assert readability("élodie42mat", library.words) == 1.0  # digits split words
    assert readability("  12 ... !", library.words) == 0.0  # no words: nothing readable


def test_overfits_a_repeated_string(tmp_path):
    text = "the quick brown fox jumps over the lazy dog. " * 100
    t = Trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=64), tiny(steps=300))
    t.run()
    ids = torch.from_numpy(t.library.encode(text)).unsqueeze(0)
    with torch.no_grad():
        logits, _ = t.model.eval()(ids[:, :-1])
    # after one period of context the text is fully predictable
    loss = torch.nn.functional.cross_entropy(logits[0, 45:], ids[0, 46:])
    assert loss < 0.05


def params(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_is_exact(tmp_path):
    text = SHAKESPEARE.read_text()[:30_000]
    mcfg = dict(layers=2, hidden=32, dropout=0.2)  # dropout: the RNG state must be restored too
    cfg = dict(min_lr_ratio=1.0, batch_size=4, seq_len=16)  # same schedule whatever the horizon
    straight = Trainer(lib(text), tmp_path / "a", ModelConfig(**mcfg), tiny(steps=40, **cfg))
    straight.run()
    first = Trainer(lib(text), tmp_path / "b", ModelConfig(**mcfg), tiny(steps=20, **cfg))
    first.run()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "resuming with changed settings: steps"
        resumed = Trainer(lib(text), tmp_path / "b", ModelConfig(**mcfg), tiny(steps=40, **cfg))
    assert resumed.step == 20
    resumed.run()
    a, b = params(straight.model), params(resumed.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["step"] for h in resumed.history] == [20, 40]


def test_incompatible_resume_names_the_difference(tmp_path):
    text = SHAKESPEARE.read_text()[:10_000]
    Trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=32), tiny(steps=2)).run()
    with pytest.raises(PoetError, match=r"hidden=32.*hidden=64.*--model NEWNAME.*--restart"):
        Trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=64), tiny(steps=2))
    with pytest.raises(PoetError, match="different library"):
        Trainer(lib(text[:9000]), tmp_path / "m", ModelConfig(layers=1, hidden=32), tiny(steps=2))
    # --restart starts over
    t = Trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=64), tiny(steps=2), restart=True)
    assert t.step == 0


def test_library_shorter_than_a_window(tmp_path):
    with pytest.raises(PoetError, match="shorter than one batch"):
        Trainer(lib("too short"), tmp_path / "m", ModelConfig(layers=1, hidden=8), tiny())


def test_batches_are_contiguous_streams():
    data = torch.arange(1000)
    s = Streams(data, batch=4, seq_len=10, generator=torch.Generator().manual_seed(0))
    x1, y1, new1 = s.next()
    x2, _, _ = s.next()
    assert not new1
    assert torch.equal(y1, x1 + 1)  # targets are the next characters
    assert torch.equal(x2[:, 0], x1[:, -1] + 1)  # the next batch continues each stream
    assert len(set(x1[:, 0].tolist())) == 4
    for _ in range(s.steps_per_epoch - 2):  # the rest of epoch 0
        s.next()
    *_, new = s.next()
    assert new and s.epoch == 1


# --- snapshots: corrupt, truncated, malicious -----------------------------------------------------


@pytest.fixture
def trained(tmp_path):
    text = SHAKESPEARE.read_text()[:10_000]
    t = Trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=32), tiny(steps=4))
    t.run()
    return t.dir


def test_truncated_last_snapshot_falls_back_to_best(trained):
    last = checkpoint.snapshot_path(trained, "last")
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="unreadable.*using the best snapshot"):
        which, tensors, _ = checkpoint.load_snapshot(trained, "last")
    assert which == "best" and any(k.startswith("model.") for k in tensors)
    with pytest.warns(UserWarning, match="using the best snapshot"):
        model, config, meta = checkpoint.load_model(trained, "last")
    assert meta["step"] == 4


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_snapshot_is_never_executed(trained, tmp_path):
    marker = tmp_path / "pwned"
    for which in ("last", "best"):
        torch.save({"model": Payload(marker)}, checkpoint.snapshot_path(trained, which))
    with pytest.raises(PoetError, match="unreadable"):
        checkpoint.load_model(trained)
    assert not marker.exists()


# --- real processes: SIGKILL at random moments, SIGINT -----------------------------------------------


TRAIN = ["train", "--project", "p", "--layers", "1", "--hidden", "32", "--batch-size", "4", "--seq-len", "16"]


@pytest.mark.slow
def test_sigkill_at_random_moments_always_leaves_a_loadable_snapshot(tmp_path, env):
    book = tmp_path / "book.txt"
    book.write_text(SHAKESPEARE.read_text()[:50_000])
    args = TRAIN + ["--file", str(book), "--snapshot-every", "0.002"]
    model_dir = tmp_path / "home" / "projects" / "p" / "default"
    rng = random.Random(7)
    steps = []
    for _ in range(4):
        proc = poet(*args, env=env)
        wait_for_snapshot(model_dir)
        time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        model, config, meta = checkpoint.load_model(model_dir, "last")
        steps.append(meta["step"])
        assert config["library"]["texts"][0]["key"] == "file:book.txt"
    assert steps == sorted(steps) and steps[-1] > steps[0], steps  # each run resumed and went on
    out = subprocess.run([sys.executable, "-m", "torch_poet", *args, "--steps", str(steps[-1] + 5)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"from the last snapshot at step {steps[-1]}" in out.stderr or "from the best snapshot" in out.stderr


@pytest.mark.slow
def test_sigint_saves_and_exits_130(tmp_path, env):
    book = tmp_path / "book.txt"
    book.write_text(SHAKESPEARE.read_text()[:50_000])
    model_dir = tmp_path / "home" / "projects" / "p" / "default"
    proc = poet(*TRAIN, "--file", str(book), "--snapshot-every", "0.01", env=env)
    wait_for_snapshot(model_dir)
    time.sleep(1.0)
    t = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - t < 5
    assert proc.returncode == 130, err
    assert "Traceback" not in err.decode()
    meta = json.loads(checkpoint.read_snapshot(checkpoint.snapshot_path(model_dir, "last"))[1]["meta"])
    history = [json.loads(line) for line in (model_dir / "history.jsonl").read_text().splitlines()]
    assert meta["step"] >= history[-1]["step"] > 0


def test_cli_mismatch_is_one_line(tmp_path, env):
    book = tmp_path / "book.txt"
    book.write_text(SHAKESPEARE.read_text()[:10_000])
    ok = subprocess.run([sys.executable, "-m", "torch_poet", *TRAIN, "--file", str(book), "--steps", "2"],
                        env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([sys.executable, "-m", "torch_poet", *TRAIN, "--hidden", "48", "--steps", "4"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    errors = [line for line in bad.stderr.splitlines() if line.startswith("poet: error:")]
    assert len(errors) == 1 and "hidden=32" in errors[0] and "hidden=48" in errors[0]


def test_tensorboard_logs_the_statistics(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    text = SHAKESPEARE.read_text()[:10_000]
    t = Trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=32), tiny(steps=6, tensorboard=True))
    t.run()
    acc = event_accumulator.EventAccumulator(str(tmp_path / "m" / "tensorboard"))
    acc.Reload()
    val = acc.Scalars("val_bpc")
    assert [e.step for e in val] == [6]
    assert val[0].value == pytest.approx(t.history[-1]["val_bpc"], rel=1e-4)


def test_each_snapshot_measures_the_memorisation_of_a_sample(tmp_path):
    from torch_poet.attribution import summary
    from torch_poet.sample import generate
    from torch_poet.train import MEASURE_TEMPERATURE, sample_prompt

    text = SHAKESPEARE.read_text()[:10_000]
    t = Trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=32), tiny(steps=6))
    t.run()
    row = t.history[-1]
    sample = generate(t.model, t.library.vocab, sample_prompt(t.library.vocab), t.cfg.sample_length, temperature=MEASURE_TEMPERATURE,
                      seed=t.cfg.seed + row["step"])[0]  # fmt: skip
    figures = summary(t.index.segment(sample)).figures
    assert (row["quoted"], row["longest_quote"], row["quotes_per_1000"]) == (
        round(figures.fraction, 4), figures.longest, round(figures.per_1000, 2))
    assert (tmp_path / "m" / "index" / "meta.json").exists()  # the same cached index as Poet's
    assert json.loads((tmp_path / "m" / "history.jsonl").read_text().splitlines()[-1])["quoted"] == row["quoted"]


def test_poet_plot_writes_three_panels(tmp_path):
    from PIL import Image

    text = SHAKESPEARE.read_text()[:10_000]
    Trainer(lib(text), tmp_path / "projects" / "x" / "y", ModelConfig(layers=1, hidden=32), tiny(steps=6)).run()
    assert (tmp_path / "projects" / "x" / "y" / "history.png").exists()  # written at each snapshot
    cmd = [sys.executable, "-m", "torch_poet", "plot", "--root", str(tmp_path), "--project", "x"]
    out = subprocess.run(cmd + ["--model", "y", "-o", str(tmp_path / "p.png")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    img = Image.open(tmp_path / "p.png").convert("L")
    assert img.size == (1700, 450)
    w, h = img.size
    for k in range(3):  # loss against minutes and against step, memorisation: each panel has real content
        third = img.crop((k * w // 3, 0, (k + 1) * w // 3, h))
        assert len(set(third.get_flattened_data())) > 20
        assert sum(1 for v in third.get_flattened_data() if v < 128) > 500
    missing = subprocess.run(cmd + ["--model", "nope"], capture_output=True, text=True)
    assert missing.returncode == 2 and "no training history" in missing.stderr and "Traceback" not in missing.stderr


def test_locked_dropout_keeps_one_mask_per_sequence_and_the_mean():
    from torch_poet.model import locked_dropout

    x = torch.ones(50, 400, 500)  # [T, B, H]
    torch.manual_seed(0)
    y = locked_dropout(x, 0.35, training=True)
    assert torch.equal(y, y[:1].expand_as(y))  # the same mask at every time step
    assert (y[0] == 0).float().mean().item() == pytest.approx(0.35, abs=0.005)
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)
    assert y.unique().tolist() == pytest.approx([0.0, 1 / 0.65])
    assert locked_dropout(x, 0.35, training=False) is x and locked_dropout(x, 0.0, training=True) is x
    torch.manual_seed(0)
    assert torch.equal(locked_dropout(x, 0.35, training=True), y)  # drawn from torch's RNG: snapshots restore it


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_weight_and_embedding_dropout_act_in_training_only(cell):
    from torch_poet.model import CharRNN

    torch.manual_seed(0)
    plain = CharRNN(ModelConfig(vocab_size=20, cell=cell, layers=2, hidden=16, dropout=0.0))
    reg = CharRNN(ModelConfig(vocab_size=20, cell=cell, layers=2, hidden=16, dropout=0.0, embed_dropout=0.3, weight_dropout=0.5))
    reg.load_state_dict(plain.state_dict())  # same parameters: the regularisers add none
    before = {k: v.clone() for k, v in reg.state_dict().items()}
    idx = torch.randint(0, 20, (3, 12))
    assert torch.equal(plain.eval()(idx)[0], reg.eval()(idx)[0])
    out, _ = reg.train()(idx)
    assert not torch.allclose(out, plain.train()(idx)[0])
    out.sum().backward()
    assert all(torch.equal(before[k], v) for k, v in reg.state_dict().items())  # masks never touch the weights
    assert reg.rnns[0].weight_hh_l0.grad.abs().sum() > 0
    dropped = (reg.embed.weight.grad.abs().sum(1) == 0) & torch.isin(torch.arange(20), idx)
    assert dropped.any()  # whole characters left out of the batch get no gradient

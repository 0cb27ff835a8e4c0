"""Training (the train package's Trainer): it learns, resumes exactly, survives kills, refuses what it cannot do,
clearly, and its hooks log to TensorBoard and measure memorisation."""

import json
import math
import random
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter

import pytest
import torch

from conftest import poet, wait_for_snapshot
from helpers import SHAKESPEARE, lib, params, tiny, trainer

from torch_poet.config import SampleConfig
from torch_poet.config import TrainConfig
from torch_poet.disk import snapshots
from torch_poet.errors import PoetError
from torch_poet.generate import generate
from torch_poet.library import readability
from torch_poet.model import CharRNN, ModelConfig
from torch_poet.train.loop import lr_at, param_groups
from torch_poet.train.resume import regroup
from torch_poet.train.samples import MEASURE_TEMPERATURE, Samples, sample_prompt

def unigram_entropy(text: str) -> float:
    n = len(text)
    return -sum(c / n * math.log(c / n) for c in Counter(text).values())


def test_learns_real_text(tmp_path):
    text = SHAKESPEARE.read_text()[:20_000]
    t = trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=128), tiny(steps=300, val_fraction=0.1))
    t.run()
    val = t.history[-1]["val_loss"]
    assert val < unigram_entropy(text) - 0.7, (val, unigram_entropy(text))
    assert t.history[-1]["val_bpc"] == pytest.approx(val / math.log(2), rel=1e-3)
    measured = generate(
        t.model,
        t.library.vocab,
        sample_prompt(t.library.vocab),
        SampleConfig(t.cfg.sample_length, temperature=MEASURE_TEMPERATURE, seed=t.cfg.seed + t.step),
    )[0]  # the snapshot's sample, again
    assert 0 < t.history[-1]["readability"] == round(readability(measured, t.library.words), 4)


def test_learning_rate_warms_up_then_decays_linearly_over_the_horizon():
    cfg = TrainConfig(lr=0.01, warmup_steps=10, steps=110, min_lr_ratio=0.0)
    assert lr_at(cfg, 0, 0) == pytest.approx(0.001) and lr_at(cfg, 9, 0) == pytest.approx(0.01)
    assert lr_at(cfg, 55, 0) == pytest.approx(0.005) and lr_at(cfg, 110, 0) == 0.0
    by_time = TrainConfig(lr=0.01, warmup_steps=10, minutes=10, min_lr_ratio=0.1)  # the further horizon counts
    assert lr_at(by_time, 20, 450) == pytest.approx(0.01 * (0.1 + 0.9 * 0.25))
    assert lr_at(by_time, 10**6, 10**6) == pytest.approx(0.001)
    assert lr_at(TrainConfig(lr=0.01, warmup_steps=10), 10**6, 10**6) == 0.01  # until stopped: constant


def test_weight_decay_spares_biases_and_the_embedding_and_one_group_snapshots_still_resume():
    model = CharRNN(ModelConfig(vocab_size=20, layers=2, hidden=16))
    decayed, spared = param_groups(model, 0.1)
    name = {id(p): n for n, p in model.named_parameters()}
    assert sorted(name[id(p)] for p in decayed["params"]) == [
        "head.weight",
        *(f"rnns.{i}.weight_{w}_l0" for i in (0, 1) for w in ("hh", "ih")),
    ]
    assert {name[id(p)] for p in spared["params"]} == {"embed.weight", "head.bias"} | {
        f"rnns.{i}.bias_{w}_l0" for i in (0, 1) for w in ("hh", "ih")
    }
    assert (decayed["weight_decay"], spared["weight_decay"]) == (0.1, 0.0)
    # an optimizer state saved with one group, in the model's order, lands on the same parameters
    old = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randint(0, 20, (2, 5)))[0].sum().backward()
    old.step()
    new = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-3)
    new.load_state_dict(regroup(old.state_dict(), model, new))
    for p in model.parameters():
        assert torch.equal(new.state[p]["exp_avg"], old.state[p]["exp_avg"]) and new.state[p]["step"] == 1


def test_overfits_a_repeated_string(tmp_path):
    text = "the quick brown fox jumps over the lazy dog. " * 100
    t = trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=64), tiny(steps=300))
    t.run()
    ids = torch.from_numpy(t.library.encode(text)).unsqueeze(0)
    with torch.no_grad():
        logits, _ = t.model.eval()(ids[:, :-1])
    # after one period of context the text is fully predictable
    loss = torch.nn.functional.cross_entropy(logits[0, 45:], ids[0, 46:])
    assert loss < 0.05


@pytest.mark.parametrize("rows", [4, 16])  # 4: one call; 16: two shards of 8 rows (train/shards.py)
def test_resume_is_exact(tmp_path, rows, two_threads):
    text = SHAKESPEARE.read_text()[:30_000]
    mcfg = dict(layers=2, hidden=32, dropout=0.2)  # dropout: the RNG state (and the shards' seeds) restored too
    cfg = dict(min_lr_ratio=1.0, batch_size=rows, seq_len=16)  # same schedule whatever the horizon
    straight = trainer(lib(text), tmp_path / "a", ModelConfig(**mcfg), tiny(steps=40, **cfg))
    straight.run()
    first = trainer(lib(text), tmp_path / "b", ModelConfig(**mcfg), tiny(steps=20, **cfg))
    first.run()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "resuming with changed settings: steps"
        resumed = trainer(lib(text), tmp_path / "b", ModelConfig(**mcfg), tiny(steps=40, **cfg))
    assert resumed.step == 20
    resumed.run()
    a, b = params(straight.model), params(resumed.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert straight.history[-1]["val_loss"] == resumed.history[-1]["val_loss"]
    assert [h["step"] for h in resumed.history] == [20, 40]
    assert torch.get_num_threads() == 2  # a run by shards gives PyTorch its threads back


def test_incompatible_resume_names_the_difference(tmp_path):
    text = SHAKESPEARE.read_text()[:10_000]
    trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=32), tiny(steps=2)).run()
    with pytest.raises(PoetError, match=r"hidden=32.*hidden=64.*--model NEWNAME.*--restart"):
        trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=64), tiny(steps=2))
    with pytest.raises(PoetError, match="different library"):
        trainer(lib(text[:9000]), tmp_path / "m", ModelConfig(layers=1, hidden=32), tiny(steps=2))
    # --restart starts over
    t = trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=64), tiny(steps=2), restart=True)
    assert t.step == 0


def test_library_shorter_than_a_window(tmp_path):
    with pytest.raises(PoetError, match="shorter than one batch"):
        trainer(lib("too short"), tmp_path / "m", ModelConfig(layers=1, hidden=8), tiny())


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
        model, config, meta = snapshots.load_model(model_dir, "last")
        steps.append(meta["step"])
        assert config["library"]["texts"][0]["key"] == "file:book.txt"
    assert steps == sorted(steps) and steps[-1] > steps[0], steps  # each run resumed and went on
    out = subprocess.run(
        [sys.executable, "-m", "torch_poet", *args, "--steps", str(steps[-1] + 5)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
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
    meta = json.loads(snapshots.read(snapshots.path(model_dir, "last"))[1]["meta"])
    history = [json.loads(line) for line in (model_dir / "history.jsonl").read_text().splitlines()]
    assert meta["step"] >= history[-1]["step"] > 0


def test_cli_mismatch_is_one_line(tmp_path, env):
    book = tmp_path / "book.txt"
    book.write_text(SHAKESPEARE.read_text()[:10_000])
    ok = subprocess.run(
        [sys.executable, "-m", "torch_poet", *TRAIN, "--file", str(book), "--steps", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "torch_poet", *TRAIN, "--hidden", "48", "--steps", "4"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    errors = [line for line in bad.stderr.splitlines() if line.startswith("poet: error:")]
    assert len(errors) == 1 and "hidden=32" in errors[0] and "hidden=48" in errors[0]


def test_tensorboard_logs_the_statistics(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    text = SHAKESPEARE.read_text()[:10_000]
    t = trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=32), tiny(steps=6, tensorboard=True))
    t.run()
    acc = event_accumulator.EventAccumulator(str(tmp_path / "m" / "tensorboard"))
    acc.Reload()
    val = acc.Scalars("val_bpc")
    assert [e.step for e in val] == [6]
    assert val[0].value == pytest.approx(t.history[-1]["val_bpc"], rel=1e-4)


def test_each_snapshot_measures_the_memorisation_of_a_sample(tmp_path):
    from torch_poet.attribution import summary

    text = SHAKESPEARE.read_text()[:10_000]
    t = trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=32), tiny(steps=6))
    t.run()
    row = t.history[-1]
    sampling = SampleConfig(t.cfg.sample_length, temperature=MEASURE_TEMPERATURE, seed=t.cfg.seed + row["step"])
    sample = generate(t.model, t.library.vocab, sample_prompt(t.library.vocab), sampling)[0]
    (samples,) = [h for h in t.hooks if isinstance(h, Samples)]
    figures = summary(samples.index.segment(sample)).figures
    assert (row["quoted"], row["longest_quote"], row["quotes_per_1000"]) == (
        round(figures.fraction, 4),
        figures.longest,
        round(figures.per_1000, 2),
    )
    assert (t.library.home / "index" / "meta.json").exists()  # the same cached index as Poet's
    assert json.loads((tmp_path / "m" / "history.jsonl").read_text().splitlines()[-1])["quoted"] == row["quoted"]


def test_gpu_out_of_memory_is_one_line_with_the_fix(tmp_path, monkeypatch):
    config = TrainConfig(batch_size=4, seq_len=16, steps=3, precision="fp32")
    t = trainer(lib("abcdefgh " * 2000), tmp_path / "m", ModelConfig(layers=1, hidden=16), config)

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(t.model, "forward", oom)  # one process: the step runs the model itself
    with pytest.raises(PoetError, match=r"out of memory .* batch 4 x 16 chars.*--batch-size.*--seq-len"):
        t.run()


def test_making_a_trainer_writes_nothing(tmp_path):
    text = SHAKESPEARE.read_text()[:10_000]
    t = trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=32), tiny(steps=2))
    assert not (tmp_path / "m").exists()
    t.run()
    assert {p.name for p in (tmp_path / "m").iterdir()} >= {"config.json", "last.safetensors", "history.jsonl"}
    resumed = trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=32), tiny(steps=2))
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "m").rglob("*")}
    assert resumed.step == 2 and {p: p.stat().st_mtime_ns for p in (tmp_path / "m").rglob("*")} == before


def test_a_trainer_runs_again_where_it_stopped(tmp_path):
    text = SHAKESPEARE.read_text()[:10_000]
    t = trainer(lib(text), tmp_path / "m", ModelConfig(layers=1, hidden=32), tiny(steps=2))
    t.run()
    t.cfg.steps = 4
    t.run()
    lines = (tmp_path / "m" / "history.jsonl").read_text().splitlines()
    assert [h["step"] for h in t.history] == [2, 4] == [json.loads(line)["step"] for line in lines]


def test_the_heartbeat_says_where_a_run_is_between_snapshots_and_is_gone_when_it_ends(tmp_path):
    """What the dashboard shows between snapshots: written as the run goes (here at every step), read back whole,
    and removed at the end, so that a stopped model shows none."""
    from dataclasses import asdict

    from torch_poet.disk import heartbeat
    from torch_poet.train.hooks import Heartbeat, Hook
    from torch_poet.train.loop import Trainer
    from torch_poet.train.resume import Start

    beats = []

    class Reader(Hook):
        def on_step(self, run, window):
            beats.append(heartbeat.read(run.dir))

    settings = {**asdict(ModelConfig(layers=1, hidden=32)), **asdict(tiny(steps=6))}
    start = Start.resolve(tmp_path / "m", settings)
    t = Trainer(lib(SHAKESPEARE.read_text()[:20_000]), start, [Heartbeat(every=0), Reader()], log=lambda m: None)
    t.run()
    assert [b["step"] for b in beats] == list(range(1, 7))
    assert all(b["chars_per_sec"] > 0 and math.isfinite(b["train_loss"]) and b["steps"] == 6 for b in beats)
    assert beats[-1]["elapsed"] >= beats[0]["elapsed"] and beats[-1]["left"] is None  # a budget in steps
    assert 0 < beats[0]["epoch"] < beats[-1]["epoch"] and beats[-1]["epoch"] == round(t.epoch, 3)
    assert t.history[-1]["chars"] == round(t.epoch * len(t.batches.data))  # the x axis "characters trained on"
    assert heartbeat.read(tmp_path / "m") is None and not (tmp_path / "m" / heartbeat.NAME).exists()

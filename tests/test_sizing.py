"""Sizing: a new model's shape fits the device and the budget; explicit flags win; a saved model keeps its shape."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import SHAKESPEARE, lib

from torch_poet.train import sizing
from torch_poet.train.resume import Start
from torch_poet.config import ModelConfig, TrainConfig
CPU = torch.device("cpu")


def device(speed: float):
    """A fake probe: a device whose training speed is `speed` x work-per-char of the shape, so bigger
    shapes run slower in chars/s, as on a CPU."""
    return lambda s: speed / (s.layers * s.hidden**2)


def pick(minutes, speed, train_chars=1_000_000):
    return sizing.choose(minutes, train_chars, 65, CPU, torch.float32, rate=device(speed))


def size_of(choice) -> int:
    return choice.shape.layers * choice.shape.hidden**2


def test_shorter_budget_and_slower_device_get_smaller_shapes():
    fast = 3e12  # 2x256 trains 23 M chars/s, 3x1024 1 M chars/s: a GPU
    slow = 3e9  # 2x256 23,000 chars/s, 2x512 5,700 chars/s: a 2-core CPU
    assert pick(2, slow).shape == sizing.SHAPES[0]
    assert size_of(pick(2, slow)) < size_of(pick(60, slow)) <= size_of(pick(60, fast))
    assert size_of(pick(2, slow)) < size_of(pick(2, fast))
    assert pick(10, fast).shape == sizing.SHAPES[-1]
    assert size_of(pick(None, slow)) == size_of(pick(sizing.LONG_RUN_MINUTES, slow))  # unbounded: the long-run budget
    # a bigger shape is only picked once it sees enough characters in the budget
    for minutes in (1, 2, 5, 10, 20, 60):
        c = pick(minutes, slow)
        assert c.chars_per_sec * minutes * 60 >= c.shape.min_chars


def test_dropout_and_weight_decay_grow_with_the_epochs_the_budget_allows():
    small, large = pick(10, 3e9, train_chars=100_000_000), pick(10, 3e9, train_chars=1_000_000)
    assert small.shape == large.shape and small.dropout < large.dropout
    assert small.weight_decay < large.weight_decay and small.fields()["weight_decay"] == small.weight_decay
    assert sizing.dropout_for(0.5) < sizing.dropout_for(5) < sizing.dropout_for(50) <= 0.35
    assert sizing.weight_decay_for(0.5) < sizing.weight_decay_for(5) == sizing.weight_decay_for(50)


def test_explicit_fields_win():
    library = lib("some text " * 1000)
    named = {"dropout": 0.5, "minutes": 60, "lr": 1e-3, "weight_decay": 0.02}
    start = sizing.apply(Start(Path("m"), ModelConfig(dropout=0.5), TrainConfig(minutes=60, lr=1e-3, weight_decay=0.02),
                               CPU, frozenset(named)), library, rate=device(3e12))  # fmt: skip
    mcfg, tcfg, picked = start.model, start.train, start.sizing
    big = sizing.SHAPES[-1]
    assert (mcfg.dropout, tcfg.lr, tcfg.weight_decay) == (0.5, 1e-3, 0.02)  # named: kept
    assert (mcfg.layers, mcfg.hidden, tcfg.batch_size, tcfg.seq_len) == (big.layers, big.hidden, big.batch_size,
                                                                         big.seq_len)  # the rest: sized  # fmt: skip
    assert "lr 0.001, dropout 0.5, weight decay 0.02" in picked["picked"]
    assert picked["device"].endswith(("CPU core", "CPU cores"))
    # a named model shape is the user's: nothing is probed or changed
    probed = []
    start = Start(Path("m"), ModelConfig(hidden=48), TrainConfig(), CPU, frozenset({"hidden"}))
    named = sizing.apply(start, library, rate=lambda s: probed.append(s) or 1.0)
    assert (named.model, named.train, named.sizing) == (ModelConfig(hidden=48), TrainConfig(), None) and probed == []


def test_the_real_probe_measures_a_training_step():
    rate = sizing.probe(sizing.Shape(1, 32, 4, 16, 1e-3, 0), 20, "lstm", CPU, torch.float32)
    assert 100 < rate < 1e8
    torch.manual_seed(0)
    a = torch.rand(3)
    torch.manual_seed(0)
    sizing.probe(sizing.Shape(1, 32, 4, 16, 1e-3, 0), 20, "gru", CPU, torch.float32)
    assert torch.equal(torch.rand(3), a)  # probing leaves the run's random numbers alone


@pytest.mark.slow
def test_cli_prints_records_and_keeps_the_pick(tmp_path, env):
    book = tmp_path / "book.txt"
    book.write_text(SHAKESPEARE.read_text()[:60_000])
    run = lambda *a: subprocess.run([sys.executable, "-m", "torch_poet", "train", "--project", "p", *a],  # noqa: E731
                                    env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    model = tmp_path / "home" / "projects" / "p" / "default"
    first = run("--file", str(book), "--minutes", "0.05", "--snapshot-every", "1")
    assert first.returncode == 0, first.stderr
    config = json.loads((model / "config.json").read_text())
    picked = [line for line in first.stderr.splitlines() if line.startswith("0.05 minutes on ")]
    assert len(picked) == 1 and picked[0] == config["sizing"]["picked"]
    s = sizing.SHAPES[0]  # 3 seconds on a CPU: the smallest shape
    assert (config["model"]["layers"], config["model"]["hidden"]) == (s.layers, s.hidden)
    assert (config["train"]["batch_size"], config["train"]["seq_len"], config["train"]["lr"]) == (
        s.batch_size,
        s.seq_len,
        s.lr,
    )
    # resumed with a longer budget: no new pick, the saved shape and its record stay
    again = run("--minutes", "0.1", "--snapshot-every", "1")
    assert again.returncode == 0, again.stderr
    assert " minutes on " not in again.stderr and "resuming" in again.stderr
    assert json.loads((model / "config.json").read_text())["sizing"] == config["sizing"]
    assert json.loads((model / "config.json").read_text())["model"] == config["model"]
    # a new model with named flags: they win
    named = run("--model", "b", "--file", str(book), "--minutes", "0.05", "--dropout", "0.3", "--seq-len", "24")
    assert named.returncode == 0, named.stderr
    config = json.loads((model.parent / "b" / "config.json").read_text())
    assert (config["model"]["dropout"], config["train"]["seq_len"]) == (0.3, 24)
    assert "×256 LSTM, batch 32×24, lr 0.006, dropout 0.3" in config["sizing"]["picked"]

"""Snapshots (disk/snapshots.py): a truncated one falls back to the other, a malicious pickle is never executed."""

import os
from pathlib import Path

import pytest
import torch

from helpers import SHAKESPEARE, lib, tiny, trainer

from torch_poet.disk import snapshots
from torch_poet.errors import PoetError
from torch_poet.model import ModelConfig


@pytest.fixture
def trained(tmp_path) -> Path:
    """A model directory after 4 steps of a small model (both snapshots written)."""
    t = trainer(lib(SHAKESPEARE.read_text()[:10_000]), tmp_path / "m", ModelConfig(layers=1, hidden=32), tiny(steps=4))
    t.run()
    return t.dir


def test_truncated_last_snapshot_falls_back_to_best(trained):
    last = snapshots.path(trained, "last")
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="unreadable.*using the best snapshot"):
        which, tensors, _ = snapshots.load(trained, "last")
    assert which == "best" and any(k.startswith("model.") for k in tensors)
    with pytest.warns(UserWarning, match="using the best snapshot"):
        model, config, meta = snapshots.load_model(trained, "last")
    assert meta["step"] == 4


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_snapshot_is_never_executed(trained, tmp_path):
    marker = tmp_path / "pwned"
    for which in ("last", "best"):
        torch.save({"model": Payload(marker)}, snapshots.path(trained, which))
    with pytest.raises(PoetError, match="unreadable"):
        snapshots.load_model(trained)
    assert not marker.exists()

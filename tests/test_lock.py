"""The training lock (disk/lock.py): one trainer per model at a time, and whether one is running."""

import pytest
from helpers import trainer

from torch_poet.config import TrainConfig
from torch_poet.disk.lock import is_training, training_lock
from torch_poet.errors import PoetError
from torch_poet.library import Library, Text
from torch_poet.model import ModelConfig


def test_a_second_trainer_on_the_same_model_is_refused(tmp_path):
    library = Library.from_texts([Text(key="t", title="t", author="a", text="abcdefgh " * 2000)])
    config = TrainConfig(batch_size=4, seq_len=16, steps=1, precision="fp32")
    with training_lock(tmp_path / "m"):
        assert is_training(tmp_path / "m")
        with pytest.raises(PoetError, match=r"being trained by another process \(pid \d+\).*--model NEWNAME"):
            trainer(library, tmp_path / "m", ModelConfig(layers=1, hidden=16), config).run()
    assert not is_training(tmp_path / "m")
    trainer(library, tmp_path / "m", ModelConfig(layers=1, hidden=16), config).run()
    assert not is_training(tmp_path / "m")

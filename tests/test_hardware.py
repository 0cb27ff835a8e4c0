"""Device and precision (hardware.py): one set of rules for training and generation."""

import pytest
import torch

from torch_poet.errors import PoetError
from torch_poet.hardware import autocast, device_words, pick_device, pick_dtype


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the rules on a machine without CUDA")
def test_devices_as_asked_and_auto_without_a_gpu():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(mps=False) == torch.device("cpu")  # generation: CUDA, else the CPU
    with pytest.raises(PoetError, match="--device cuda:1 asked for, but CUDA is not available: use --device cpu"):
        pick_device("cuda:1")
    assert device_words(torch.device("cpu")).endswith(("CPU core", "CPU cores"))


def test_precision_rules():
    cpu = torch.device("cpu")
    assert pick_dtype("fp32", cpu) == torch.float32 and pick_dtype("bf16", cpu) == torch.bfloat16
    assert pick_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert pick_dtype("auto", torch.device("mps")) == torch.float32
    with pytest.raises(PoetError, match="unknown precision 'fp16'"):
        pick_dtype("fp16", cpu)
    with autocast(cpu, torch.float32):
        assert not torch.is_autocast_enabled("cpu")  # fp32: no autocast at all
    with autocast(cpu, torch.bfloat16):
        assert torch.is_autocast_enabled("cpu")

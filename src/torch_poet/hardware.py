"""The device and the precision a model runs on, picked by one set of rules for training and generation."""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from pathlib import Path

import torch

from .errors import PoetError


def pick_device(name: str = "auto", mps: bool = True) -> torch.device:
    """`name` as asked ("cuda" where there is no CUDA is an error); "auto" takes CUDA, else Apple's MPS
    where its LSTM backward works, else the CPU. Generation passes mps=False: its decoders are built and
    measured for CUDA and the CPU."""
    if name != "auto":
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise PoetError(f"--device {name} asked for, but CUDA is not available: use --device cpu")
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if mps and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() and mps_lstm_works():
        return torch.device("mps")
    return torch.device("cpu")


def mps_lstm_works() -> bool:
    """Some PyTorch/macOS versions fail in the MPS LSTM backward; then CPU is the honest choice."""
    try:
        lstm = torch.nn.LSTM(4, 4).to("mps")
        lstm(torch.zeros(2, 1, 4, device="mps"))[0].sum().backward()
        return True
    except RuntimeError as e:
        warnings.warn(f"MPS LSTM backward failed ({e}); training on the CPU instead", stacklevel=2)
        return False


def cpu_has_bf16() -> bool:
    """Native bf16 matrix units (AVX512-BF16 or AMX): there oneDNN's bf16 LSTM runs about 2x fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """ "auto": bf16 where the hardware computes it natively (CUDA, a CPU with bf16 units), else fp32."""
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if precision != "auto":
        raise PoetError(f"unknown precision {precision!r}: use auto, fp32 or bf16")
    if device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16()):
        return torch.bfloat16
    return torch.float32


def autocast(device: torch.device, dtype: torch.dtype):
    """Mixed precision in `dtype` for a forward pass; nothing for fp32 or devices autocast does not cover."""
    if dtype == torch.float32 or device.type not in ("cpu", "cuda"):
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def device_words(device: torch.device) -> str:
    """The device in words, for people: "2 CPU cores", "NVIDIA H200"."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        n = torch.get_num_threads()
        return f"{n} CPU core{'s' if n != 1 else ''}"
    return device.type.upper()

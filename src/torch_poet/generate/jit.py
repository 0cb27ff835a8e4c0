"""TorchScript for the decode loops: compiling them, and the linear product they use."""

from __future__ import annotations

import functools
import warnings
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor


def script(fn):
    """TorchScript, so the decode loop runs without Python per step; the plain function where TorchScript
    is unavailable (same results, slower). torch.jit is deprecated in favour of torch.compile, which has no
    equivalent for a CPU loop like this one, so its warning is silenced here."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.script(fn)
    except Exception:  # noqa: BLE001 - any failure to compile leaves the plain Python function
        return fn


HAS_MKLDNN_LINEAR = hasattr(torch.ops.mkldnn, "_linear_pointwise")  # is the op in this build (a lookup, no run)


@functools.cache
def mkldnn_linear() -> bool:
    """oneDNN's fp32 linear (the op behind torch.compile's CPU linears) runs about twice as fast as the default
    BLAS here at batch 256; use it where this build has it and it computes what F.linear computes. Checked on
    the first CPU generation, once."""
    if not HAS_MKLDNN_LINEAR:
        return False
    try:
        x, w, b = torch.randn(3, 8), torch.randn(5, 8), torch.randn(5)
        y = torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
        return bool(torch.allclose(y, F.linear(x, w, b), atol=1e-5))
    except Exception:  # noqa: BLE001 - the op changed or fails here: use F.linear
        return False


if HAS_MKLDNN_LINEAR:

    @script
    def linear(x: Tensor, w: Tensor, b: Optional[Tensor], mkldnn: bool) -> Tensor:
        if mkldnn:
            return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
        return F.linear(x, w, b)

else:

    @script
    def linear(x: Tensor, w: Tensor, b: Optional[Tensor], mkldnn: bool) -> Tensor:
        return F.linear(x, w, b)

"""Data-parallel training on PyTorch's own runtime: every process started by torchrun (or by
`poet train --nproc N`, see workers.py) runs the same training inside one `job`.

The global batch is split by rows: rank r trains streams [r*B/W, (r+1)*B/W) of the same B streams a
single process would train, so W processes compute the single-process step (DDP averages the
gradients) and a snapshot, holding all B rows of the carried state, resumes on any number of processes.
Rank 0 alone evaluates and writes; the ranks agree on elapsed time and Ctrl-C over a gloo group on the
host, so every rank takes the same decisions at the same step without a device sync.
"""

from __future__ import annotations

import gc
import os
import re
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from ..errors import PoetError

TIMEOUT = timedelta(minutes=30)  # rank 0 may evaluate, sample and build the attribution index meanwhile
_job: Dist | None = None  # this process's place in the job it is in, while the job runs
_control = None  # the gloo group for host-side agreement (the default group when that is gloo already)
_wrappers: list[torch.nn.Module] = []  # the DDP wrappers made by `wrap` in this job: the job holds them


@dataclass(frozen=True)
class Dist:
    """Where this process stands in the job; the defaults are a single process."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def rows(self, batch: int) -> slice:
        """This rank's share of the global batch's rows."""
        n = batch // self.world
        return slice(self.rank * n, (self.rank + 1) * n)


def current() -> Dist:
    """This process's place, from torchrun's environment variables."""
    env = os.environ
    world = int(env.get("WORLD_SIZE", 1))
    if world == 1:
        return Dist()
    return Dist(int(env["RANK"]), world, int(env.get("LOCAL_RANK", 0)), int(env.get("LOCAL_WORLD_SIZE", world)))


def device_for(device: torch.device, d: Dist) -> torch.device:
    """Each process on a machine gets its own GPU."""
    return torch.device("cuda", d.local_rank) if device.type == "cuda" and d.world > 1 else device


@contextmanager
def job(device: torch.device, batch_size: int) -> Iterator[Dist]:
    """This process's part in a data-parallel job while the block runs. Under torchrun it joins the job's
    process group, keeps the warnings of ranks other than 0 to themselves (rank 0 says them), turns a
    collective that failed because another rank is gone into a one-line PoetError, and leaves the group
    together with the other ranks, after the DDP wrappers of `wrap`. A single process has nothing to do.
    `Trainer.run` is the one place a job is entered."""
    global _job
    d = current()
    if d.world == 1:
        yield d
        return
    _join(d, device, batch_size)
    _job = d
    try:
        with rank_zero_speaks(d):
            yield d
        barrier()  # all ranks leave together: gloo aborts a rank whose group a peer tore down early
    except RuntimeError as e:
        why = lost_peer(e)
        if why is None:
            raise  # a bug, not a worker gone: keep its traceback
        raise PoetError(f"rank {d.rank} lost contact with the other workers ({why})") from None
    finally:
        _job = None
        _leave()


@contextmanager
def rank_zero_speaks(d: Dist) -> Iterator[None]:
    """Ranks other than 0 keep their warnings to themselves while the block runs: rank 0 says them for all."""
    with warnings.catch_warnings():
        if not d.main:
            warnings.simplefilter("ignore")
        yield


def _join(d: Dist, device: torch.device, batch_size: int) -> None:
    """Join the process group: NCCL on CUDA (with a gloo group beside it for the host), gloo on CPU."""
    global _control
    if batch_size % d.world:
        raise PoetError(
            f"--batch-size {batch_size} does not split over {d.world} processes: use a multiple of {d.world}"
        )
    if device.type == "cuda":
        if torch.cuda.device_count() < d.local_world:
            raise PoetError(
                f"{d.local_world} processes on this machine but {torch.cuda.device_count()} GPUs: "
                "use --nproc (or torchrun's --nproc-per-node) at most the number of GPUs"
            )
        torch.cuda.set_device(d.local_rank)
        dist.init_process_group("nccl", timeout=TIMEOUT, device_id=torch.device("cuda", d.local_rank))
        _control = dist.new_group(backend="gloo", timeout=TIMEOUT)
    else:
        dist.init_process_group("gloo", timeout=TIMEOUT)
        _control = dist.group.WORLD
        if "OMP_NUM_THREADS" not in os.environ:  # N processes x all cores each would thrash
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // d.local_world))


def _leave() -> None:
    """Leave the process group, the DDP wrappers on it first: a wrapper outliving its group frees it later,
    at interpreter exit, where gloo aborts the process (wrappers in reference cycles need the collection)."""
    global _control
    _wrappers.clear()
    _control = None
    gc.collect()
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, compile: bool = False) -> torch.nn.Module:
    """The model as the training step runs it: in a job of several processes a DDP wrapper that averages
    the gradients over them, compiled when asked. The job holds the wrapper and hands out a weak proxy, so
    that the wrapper goes before its process group whoever keeps the proxy (a trainer, a traceback)."""
    if _job is None:
        return torch.compile(model) if compile else model
    device = next(model.parameters()).device
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    _wrappers.append(torch.compile(net) if compile else net)
    return weakref.proxy(_wrappers[-1])


def barrier() -> None:
    if _control is not None:
        dist.barrier(group=_control)


def agree(stop: bool, elapsed: float) -> tuple[bool, float]:
    """Any rank's stop request stops all; all use the largest elapsed time (host tensors, no device sync)."""
    if _control is None:
        return stop, elapsed
    t = torch.tensor([float(stop), elapsed], dtype=torch.float64)
    dist.all_reduce(t, dist.ReduceOp.MAX, group=_control)
    return bool(t[0]), float(t[1])


def mean(t: torch.Tensor) -> torch.Tensor:
    """The mean over ranks, in place (gloo has no AVG)."""
    if _control is not None:
        dist.all_reduce(t)
        t /= dist.get_world_size()
    return t


def gather_rows(tensors: list[torch.Tensor], dim: int) -> list[torch.Tensor]:
    """Each tensor's slices from all ranks, concatenated in rank order along `dim`."""
    if _control is None:
        return tensors
    out = []
    for t in tensors:
        parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, t.contiguous())
        out.append(torch.cat(parts, dim))
    return out


def lost_peer(e: RuntimeError) -> str | None:
    """Why a collective failed, when it failed because another rank is gone (gloo and NCCL raise plain
    RuntimeErrors from inside autograd too); None for any other error."""
    first = str(e).splitlines()[0] if str(e) else ""
    if not isinstance(e, dist.DistError) and not any(k in first for k in ("gloo", "NCCL", "Connection")):
        return None
    return re.sub(r"^\[[^\]]*\]\s*", "", first)[:160]  # less the backend's source location

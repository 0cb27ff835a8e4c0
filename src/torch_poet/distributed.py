"""Data-parallel training on PyTorch's own runtime: `poet train --nproc N` starts N workers on this
machine with torchrun's launcher, and `torchrun --nnodes ... -m torch_poet train ...` runs the same
workers across machines (rendezvous from torchrun's environment variables).

The global batch is split by rows: rank r trains streams [r*B/W, (r+1)*B/W) of the same B streams a
single process would train, so W processes compute the single-process step (DDP averages the
gradients) and a snapshot, holding all B rows of the carried state, resumes on any number of processes.
Rank 0 alone evaluates and writes; the ranks agree on elapsed time and Ctrl-C over a gloo group on the
host, so every rank takes the same decisions at the same step without a device sync.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from .errors import PoetError

LAUNCHED = "POET_LAUNCHED"  # set by `launch` for its workers
TIMEOUT = timedelta(minutes=30)  # rank 0 may evaluate, sample and build the attribution index meanwhile
_control = None  # the gloo group for host-side agreement (the default group when that is gloo already)


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


def setup(device: torch.device, batch_size: int) -> Dist:
    """Join the job's process group (NCCL on CUDA, gloo on CPU) when started by torchrun."""
    global _control
    d = current()
    if d.world == 1 or dist.is_initialized():
        return d
    if batch_size % d.world:
        raise PoetError(f"--batch-size {batch_size} does not split over {d.world} processes: use a multiple of {d.world}")
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
    return d


def device_for(device: torch.device, d: Dist) -> torch.device:
    """Each process on a machine gets its own GPU."""
    return torch.device("cuda", d.local_rank) if device.type == "cuda" and d.world > 1 else device


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


def barrier() -> None:
    if _control is not None:
        dist.barrier(group=_control)


@contextmanager
def local_rank_zero_first(d: Dist) -> Iterator[None]:
    """The first process on each machine runs the block first (downloads into the shared cache), the
    others after it, reading what it cached."""
    if d.local_rank != 0:
        barrier()
    yield
    if d.local_rank == 0:
        barrier()


def shutdown() -> None:
    """Leave the process group; whatever still holds it (a DDP wrapper in a reference cycle) is collected
    first, as gloo aborts the process when its group is torn down at interpreter exit."""
    global _control
    _control = None
    gc.collect()
    if dist.is_initialized():
        dist.destroy_process_group()


def launch(nproc: int, argv: list[str], where: os.PathLike) -> int:
    """Run `python -m torch_poet <argv>` as nproc workers under torchrun's launcher (a standalone
    rendezvous on this machine). A worker that dies stops the others; the exit code says how it went."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    for name in list(logging.root.manager.loggerDict):  # we say what failed, once
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    os.environ[LAUNCHED] = "1"  # the workers hand their errors to us (`hand_over`) instead of printing them
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()), rdzv_backend="c10d",
        rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.5, start_method="spawn",
    )  # fmt: skip
    try:
        elastic_launch(config, sys.executable)("-m", "torch_poet", *argv)
    except SignalException:  # Ctrl-C or SIGTERM: the workers got it too, snapshotted and said so
        return 130
    except ChildFailedError as e:
        # The first failure stops the others (SIGTERM), so what to say goes by kind, not by time: a worker that
        # died on its own, else a worker's one-line error, else an interrupt.
        failures = dict(sorted(e.failures.items()))
        died = {r: f for r, f in failures.items() if f.exitcode not in (2, 130, -signal.SIGTERM)}
        said = [f.error_file_data["message"] for f in failures.values() if f.error_file_data.get(LAUNCHED)]
        if not died and said:
            raise PoetError(said[0]) from None
        if not died and any(f.exitcode == 130 for f in failures.values()):
            return 130
        rank, failure = next(iter((died or failures).items()))
        how = f"was killed by {failure.signal_name()}" if failure.exitcode < 0 else f"failed (exit {failure.exitcode})"
        raise PoetError(
            f"worker {rank} of {nproc} {how}, so the job stopped; the last snapshot in {where} is intact: "
            "rerun the same command to resume"
        ) from None
    return 0


def hand_over(message: str) -> bool:
    """In a worker of `launch`, leave a one-line error for the launcher to say (once, whichever rank
    failed first) in torchrun's error file; False elsewhere, where the caller says it."""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not (os.environ.get(LAUNCHED) and path):
        return False
    with open(path, "w") as f:
        json.dump({"message": message, "timestamp": int(time.time()), LAUNCHED: True}, f)
    return True

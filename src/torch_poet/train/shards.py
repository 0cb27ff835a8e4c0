"""A CPU training step split over the cores: the batch's rows in one shard per core, each shard's forward
and backward in its own thread with one OpenMP thread, the gradients summed.

oneDNN's LSTM on all cores synchronises its threads at every time step, which thin batches cannot pay
for: single-threaded shards of a few rows each train more characters per second than one call on all the
rows with all the cores (BENCHMARKS.md has the figures). The step is the same step: the loss is the mean over
all rows, the carried state is split and joined by rows, and each shard draws its dropout masks from its
own generator, seeded from torch's RNG, so that a run repeats exactly and a snapshot resumes it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..hardware import autocast
from ..model import State, cross_entropy

MIN_ROWS = 8  # rows per shard: thinner shards lose more to their small products than sharding wins


@dataclass
class Shards:
    pool: ThreadPoolExecutor
    n: int

    def map(self, fn: Callable, *tensors: torch.Tensor) -> list:
        """fn(i, *each tensor's i-th block of rows) for every shard, in the pool; the answers in order."""
        return list(self.pool.map(fn, range(self.n), *(t.tensor_split(self.n) for t in tensors)))

    def backward(
        self,
        net,
        x: torch.Tensor,
        y: torch.Tensor,
        state: State | None,
        dtype: torch.dtype,
        params: Sequence[torch.Tensor],
    ):
        """Forward and backward of the batch by shards: (the mean loss, the new state); the gradients are
        left in the parameters' .grad, as loss.backward() leaves them."""
        seeds = torch.randint(2**62, (self.n,)).tolist()  # drawn here, in order: the run repeats
        states = split_state(state, self.n)

        def one(i: int, xs: torch.Tensor, ys: torch.Tensor):
            g = torch.Generator(xs.device).manual_seed(seeds[i])
            with autocast(xs.device, dtype):  # autocast and grad mode are per thread
                logits, st = net(xs, states[i], generator=g)
            loss = cross_entropy(logits, ys) * (len(xs) / len(x))
            return loss.detach(), torch.autograd.grad(loss, params), st

        answers = self.map(one, x, y)
        for k, p in enumerate(params):
            p.grad = answers[0][1][k]
            for a in answers[1:]:
                p.grad += a[1][k]
        return sum(a[0] for a in answers), join_state([a[2] for a in answers])


@contextmanager
def cpu_shards(device: torch.device, batch_size: int) -> Iterator[Shards | None]:
    """One shard per core while training on a CPU, PyTorch's own threads set to one meanwhile; None where
    one call does as well: a GPU, one core, or too few rows to split."""
    threads = torch.get_num_threads()
    n = min(threads, batch_size // MIN_ROWS)
    if device.type != "cpu" or n < 2:
        yield None
        return
    torch.set_num_threads(1)  # process-wide in PyTorch: the shards' threads run one OpenMP thread each
    try:
        with ThreadPoolExecutor(n, thread_name_prefix="shard") as pool:
            yield Shards(pool, n)
    finally:
        torch.set_num_threads(threads)


def split_state(state: State | None, n: int) -> list[State | None]:
    if state is None:
        return [None] * n
    layers = [[t.tensor_split(n) for t in layer] for layer in state]
    return [[tuple(parts[i] for parts in layer) for layer in layers] for i in range(n)]


def join_state(states: list[State]) -> State:
    return [tuple(torch.cat(ts) for ts in zip(*layers)) for layers in zip(*states)]

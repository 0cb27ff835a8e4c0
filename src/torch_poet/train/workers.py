"""`poet train --nproc N`: this command run again as N workers on this machine, under torchrun's
launcher, and one line for the user when a worker fails."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
import uuid

from ..errors import PoetError

LAUNCHED = "POET_LAUNCHED"  # set by `launch` for its workers


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

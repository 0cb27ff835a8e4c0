"""What every benchmark script shares: timing a call several times, text as a model that copies now and then
writes, and a `poet serve` to measure against."""

from __future__ import annotations

import random
import re
import statistics
import string
import subprocess
import sys
import time


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(median, best) seconds over `repeat` calls, and the last result."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), result


def splice(bodies: list[str], chars: int, rng: random.Random) -> str:
    """Alternate chunks of real book text and random letters, 5-40 chars each, until `chars` long."""
    parts, size, real = [], 0, True
    while size < chars:
        n = rng.randint(5, 40)
        if real:
            book = rng.choice(bodies)
            at = rng.randrange(len(book) - n)
            parts.append(book[at : at + n])
        else:
            parts.append("".join(rng.choice(string.ascii_lowercase + "  ") for _ in range(n)))
        size += n
        real = not real
    return "".join(parts)[:chars]


def start_server(env: dict, *args: str) -> tuple[subprocess.Popen, str]:
    """`poet serve --port 0 ARGS` in `env`, once it listens: the process (the caller stops it) and its URL."""
    server = subprocess.Popen([sys.executable, "-m", "torch_poet", "serve", "--port", "0", *args], env=env,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    return server, re.search(r"serving (http://\S+/)", server.stderr.readline()).group(1)

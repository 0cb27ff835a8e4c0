"""`poet serve`: time to the first streamed character and characters/s, as the Python API, an HTTP client and a
browser see them, for a 2x256 LSTM (embedding 64; random weights: speed does not depend on them) whose library is
Pride and Prejudice. The server's overhead is its client's chars/s against the Python API doing the same work
(stream the text; with highlighting, also segment it as it grows). Target: under 10% slower.

    POET_GUTENBERG_URL=../shared/gutenberg .venv/bin/python benchmarks/bench_serve.py [--length 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx2 as httpx
import torch

from common import start_server

from torch_poet.config import LibrarySpec, SampleConfig
from torch_poet.library import build
from torch_poet.poet import Poet
from torch_poet.train.loop import Trainer
from torch_poet.train.resume import Start

PROMPT = ". "
SHARED = Path(__file__).resolve().parents[2] / "shared" / "gutenberg"


def make_model(home: Path, book: int, mirror: str) -> Path:
    """A model directory as `poet train` leaves it before its first step (config.json and a snapshot)."""
    library = build(LibrarySpec(books=[book]), mirror, home / "cache")
    where = home / "projects" / "bench" / "m"
    Trainer(library, Start.resolve(where, dict(layers=2, hidden=256, embedding=64, steps=1)), log=lambda m: None).run()
    return where


def python_api(poet: Poet, length: int, seed: int, highlight: bool) -> tuple[float, float]:
    """(seconds to the first chunk, seconds in all) for poet.stream_highlighted, as the server streams."""
    start = time.perf_counter()
    first = None
    for _ in poet.stream_highlighted(PROMPT, SampleConfig(length, temperature=0.8, seed=seed), quotes=highlight):
        first = first or time.perf_counter()
    return first - start, time.perf_counter() - start


def client(http: httpx.Client, length: int, seed: int, highlight: bool) -> tuple[float, float]:
    """(seconds to the first `text` event, seconds to `done`) for POST /api/stream, on a kept-alive connection."""
    body = {"prompt": PROMPT, "length": length, "temperature": 0.8, "seed": seed, "highlight": highlight}
    start = time.perf_counter()
    first = None
    with http.stream("POST", "api/stream", json=body) as response:
        for line in response.iter_lines():
            if line == "event: text" and first is None:
                first = time.perf_counter()
            elif line == "event: done":
                break
    return first - start, time.perf_counter() - start


WATCH = """() => {
  const out = document.querySelector("#write-out"), t = (window.__t = {start: performance.now()});
  new MutationObserver(() => {
    if (!t.first && out.textContent.length) t.first = performance.now();
    if (out.dataset.state === "done" && !t.done) t.done = performance.now();
  }).observe(out, {childList: true, subtree: true, characterData: true, attributes: true});
  document.querySelector("#generate").click();
}"""


def browser_runs(url: str, length: int, repeat: int) -> list[tuple[float, float]]:
    """(first character on screen, text done) in seconds after the click, in headless Chromium."""
    from playwright.sync_api import sync_playwright

    runs = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page()
        page.goto(url)
        page.fill("#write-form [name=length]", str(length))
        for seed in range(repeat + 1):
            page.fill("#write-form [name=seed]", str(seed))
            page.evaluate(WATCH)
            page.wait_for_function("() => window.__t.done", timeout=120_000)
            t = page.evaluate("() => window.__t")
            runs.append(((t["first"] - t["start"]) / 1000, (t["done"] - t["start"]) / 1000))
        browser.close()
    return runs[1:]  # the first run warms up


def summary(name: str, runs: list[tuple[float, float]], length: int, base: float | None) -> float:
    """Print one row: median and best time to first char, median and best chars/s, and the ratio to base."""
    firsts, rates = [r[0] * 1000 for r in runs], [length / r[1] for r in runs]
    rate = statistics.median(rates)
    ratio = f"{rate / base:.3f}" if base else "1"
    first = statistics.median(firsts)
    print(f"{name:<44} {first:>8.1f} {min(firsts):>8.1f} {rate:>10,.0f} {max(rates):>10,.0f} {ratio:>7}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=2000, help="characters per generation")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the reference row")
    parser.add_argument("--book", type=int, default=1342, help="the model's library")
    parser.add_argument("--mirror", default=os.environ.get("POET_GUTENBERG_URL") or str(SHARED))
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        where = make_model(home, args.book, args.mirror)
        env = dict(os.environ, POET_HOME=str(home), POET_CACHE=str(home / "cache"))
        server, url = start_server(env, "--mirror", args.mirror)
        try:
            http = httpx.Client(base_url=url, timeout=120)
            poet = Poet.load(where, source=args.mirror, cache=home / "cache")
            poet.index()
            seeds = range(1, args.repeat + 1)
            for highlight in (False, True):  # warm up both sides
                python_api(poet, args.length, 0, highlight)
                client(http, args.length, 0, highlight)
            print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs; 2x256 LSTM, vocabulary "
                  f"{len(poet.vocab)}, book {args.book}; {args.length} chars per run, {args.repeat} runs\n")  # fmt: skip
            print(f"{'path':<44} {'first ms':>8} {'best':>8} {'chars/s':>10} {'best':>10} {'ratio':>7}")
            runs = [python_api(poet, args.length, seed, False) for seed in seeds]
            summary(f"Python API, {args.threads} threads, text only", runs, args.length, None)
            torch.set_num_threads(1)  # as the server runs each generation
            for highlight, label in ((False, "text only"), (True, "highlighted")):
                runs = [python_api(poet, args.length, seed, highlight) for seed in seeds]
                base = summary(f"Python API, 1 thread, {label}", runs, args.length, None)
                runs = [client(http, args.length, seed, highlight) for seed in seeds]
                summary(f"HTTP client of /api/stream, {label}", runs, args.length, base)
            if not args.no_browser:
                runs = browser_runs(url, args.length, args.repeat)
                summary("Chromium, the Write page (highlighted)", runs, args.length, base)
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()

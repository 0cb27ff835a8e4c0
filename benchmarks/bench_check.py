"""Checking a large file for quotes, three ways side by side: `poet highlight FILE` (the reference), the web API's
POST /api/highlight/stream read by an HTTP client, and the Check tab in headless Chromium (a file picked, its text
and quotes shown as they stream in, until the status says it is checked). The model's library is Pride and
Prejudice; each file is tiny-shakespeare repeated to its size with a passage of the novel every 100 kB, so that
every part has quotes to find. MB/s of each, and the seconds to the first quote the client sees.

    .venv/bin/python benchmarks/bench_check.py [--sizes 1 5 20] [--repeat 3] [--no-browser]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx

from bench_serve import SHARED, make_model
from common import start_server

SHAKESPEARE = SHARED.parent / "corpora" / "tiny-shakespeare.txt"


def make_file(path: Path, mb: float, novel: str) -> Path:
    """tiny-shakespeare to `mb` MB, with a 300-character passage of the novel every 100 kB."""
    base, size, parts, at = SHAKESPEARE.read_text(), int(mb * 1e6), [], 0
    while sum(map(len, parts)) < size:
        parts += [base[:100_000], novel[at : at + 300]]
        base, at = base[100_000:] + base[:100_000], (at + 7_919) % (len(novel) - 300)
    path.write_text("".join(parts)[:size])
    return path


def cli(env: dict, file: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "torch_poet", "highlight", str(file), "--project", "bench", "--model", "m",
                    "--no-color"], env=env, check=True, capture_output=True)  # fmt: skip
    return time.perf_counter() - start


def client(http: httpx.Client, file: Path) -> tuple[float, float]:
    """(seconds to the first quote, seconds to `done`)."""
    start, first = time.perf_counter(), None
    with http.stream("POST", "api/highlight/stream", params={"project": "bench", "model": "m"},
                     content=file.read_bytes(), headers={"Content-Type": "text/plain"}) as response:  # fmt: skip
        for line in response.iter_lines():
            if first is None and line.startswith("data: ") and '"quoted": true' in line:
                first = time.perf_counter()
            elif line == "event: done":
                break
    return (first or time.perf_counter()) - start, time.perf_counter() - start


def browser(url: str, file: Path) -> float:
    """Seconds from picking the file to the status line saying it is checked."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = chromium.new_page()
        page.goto(url + "#check")
        page.select_option("#model", "bench/m")
        start = time.perf_counter()
        page.set_input_files("#check-file", str(file))
        expect(page.locator("#check-status")).to_contain_text(f"of {file.name} checked", timeout=600_000)
        seconds = time.perf_counter() - start
        chromium.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 5, 20], help="file sizes in MB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mirror", default=os.environ.get("POET_GUTENBERG_URL") or str(SHARED))
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        make_model(home, 1342, args.mirror)
        novel = (Path(args.mirror) / "cache/epub/1342/pg1342.txt").read_text(encoding="utf-8")
        env = dict(os.environ, POET_HOME=str(home), POET_CACHE=str(home / "cache"))
        server, url = start_server(env, "--mirror", args.mirror)
        try:
            http = httpx.Client(base_url=url, timeout=600)
            client(http, make_file(home / "warm.txt", 0.2, novel))  # the model and its index loaded
            print(f"{'MB':>5} {'poet highlight':>15} {'API':>9} {'first quote':>12} {'page':>9}   (MB/s; seconds)")
            for mb in args.sizes:
                file = make_file(home / f"check-{mb:g}MB.txt", mb, novel)
                reference = statistics.median(cli(env, file) for _ in range(args.repeat))
                runs = [client(http, file) for _ in range(args.repeat)]
                api, first = statistics.median(r[1] for r in runs), statistics.median(r[0] for r in runs)
                page = statistics.median(browser(url, file) for _ in range(args.repeat)) if not args.no_browser else None
                shown = f"{mb / page:9.2f}" if page else f"{'-':>9}"
                print(f"{mb:5g} {mb / reference:15.2f} {mb / api:9.2f} {first:11.2f}s {shown}", flush=True)
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()

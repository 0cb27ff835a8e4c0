"""What following a training on the web page costs the trainer: `poet train` chars/s with the Training tab open in
headless Chromium (its refresh every 2 s: the model listing, the runs, the card's heartbeat; a new snapshot redraws
the card) against the same browser on a blank page, alternated, one `poet serve` throughout, on the same cores.

Each run: a 2x256 LSTM on tiny-shakespeare, batch 64x128, `--minutes` of training, a snapshot every `--minutes`/4;
its speed is the median chars/s of its snapshots after the first (warm-up). Target: within noise.

    .venv/bin/python benchmarks/bench_dashboard.py [--minutes 1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tiny-shakespeare.txt"
CHROMIUM = "/usr/bin/chromium"


def train(env: dict, minutes: float) -> float:
    """One `poet train --restart` run; the median chars/s of its snapshots after the first."""
    args = ["--project", "bench", "--model", "m", "--file", str(SHAKESPEARE), "--layers", "2", "--hidden", "256",
            "--batch-size", "64", "--seq-len", "128", "--minutes", str(minutes), "--snapshot-every", str(minutes / 4),
            "--eval-chars", "20000", "--restart"]  # fmt: skip
    subprocess.run([sys.executable, "-m", "torch_poet", "train", *args], env=env, check=True, capture_output=True)
    history = Path(env["POET_HOME"]) / "projects/bench/m/history.jsonl"
    rows = [json.loads(line) for line in history.read_text().splitlines()]
    return statistics.median(r["chars_per_sec"] for r in rows[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="training minutes of each run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, alternated")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "POET_HOME": f"{tmp}/home", "POET_CACHE": f"{tmp}/cache"}
        train(env, 0.1)  # the library prepared and the model there before the first measured run
        server = subprocess.Popen([sys.executable, "-m", "torch_poet", "serve", "--port", "0"], env=env,
                                  stderr=subprocess.PIPE, text=True)  # fmt: skip
        url = re.search(r"serving (http://\S+/)", server.stderr.readline()).group(1)
        rates: dict[str, list[float]] = {"page closed": [], "dashboard open": []}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM)
                page = browser.new_page(viewport={"width": 1366, "height": 900})
                for i in range(args.rounds):
                    for name in sorted(rates, reverse=i % 2 == 1):  # alternated: neither always goes first
                        page.goto(url + "#dashboard" if name == "dashboard open" else "about:blank")
                        rates[name].append(train(env, args.minutes))
                        print(f"round {i + 1}: {name:15} {rates[name][-1]:9,.0f} chars/s", flush=True)
                browser.close()
        finally:
            server.terminate()
            server.wait()
    print(f"\n## training chars/s with the dashboard open, 2x256 LSTM, batch 64x128, {args.minutes} min a run, "
          f"{args.rounds} rounds alternated")  # fmt: skip
    base = statistics.median(rates["page closed"])
    for name, r in rates.items():
        median = statistics.median(r)
        print(f"{name:15} median {median:9,.0f} chars/s ({median / base - 1:+.1%})  ({', '.join(f'{x:,.0f}' for x in r)})")


if __name__ == "__main__":
    main()

"""What following a training on the web page costs the trainer: `poet train` chars/s with the Training tab open in
headless Chromium (its refresh every 2 s: the model listing, the runs, the card's heartbeat; a new snapshot redraws
the card and its chart) against the same browser on a blank page, one `poet serve` throughout, on the same cores.

Within one run, so that run-to-run spread (a few percent on these machines) does not hide the difference: a 2x256
LSTM on tiny-shakespeare, batch 64x128, `--minutes` of training with a snapshot every `--window` seconds; the page
switches between the dashboard and a blank page at each snapshot, and each window's chars/s (history.jsonl) counts
for the page shown during it. The first two windows are warm-up. Beside it, the CPU time `poet serve` and Chromium
took in each window, as a share of one core. Target: within noise.

    .venv/bin/python benchmarks/bench_dashboard.py [--minutes 6] [--window 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import start_server

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tiny-shakespeare.txt"
CHROMIUM = "/usr/bin/chromium"
STATES = ("page closed", "dashboard open")


def cpu_seconds(server: int) -> float:
    """CPU seconds used so far by the server and every Chromium process (from /proc: user and system time)."""
    ticks = 0
    for d in Path("/proc").glob("[0-9]*"):
        try:
            program = (d / "cmdline").read_bytes().split(b"\0")[0]
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(d.name) == server or program.endswith(b"chromium"):
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=6.0, help="training minutes of the run")
    parser.add_argument("--window", type=float, default=20.0, help="seconds between snapshots, and between switches")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rates: dict[str, list[float]] = {name: [] for name in STATES}
    cpu: dict[str, list[float]] = {name: [] for name in STATES}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "POET_HOME": f"{tmp}/home", "POET_CACHE": f"{tmp}/cache"}
        server, url = start_server(env)
        train = ["--project", "bench", "--model", "m", "--file", str(SHAKESPEARE), "--layers", "2", "--hidden", "256",
                 "--batch-size", "64", "--seq-len", "128", "--minutes", str(args.minutes), "--eval-chars", "20000",
                 "--snapshot-every", str(args.window / 60), "--sample-every", "1e9"]  # fmt: skip
        trainer = subprocess.Popen([sys.executable, "-m", "torch_poet", "train", *train], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        history = Path(tmp) / "home/projects/bench/m/history.jsonl"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM)
                page = browser.new_page(viewport={"width": 1366, "height": 900})
                seen, state = 0, 0
                used, began = cpu_seconds(server.pid), time.monotonic()
                while trainer.poll() is None:
                    rows = history.read_text().splitlines() if history.exists() else []
                    if len(rows) > seen:  # a window ended: it counts for the page shown during it
                        seen, name = len(rows), STATES[state]
                        if seen > 2:
                            rates[name].append(json.loads(rows[-1])["chars_per_sec"])
                            cpu[name].append((cpu_seconds(server.pid) - used) / (time.monotonic() - began))
                            print(f"window {seen}: {name:15} {rates[name][-1]:9,.0f} chars/s, page and server "
                                  f"{cpu[name][-1]:.1%} of a core", flush=True)  # fmt: skip
                        state = 1 - state
                        page.goto(url + "#dashboard" if STATES[state] == "dashboard open" else "about:blank")
                        used, began = cpu_seconds(server.pid), time.monotonic()
                    time.sleep(0.05)
                browser.close()
        finally:
            trainer.kill()
            server.terminate()
            server.wait()
    print(f"\n## training chars/s with the dashboard open, 2x256 LSTM, batch 64x128, one {args.minutes}-minute run, "
          f"switched every {args.window:g} s")  # fmt: skip
    base = statistics.median(rates["page closed"])
    for name, r in rates.items():
        median = statistics.median(r)
        print(f"{name:15} median {median:9,.0f} chars/s ({median / base - 1:+.1%}) over {len(r)} windows "
              f"({min(r):,.0f}-{max(r):,.0f}); page and server {statistics.median(cpu[name]):.1%} of a core")


if __name__ == "__main__":
    main()

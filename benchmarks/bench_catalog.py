"""Catalog speed at the real catalog's size: cold parse, warm load and a search over 75,000 rows.

The rows are the fixture's real catalog rows repeated under new ids, written to a temporary local mirror, so the
benchmark needs no network. Targets: warm load <= 0.5 s, search <= 20 ms.

    .venv/bin/python benchmarks/bench_catalog.py [--rows 75000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from common import timed
from torch_poet.gutenberg import load_catalog, search

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "gutenberg"
SPEC = {"author": ["brontë", "Jane Austen", "Virginia Woolf"], "language": ["english"]}


def synthesize(rows: int, mirror: Path) -> int:
    """Write a `rows`-row pg_catalog.csv into `mirror`'s feed folder; returns its size in bytes."""
    with open(FIXTURE / "cache/epub/feeds/pg_catalog.csv", newline="", encoding="utf-8") as f:
        header, *real = list(csv.reader(f))
    out = mirror / "cache/epub/feeds/pg_catalog.csv"
    out.parent.mkdir(parents=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([str(i + 1), *real[i % len(real)][1:]] for i in range(rows))
    return out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=75_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mirror, cache = Path(tmp, "mirror"), Path(tmp, "cache")
        size = synthesize(args.rows, mirror)
        cold = timed(lambda: load_catalog(mirror, cache, refresh=True), args.repeat)
        warm = timed(lambda: load_catalog(mirror, cache), args.repeat)
        catalog = warm[2]
        found = timed(lambda: search(catalog, SPEC), args.repeat * 4)
        parsed = (cache / "gutenberg" / "catalog.json").stat().st_size
    print(f"catalog: {len(catalog):,} rows, CSV {size / 1e6:.1f} MB, parsed JSON {parsed / 1e6:.1f} MB")
    print(f"{'step':<44} {'best':>9} {'median':>9} {'target':>8}")
    for name, (median, best, _), target in (
        ("cold: read CSV, parse, write JSON, index", cold, ""),
        ("warm: read JSON, index", warm, "0.5 s"),
        (f"search (author spec + english): {len(found[2])} books", found, "20 ms"),
    ):
        print(f"{name:<44} {best * 1e3:>7.1f}ms {median * 1e3:>7.1f}ms {target:>8}")


if __name__ == "__main__":
    main()

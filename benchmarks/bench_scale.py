"""Libraries of any size: what preparing, indexing, training and highlighting cost at 10 MB, 100 MB and 1 GB.

Each library is made of distinct synthetic books: windows of the fixture's 18 English novels with their words
shuffled within blocks of 100 (a book's own window and order, so that no two books share passages beyond chance),
written as cached Gutenberg books (ids from 9,000,001) into a fresh cache. At each size, every step is a fresh
process, measured from outside (wall time and peak RSS of that process):

- prepare: `torch_poet.library.build` of the cached books (read, hash, encode, write the token file);
- first train: `poet train` of a 2x256 LSTM for 1 step on a fresh cache: prepare, build the index, train, snapshot;
- resume: the same command for 1 step more, with everything prepared: the figure that must stay flat (and the
  same for a 2x512 model);
- index: build (MB/s, peak RSS, bytes per character on disk), open (fresh process), 10,000 characters segmented
  warm (median of 5), and cold after dropping the page cache (where this user may: root);
- highlight: `poet highlight` of 10,000 characters, a fresh process.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 10 100 1000] [--dir /tmp] [--keep]

A 1 GB run needs about 10 GB of free disk and some 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import splice

ROOT = Path(__file__).resolve().parents[1]
EPUB = ROOT.parent / "shared" / "gutenberg" / "cache" / "epub"
NOVELS = (1260, 768, 767, 969, 9182, 1028, 30486, 1342, 161, 158, 105, 121, 141, 946, 144, 1245, 5670, 29220)
FIRST_ID = 9_000_001
BOOK_CHARS = 1_000_000
ENV = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(ROOT / "src")}

# run a command and report its peak RSS (ru_maxrss of RUSAGE_CHILDREN: the children of this wrapper alone) and its
# peak private memory (RssAnon, polled every 20 ms): RSS also counts the pages of the memory-mapped files it has
# touched, which are the page cache's, shared and given back under pressure
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdin=sys.stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
anon = 0
while p.poll() is None:
    try:
        status = open(f"/proc/{p.pid}/status").read()
        anon = max(anon, int(status.split("RssAnon:")[1].split()[0]) / 1024)
    except (OSError, IndexError):
        pass
    time.sleep(0.02)
out, err = p.communicate()
print(json.dumps({"wall": time.perf_counter() - start, "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                  / 1024, "anon_mb": anon, "rc": p.returncode, "out": out[-4000:], "err": err[-4000:]}))
"""


def measured(*cmd: str, stdin: str = "", env: dict | None = None) -> dict:
    """Wall time, peak RSS and private memory (MB) and output of one fresh process."""
    r = subprocess.run([sys.executable, "-c", MEASURE, *cmd], input=stdin, capture_output=True, text=True,
                       env=env or ENV, check=True)  # fmt: skip
    result = json.loads(r.stdout)
    if result["rc"]:
        raise SystemExit(f"{' '.join(cmd[:6])}... failed:\n{result['err']}")
    return result


def words() -> np.ndarray:
    """Every word of the fixture's novels, in order."""
    from torch_poet.gutenberg import clean

    text = " ".join(clean((EPUB / str(i) / f"pg{i}.txt").read_bytes(), f"pg{i}.txt") for i in NOVELS)
    return np.array(text.split(), dtype=object)


def write_books(cache: Path, megabytes: int, source: np.ndarray) -> list[int]:
    """megabytes distinct books of about BOOK_CHARS characters, cached as Gutenberg books; their ids."""
    books = cache / "gutenberg" / "books"
    books.mkdir(parents=True, exist_ok=True)
    per_book = int(BOOK_CHARS / (sum(map(len, source[:100_000])) / 100_000 + 1))  # words, with their spaces
    per_book -= per_book % 100
    ids = []
    for k in range(max(1, megabytes * 1_000_000 // BOOK_CHARS)):
        rng = np.random.default_rng(k)
        at = int(rng.integers(0, len(source) - per_book))
        order = np.argsort(rng.random(per_book) + np.arange(per_book) // 100)  # shuffled within blocks of 100
        window = source[at : at + per_book][order].reshape(-1, 100)
        body = f"Book {k}\n\n" + "\n".join(" ".join(row) for row in window) + "\n"
        (books / f"{FIRST_ID + k}.txt").write_text(body)
        ids.append(FIRST_ID + k)
    return ids


def generated(cache: Path, ids: list[int], chars: int = 10_000) -> str:
    """Text as a model that copies now and then writes (`common.splice` over five of the books)."""
    rng = random.Random(0)
    books = [(cache / "gutenberg" / "books" / f"{i}.txt").read_text() for i in rng.sample(ids, min(5, len(ids)))]
    return splice(books, chars, rng)


PREPARE = """
import sys, time
from torch_poet.config import LibrarySpec
from torch_poet.library import build
start = time.perf_counter()
library = build(LibrarySpec(books=[int(i) for i in sys.argv[2:]]), sys.argv[1], log=lambda m: None)
print(library.chars, time.perf_counter() - start)
"""

INDEX = """
import sys, time
from torch_poet.attribution import Index
from torch_poet.library import open_prepared
library = open_prepared(__import__("pathlib").Path(sys.argv[1]))
start = time.perf_counter()
Index.cached(library)
print(time.perf_counter() - start)
"""

QUERY = """
import statistics, sys, time
from pathlib import Path
from torch_poet.attribution import Index
from torch_poet.library import open_prepared
start = time.perf_counter()
library = open_prepared(Path(sys.argv[1]))
index = Index.load(Path(sys.argv[1]) / "index", library)
opened = time.perf_counter() - start
text = sys.stdin.read()
start = time.perf_counter()
index.segment(text)
first = time.perf_counter() - start
times = []
for _ in range(5):
    start = time.perf_counter()
    index.segment(text)
    times.append(time.perf_counter() - start)
print(opened, first, statistics.median(times))
"""


def drop_page_cache() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def one_size(megabytes: int, where: Path, source: np.ndarray) -> dict:
    cache, home = where / f"cache-{megabytes}", where / f"home-{megabytes}"
    ids = write_books(cache, megabytes, source)
    mirror = str(ROOT.parent / "shared" / "gutenberg")
    env = {**ENV, "POET_CACHE": str(cache), "POET_HOME": str(home)}
    books = [a for i in ids for a in ("--book", str(i))]
    train = [sys.executable, "-m", "torch_poet", "train", "--project", "bench", "--model", "m", "--mirror", mirror,
             "--layers", "2", "--hidden", "256", "--eval-chars", "100000", *books]  # fmt: skip
    row: dict = {"MB": megabytes, "books": len(ids)}

    # the first run, on a fresh cache: prepare, index (at the first snapshot's samples), train
    first = measured(*train, "--steps", "1", env=env)
    row.update(first_wall=first["wall"], first_rss=first["rss_mb"], first_anon=first["anon_mb"])
    (library,) = (cache / "libraries").glob("[!.]*")
    chars = json.loads((library / "meta.json").read_text())["tokens"]
    row["chars"] = chars
    # preparation alone: the same books into another cache's libraries (the books themselves shared by a link)
    again = where / f"cache-{megabytes}-again"
    (again / "gutenberg").mkdir(parents=True, exist_ok=True)
    os.symlink(cache / "gutenberg" / "books", again / "gutenberg" / "books")
    shutil.copytree(
        cache / "gutenberg", again / "gutenberg", ignore=shutil.ignore_patterns("books"), dirs_exist_ok=True
    )
    prep = measured(sys.executable, "-c", PREPARE, mirror, *map(str, ids), env={**env, "POET_CACHE": str(again)})
    seconds = float(prep["out"].split()[1])
    row.update(prepare_mb_s=chars / 1e6 / seconds, prepare_rss=prep["rss_mb"], prepare_anon=prep["anon_mb"])
    # the index alone, built again beside the second preparation
    (prepared,) = (again / "libraries").glob("[!.]*")
    built = measured(sys.executable, "-c", INDEX, str(prepared), env=env)
    disk = sum(p.stat().st_size for p in (prepared / "index").iterdir())
    row.update(
        index_mb_s=chars / 1e6 / float(built["out"]), index_rss=built["rss_mb"], index_bytes_per_char=disk / chars
    )
    shutil.rmtree(again)

    resume = measured(*train, "--steps", "2", env=env)
    row.update(resume_wall=resume["wall"], resume_rss=resume["rss_mb"], resume_anon=resume["anon_mb"])
    wide = [*train[: train.index("m")], "m512", *train[train.index("m") + 1 :]]
    wide[wide.index("256")] = "512"
    measured(*wide, "--steps", "1", env=env)  # a 2x512 model of the same library, then its resume
    resume = measured(*wide, "--steps", "2", env=env)
    row.update(resume512_wall=resume["wall"], resume512_rss=resume["rss_mb"], resume512_anon=resume["anon_mb"])
    text = generated(cache, ids)
    query = measured(sys.executable, "-c", QUERY, str(library), stdin=text, env=env)
    opened, _, warm = map(float, query["out"].split())
    row.update(open_s=opened, segment_10k_ms=warm * 1000)
    if drop_page_cache():
        cold = measured(sys.executable, "-c", QUERY, str(library), stdin=text, env=env)
        opened, first_query, _ = map(float, cold["out"].split())
        row.update(cold_open_s=opened, cold_segment_10k_ms=first_query * 1000)
    high = measured(sys.executable, "-m", "torch_poet", "highlight", "--project", "bench", "--model", "m", "-",
                    stdin=text, env=env)  # fmt: skip
    row.update(highlight_wall=high["wall"], highlight_rss=high["rss_mb"], highlight_anon=high["anon_mb"])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000], help="library sizes in MB")
    parser.add_argument("--dir", default=None, help="where the libraries are made (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the libraries")
    args = parser.parse_args()
    where = Path(tempfile.mkdtemp(prefix="poet-scale-", dir=args.dir))
    source = words()
    avx512 = "avx512" in Path("/proc/cpuinfo").read_text()
    print(f"# bench_scale: {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {'AVX-512' if avx512 else 'AVX2'}, "
          f"{where}")  # fmt: skip
    rows = []
    try:
        for megabytes in args.sizes:
            rows.append(one_size(megabytes, where, source))
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()}), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(where, ignore_errors=True)
    keys = [k for k in rows[0] if k not in ("MB",)]
    print("\n| figure | " + " | ".join(f"{r['MB']} MB" for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for k in keys:
        print(f"| {k} | " + " | ".join(f"{r.get(k, float('nan')):,.3g}" for r in rows) + " |")


if __name__ == "__main__":
    main()

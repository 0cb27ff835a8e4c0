"""infini-gram (PyPI `infini-gram`, byte-level u8 mode) side by side with torch-poet's own longest-match engine.

Why: infini-gram indexes trillions of tokens with a Rust suffix-array builder and serves them from an mmapped C++
engine. Would its indexer, its on-disk layout or its engine serve the attribution index better than libdivsufsort
(pydivsufsort) plus numpy's lockstep binary search (`attribution.suffix_array`)?

Both engines get the same text: the women_writers library (18 books, 12 MB) folded text by text (`folding.fold`,
layout-blind, outside the timings); infini-gram gets each folded text's UTF-8 bytes. Its own tokenize step imports
transformers even in u8 mode, so `tokenized.0` (each text after a 0xff separator) and `offset.0` (u64 text starts)
are written here, and its indexer (`python -m infini_gram.indexing`, which runs the shipped `rust_indexing` binary)
skips to building `table.0`. Each build (bytes in memory -> index saved on disk) runs in a fresh process, the peak
RSS summed over its process tree sampled every 5 ms; each open is timed in a fresh process as well.

The query: every position's longest match for a generated-like text (random 5-40 char chunks of the books spliced
with random letters, fixed seed): `SuffixArray.match_lengths` (lengths capped at `stop` chars) against infini-gram's
`creativity` (byte lengths, turned into whole characters: a UTF-8 match starting at a character boundary can only
occur at one). Timings are warm (one untimed call first), median of --repeat.

    python3 -m venv /tmp/igvenv
    /tmp/igvenv/bin/pip install infini-gram numpy pydivsufsort platformdirs
    PYTHONPATH=src /tmp/igvenv/bin/python benchmarks/bench_infinigram.py [--chars 10000] [--repeat 7] [--builds 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import splice, timed

from torch_poet.attribution.folding import code_points, fold
from torch_poet.gutenberg import clean

EPUB = Path(__file__).resolve().parents[2] / "shared" / "gutenberg" / "cache" / "epub"
WOMEN_WRITERS = (1260, 768, 767, 969, 9182, 1028, 30486, 1342, 161, 158, 105, 121, 141, 946, 144, 1245, 5670, 29220)
ARRAYS = ("codes", "sa", "alphabet")  # what SuffixArray needs; Index.save adds drops, calibration and meta.json


def load_bodies() -> list[str]:
    return [clean((EPUB / str(i) / f"pg{i}.txt").read_bytes(), f"pg{i}.txt") for i in WOMEN_WRITERS]


def folded(bodies: list[str]) -> list[np.ndarray]:
    """Each text's code points as the suffix array sees them."""
    return [fold(code_points(b))[0] for b in bodies]


def as_text(points: np.ndarray) -> str:
    return points.astype("<u4").tobytes().decode("utf-32-le")


def rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (0 for one that is gone)."""
    proc = Path(f"/proc/{pid}")
    try:
        status = proc.joinpath("status").read_text().split("VmRSS:")
        tasks = [t.joinpath("children").read_text().split() for t in proc.joinpath("task").iterdir()]
    except OSError:
        return 0
    own = int(status[1].split()[0]) * 1024 if len(status) > 1 else 0  # a zombie has no VmRSS
    return own + sum(rss(int(c)) for children in tasks for c in children)


# --- what runs in a fresh process (this script with --child ROLE DIR); each returns a dict printed as JSON ---


def build_project(directory: Path) -> dict:
    from torch_poet.attribution.suffix_array import SuffixArray

    texts = folded(load_bodies())
    before = rss(os.getpid())
    start = time.perf_counter()
    sa = SuffixArray.build(texts)
    for name in ARRAYS:
        np.save(directory / f"{name}.npy", getattr(sa, name), allow_pickle=False)
    return {"seconds": time.perf_counter() - start, "before": before, "pointer": sa.sa.itemsize}


def build_infinigram(directory: Path) -> dict:
    texts = [as_text(t) for t in folded(load_bodies())]
    before = rss(os.getpid())
    start = time.perf_counter()
    data = [b"\xff" + t.encode() for t in texts]
    (directory / "tokenized.0").write_bytes(b"".join(data))
    offsets = np.cumsum([0] + [len(d) for d in data[:-1]], dtype="<u8")
    (directory / "offset.0").write_bytes(offsets.tobytes())
    memory_gib = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**31  # half the RAM, in GiB
    command = [sys.executable, "-m", "infini_gram.indexing", "--data_dir", str(directory), "--save_dir",
               str(directory), "--token_dtype", "u8", "--cpus", str(os.cpu_count()), "--mem", str(max(1, memory_gib)),
               "--ulimit", str(resource.getrlimit(resource.RLIMIT_NOFILE)[1])]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"infini-gram's indexer failed: {done.stderr[-2000:]}")
    seconds = time.perf_counter() - start
    pointer = (directory / "table.0").stat().st_size // (directory / "tokenized.0").stat().st_size
    return {"seconds": seconds, "before": before, "pointer": pointer}


def open_project(directory: Path, mmap: bool) -> dict:
    from torch_poet.attribution.suffix_array import SuffixArray

    start = time.perf_counter()
    mode = "r" if mmap else None
    codes, sa, alphabet = (np.load(directory / f"{name}.npy", mmap_mode=mode, allow_pickle=False) for name in ARRAYS)
    SuffixArray(alphabet, codes, sa)
    return {"open": time.perf_counter() - start}


def open_infinigram(directory: Path) -> dict:
    from infini_gram.engine import InfiniGramEngine

    start = time.perf_counter()
    InfiniGramEngine(index_dir=str(directory), eos_token_id=0, vocab_size=255, token_dtype="u8")
    return {"open": time.perf_counter() - start}


CHILDREN = {
    "build-project": build_project,
    "build-infinigram": build_infinigram,
    "open-project": lambda d: open_project(d, mmap=False),
    "open-project-mmap": lambda d: open_project(d, mmap=True),
    "open-infinigram": open_infinigram,
}


def child(role: str, directory: Path) -> dict:
    """Run a role in a fresh process: its result, and the peak RSS of its process tree (sampled, bytes)."""
    process = subprocess.Popen([sys.executable, __file__, "--child", role, str(directory)], stdout=subprocess.PIPE)
    peak = 0
    while True:
        pid, status = os.waitpid(process.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, rss(process.pid))
        time.sleep(0.005)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{role} failed (exit {process.returncode})")
    return json.loads(process.stdout.read()) | {"peak": peak}


# --- the comparison ---


def build(role: str, directory: Path, times: int) -> dict:
    """Build `times` times into the emptied directory, each in a fresh process: the median seconds, and the peaks of
    the run with the highest tree peak."""
    runs = []
    for _ in range(times):
        for f in directory.iterdir():
            f.unlink()
        runs.append(child(role, directory))
    return max(runs, key=lambda r: r["peak"]) | {"seconds": statistics.median(r["seconds"] for r in runs)}


def disk(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.iterdir())


def query_project(directory: Path, text: str, repeat: int) -> tuple[float, float, np.ndarray, int]:
    """(median, best) seconds of match_lengths, the lengths, and the cap on them."""
    from torch_poet.attribution.suffix_array import SuffixArray

    codes, sa, alphabet = (np.load(directory / f"{name}.npy", allow_pickle=False) for name in ARRAYS)
    suffixes = SuffixArray(alphabet, codes, sa)
    suffixes.match_lengths(text)
    median, best, lengths = timed(lambda: suffixes.match_lengths(text), repeat)
    return median, best, lengths, suffixes.stop


def query_infinigram(directory: Path, query: str, repeat: int, **options) -> tuple[float, float, np.ndarray]:
    """(median, best) seconds of creativity, and each character's longest match in whole characters."""
    from infini_gram.engine import InfiniGramEngine

    engine = InfiniGramEngine(index_dir=str(directory), eos_token_id=0, vocab_size=255, token_dtype="u8", **options)
    ids = list(query.encode())
    engine.creativity(ids)
    median, best, result = timed(lambda: engine.creativity(ids), repeat)
    starts = np.cumsum([0] + [len(c.encode()) for c in query])  # byte offset of each character, then the end
    ends = np.array(result["rs"])[starts[:-1]]
    return median, best, np.searchsorted(starts, ends, side="right") - 1 - np.arange(len(query))


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    print()


def compare(args: argparse.Namespace) -> None:
    from importlib.metadata import version

    load = os.getloadavg()[0]
    bodies = load_bodies()
    start = time.perf_counter()
    texts = [as_text(t) for t in folded(bodies)]
    fold_seconds = time.perf_counter() - start
    chars = sum(map(len, texts))
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    text = splice(bodies, args.chars, random.Random(args.seed))
    query = as_text(folded([text])[0])
    mib = 2**20
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = Path(tmp, "project"), Path(tmp, "infinigram")
        ours.mkdir()
        theirs.mkdir()
        built = {"project": build("build-project", ours, args.builds),
                 "infinigram": build("build-infinigram", theirs, args.builds)}  # fmt: skip
        opened = {role: child(role, d) for role, d in
                  (("open-project", ours), ("open-project-mmap", ours), ("open-infinigram", theirs))}  # fmt: skip
        ours_q = query_project(ours, text, args.repeat)
        theirs_q = query_infinigram(theirs, query, args.repeat)
        tuned_q = query_infinigram(theirs, query, args.repeat, ds_prefetch_depth=0, sa_prefetch_depth=0)
        sizes = {"project": disk(ours), "infinigram": disk(theirs)}

    def build_cells(name: str) -> tuple[str, ...]:
        b = built[name]
        return (f"{megabytes / b['seconds']:.1f} MB/s ({b['seconds']:.2f} s)",
                f"{b['peak'] / mib:.0f} MiB (+{(b['peak'] - b['before']) / mib:.0f})",
                f"{sizes[name] / chars:.2f} B/char, {b['pointer']} B/pointer")  # fmt: skip

    def open_cell(role: str) -> str:
        return f"{opened[role]['open'] * 1e3:.1f} ms"

    def query_cell(median: float, best: float) -> str:
        return f"{median * 1e3:.1f} ms (best {best * 1e3:.1f})"

    print(f"women_writers: {len(texts)} books, {chars:,} folded chars, {megabytes:.2f} MB UTF-8; folding "
          f"{fold_seconds:.2f} s (outside the builds); {os.cpu_count()} CPUs, load average {load:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after; infini-gram {version('infini-gram')}, pydivsufsort "
          f"{version('pydivsufsort')}, numpy {np.__version__}")  # fmt: skip
    header = ("engine", "build (to disk)", "build peak RSS, process tree (+ over texts)", "disk", "open, fresh process",
              f"{args.chars:,}-char query, every position")  # fmt: skip
    table(header, [
        ("torch-poet: pydivsufsort + numpy lockstep", *build_cells("project"), open_cell("open-project"),
         query_cell(*ours_q[:2])),
        ("  same, arrays mmapped", "", "", "", open_cell("open-project-mmap"), ""),
        ("infini-gram: rust_indexing + C++ engine (mmap)", *build_cells("infinigram"), open_cell("open-infinigram"),
         query_cell(*theirs_q[:2])),
        ("  same, prefetch off (ds/sa_prefetch_depth=0)", "", "", "", "", query_cell(*tuned_q[:2])),
    ])  # fmt: skip
    lengths, cap = ours_q[2], ours_q[3]
    theirs_lengths = theirs_q[2]
    same = np.minimum(theirs_lengths, cap) == lengths
    ascii_ = np.array([ord(c) < 128 for c in query])
    print(f"agreement: {same.sum():,} / {len(same):,} positions give the same longest match (infini-gram's capped at "
          f"{cap}, torch-poet's reach); {ascii_.sum():,} ASCII positions, {same[ascii_].sum():,} agree; longest "
          f"match {theirs_lengths.max()} chars, mean {lengths.mean():.1f}")  # fmt: skip
    if not same.all():
        print(
            f"first disagreements (position, torch-poet, infini-gram): "
            f"{[(int(i), int(lengths[i]), int(theirs_lengths[i])) for i in np.flatnonzero(~same)[:10]]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=10_000, help="chars of generated-like text queried")
    parser.add_argument("--repeat", type=int, default=7, help="timed queries per engine")
    parser.add_argument("--builds", type=int, default=3, help="builds per engine (fresh processes, median time)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=2, metavar=("ROLE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        role, directory = args.child
        print(json.dumps(CHILDREN[role](Path(directory))))
    elif importlib.util.find_spec("infini_gram") is None:
        print("infini-gram is not installed: skipped (see this script's docstring for its venv)")
    else:
        compare(args)


if __name__ == "__main__":
    main()

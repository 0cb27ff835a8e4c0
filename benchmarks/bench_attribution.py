"""Source attribution: speed of the suffix-array Index, and what its quote rule is worth.

Speed: "generated" text is spliced from random 5-40 character chunks of real book text and of random letters
(fixed seed), so it has matches of realistic length. Targets: 1,000 chars vs two novels >= 100x faster than the
original tool's naive highlighter; 10,000 chars vs the women_writers library (18 books, 12 MB) <= 20 ms once the
index is built; index build including the chance calibration >= 10 MB/s.

Quality: a library of Jane Austen and Charlotte Brontë (11 books); 7 books by Emily and Anne Brontë and Virginia
Woolf are unseen prose (10 passages of 2,000 chars each). False-quote rate: the share of unseen characters marked
as quoted. Recall: library passages with re-flowed lines, apostrophes and quotation marks swapped between
straight and typographic, and 1 letter in 150 changed; the share of unchanged characters found in a quote of
the right book at the right offset. Rules compared on the same texts: the original tool's (left to right, the
longest match at each position, >= 10 chars), longest first >= 10, and the default (longest first, calibrated).
Then the folding choices: case folding measured against the default, dash and white-space styles counted.

    .venv/bin/python benchmarks/bench_attribution.py [--chars 10000] [--naive-chars 1000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from unittest import mock

import numpy as np
from common import splice, timed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_attribution import passages, perturb  # noqa: E402  (the acceptance tests' own texts and edits)
from torch_poet.attribution import Index, folding
from torch_poet.gutenberg import clean
from torch_poet.library import Library, Text

EPUB = Path(__file__).resolve().parents[2] / "shared" / "gutenberg" / "cache" / "epub"
NOVELS = (1342, 1260)  # Pride and Prejudice, Jane Eyre
WOMEN_WRITERS = (1260, 768, 767, 969, 9182, 1028, 30486, 1342, 161, 158, 105, 121, 141, 946, 144, 1245, 5670, 29220)
LIBRARY = (1342, 161, 158, 105, 121, 141, 946, 1260, 9182, 1028, 30486)  # Jane Austen and Charlotte Brontë
UNSEEN = (768, 767, 969, 144, 1245, 5670, 29220)  # Emily and Anne Brontë, Virginia Woolf


def load_books(ids) -> list[Text]:
    texts = []
    for book_id in ids:
        path = EPUB / str(book_id) / f"pg{book_id}.txt"
        texts.append(Text(f"pg{book_id}", path.stem, "", clean(path.read_bytes(), path.name), book_id=book_id))
    return texts


def naive_quotes(texts: list[Text], text: str, min_quote: int = 10) -> list[tuple[int, int]]:
    """The original tool: at each position, per book, grow the candidate while `in` still finds it."""
    quotes, i = [], 0
    while i < len(text):
        longest = 0
        for book in texts:
            length = 0
            while i + length < len(text) and text[i : i + length + 1] in book.text:
                length += 1
            longest = max(longest, length)
        if longest >= min_quote:
            quotes.append((i, i + longest))
            i += longest
        else:
            i += 1
    return quotes


def ms(median: float, best: float) -> str:
    return f"{median * 1e3:.2f} ms (best {best * 1e3:.2f})"


def build(texts: list[Text], repeat: int, calibrate: bool = True) -> tuple[Index, float, tuple[str, ...]]:
    """The index (of the texts as a library held in memory), the MB of UTF-8 it covers, and the table cells for
    speed, resident and peak memory."""
    chars = sum(len(t.text) for t in texts)
    megabytes = sum(len(t.text.encode()) for t in texts) / 1e6
    library = Library.from_texts(texts)
    seconds, _, index = timed(lambda: Index.build(library, calibrate), repeat)
    tracemalloc.start()
    Index.build(library, calibrate)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    arrays = [index.drops, index.sizes, *(a for s in index.shards for a in (s.codes, s.sa, s.alphabet, s.head))]
    resident = sum(a.nbytes for a in arrays)
    cells = (f"{megabytes / seconds:.1f} MB/s", f"{resident / chars:.1f} B/char", f"peak {peak / chars:.1f} B/char")
    return index, megabytes, cells


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    print()


def speed(args, rng) -> None:
    novels = load_books(NOVELS)
    index, mb, cells = build(novels, args.repeat)
    short = splice([t.text for t in novels], args.naive_chars, rng)
    naive, _, _ = timed(lambda: naive_quotes(novels, short), 1)
    median, best, _ = timed(lambda: index.segment(short), args.repeat)
    rows = [
        (f"{args.naive_chars:,} chars vs 2 novels ({mb:.1f} MB)", f"{naive:.3f} s", ms(median, best),
         f"{naive / median:,.0f}x", ">= 100x"),
        ("index build with calibration, 2 novels", "", *cells, ""),
    ]  # fmt: skip
    library = load_books(WOMEN_WRITERS)
    repeat = max(1, args.repeat // 3)
    _, _, plain = build(library, repeat, calibrate=False)
    index, mb, cells = build(library, repeat)
    generated = splice([t.text for t in library], args.chars, rng)
    median, best, spans = timed(lambda: index.segment(generated), args.repeat)
    quoted = sum(len(s.text) for s in spans if s.quoted) / len(generated)
    rows.append((f"{args.chars:,} chars vs women_writers ({mb:.1f} MB), {quoted:.0%} quoted", "",
                 ms(median, best), "", "<= 20 ms"))  # fmt: skip
    book = library[0].text
    recital = book[len(book) // 3 :][: args.chars]  # a model reciting its training text: one huge quote
    median, best, _ = timed(lambda: index.segment(recital), args.repeat)
    rows.append((f"{args.chars:,} chars verbatim from one book", "", ms(median, best), "", ""))
    rows.append((f"index build with calibration, {len(library)} books", "", *cells, ">= 10 MB/s"))
    rows.append((f"index build without calibration, {len(library)} books", "", *plain, ""))
    rows.append((f"calibrated quote length, {len(library)} books", "", f"{index.threshold} chars",
                 f"unseen: {index.rule().unseen.fraction:.2%} quoted", ""))  # fmt: skip
    with tempfile.TemporaryDirectory() as d:  # what a first start writes, and every later start reads
        saved, _, _ = timed(lambda: index.save(Path(d)), repeat)
        opened, best, _ = timed(lambda: Index.load(Path(d), index.library), args.repeat)
    rows.append((f"index save, {len(library)} books (each file fsynced)", "", f"{saved * 1e3:.0f} ms", "", ""))
    rows.append((f"index open, {len(library)} books", "", ms(opened, best), "", ""))
    table(("case", "naive", "Index", "ratio / memory", "target"), rows)


def greedy(index: Index, text: str, least: int) -> list[tuple[int, int]]:
    """The original tool's rule on the same index: left to right, the longest match here if >= least.
    (Match lengths are capped at 64 chars: a longer match reads as touching quotes, which covers the same.)"""
    (shard,) = index.shards
    lengths = shard.match_lengths(text)
    quotes, i = [], 0
    while i < len(lengths):
        if lengths[i] >= least:
            quotes.append((i, i + int(lengths[i])))
            i += int(lengths[i])
        else:
            i += 1
    return quotes


def score(quotes, unseen: list[str], cases: list[tuple]) -> tuple[str, ...]:
    """Table cells for a rule: quotes(text) -> [(start, end, sources or None)]; None counts as the right place."""
    marked = longest = 0
    start = time.perf_counter()
    for p in unseen:
        found = quotes(p)
        marked += sum(b - a for a, b, _ in found)
        longest = max([longest] + [b - a for a, b, _ in found])
    total = sum(map(len, unseen))
    per_10k = (time.perf_counter() - start) / total * 10_000
    recovered = unchanged = 0
    for key, offset, text, origin, changed in cases:
        unchanged += len(text) - len(changed)
        for a, b, sources in quotes(text):
            if sources is None or any(x.key == key and x.offset == offset + origin[a] for x in sources):
                recovered += sum(1 for k in range(a, b) if k not in changed)
    return f"{marked / total:.2%}", f"{longest}", f"{recovered / unchanged:.1%}", f"{per_10k * 1e3:.1f} ms"


def quality(args, rng) -> None:
    library = load_books(LIBRARY)
    index = Index.build(Library.from_texts(library))
    unseen = [p for t in load_books(UNSEEN) for p in passages(t.text)]
    cases = []
    for book in library[::2]:
        for start in (len(book.text) // 7, len(book.text) // 2, 6 * len(book.text) // 7):
            cases.append((book.key, start, *perturb(book.text[start : start + 1500], rng)))

    def segmented(index: Index, least: int | None):
        return lambda text: [(s.start, s.end, s.sources) for s in index.segment(text, least) if s.quoted]

    def greedy10(text: str) -> list[tuple]:
        _, keep = folding.fold(folding.code_points(text))
        origin = np.append(np.flatnonzero(keep), len(text))  # folded offsets -> original ones
        return [(int(origin[a]), int(origin[b]), None) for a, b in greedy(index, text, 10)]

    rules = [
        ("original: left to right, >= 10 chars (recall by position)", greedy10),
        ("longest first, >= 10 chars", segmented(index, 10)),
        (f"default: longest first, >= {index.threshold} chars (calibrated)", segmented(index, None)),
    ]
    print(f"{len(unseen)} unseen passages ({sum(map(len, unseen)):,} chars), {len(cases)} perturbed library passages;"
          f" the library's own estimate for unseen text at its threshold: {index.rule().unseen}")  # fmt: skip
    table(("rule", "unseen chars marked", "longest false quote", "recall", "time per 10k chars"),
          [(name, *score(rule, unseen, cases)) for name, rule in rules])  # fmt: skip

    rows = [("case kept (default)", f"{index.threshold}", *score(segmented(index, None), unseen, cases))]
    table16 = folding._FOLD16.copy()
    table16[: len(folding._FOLD)] = _case_folded()
    with mock.patch.object(folding, "_FOLD", _case_folded()), mock.patch.object(folding, "_FOLD16", table16):
        folded = Index.build(Library.from_texts(library))
        rows.append(("case folded", f"{folded.threshold}", *score(segmented(folded, None), unseen, cases)))
    table(("folding", "calibrated length", "unseen chars marked", "longest false quote", "recall", "time"), rows)
    body = "".join(t.text for t in library)
    hyphens, dashes = body.count("--"), body.count("\u2014")
    curly, straight = body.count("\u2019") + body.count("\u201c"), body.count("'") + body.count('"')
    print(f"styles in the library: '--' {hyphens:,}, '\u2014' {dashes:,}; curly marks {curly:,}, straight {straight:,}")


def _case_folded() -> np.ndarray:
    table_ = folding._FOLD.copy()
    for c in range(0x3001):
        lower = chr(c).lower()
        if len(lower) == 1 and lower != chr(c) and table_[c] == c:
            table_[c] = ord(lower)
    return table_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=10_000, help="generated chars against the whole library")
    parser.add_argument("--naive-chars", type=int, default=1_000, help="generated chars against the two novels")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per figure; naive runs once")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("speed", "quality"), help="one part only")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if args.only != "quality":
        speed(args, rng)
    if args.only != "speed":
        quality(args, rng)


if __name__ == "__main__":
    main()

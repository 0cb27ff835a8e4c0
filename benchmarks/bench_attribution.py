"""Source attribution speed: the suffix-array Index against the original tool's naive highlighter.

"Generated" text is spliced from random 5-40 character chunks of real book text and of random letters (fixed
seed), so it has quotes of realistic length. Targets: 1,000 chars vs two novels >= 100x faster than naive;
10,000 chars vs the whole library <= 20 ms once the index is built; index build >= 10 MB/s.

    .venv/bin/python benchmarks/bench_attribution.py [--chars 10000] [--naive-chars 1000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import random
import string
import tracemalloc
from pathlib import Path

from common import timed
from torch_poet.attribution import Index
from torch_poet.gutenberg import clean
from torch_poet.library import Text

EPUB = Path(__file__).resolve().parents[2] / "shared" / "gutenberg" / "cache" / "epub"
NOVELS = (1342, 1260)  # Pride and Prejudice, Jane Eyre


def load_books(ids: list[int]) -> list[Text]:
    texts = []
    for book_id in ids:
        path = EPUB / str(book_id) / f"pg{book_id}.txt"
        texts.append(Text(f"pg{book_id}", path.stem, "", clean(path.read_bytes(), path.name), book_id=book_id))
    return texts


def splice(texts: list[Text], chars: int, rng: random.Random) -> str:
    """Alternate chunks of real book text and random letters, 5-40 chars each, until `chars` long."""
    parts, size, real = [], 0, True
    while size < chars:
        n = rng.randint(5, 40)
        if real:
            book = rng.choice(texts).text
            at = rng.randrange(len(book) - n)
            parts.append(book[at : at + n])
        else:
            parts.append("".join(rng.choice(string.ascii_lowercase + "  ") for _ in range(n)))
        size += n
        real = not real
    return "".join(parts)[:chars]


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


def build(texts: list[Text], repeat: int) -> tuple[Index, float, tuple[str, ...]]:
    """The index, the MB of UTF-8 it covers, and the table cells for speed, resident and peak memory."""
    chars = sum(len(t.text) for t in texts)
    megabytes = sum(len(t.text.encode()) for t in texts) / 1e6
    seconds, _, index = timed(lambda: Index.build(texts), repeat)
    tracemalloc.start()
    Index.build(texts)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    resident = index.codes.nbytes + index.sa.nbytes + index.alphabet.nbytes + index._head.nbytes
    cells = (f"{megabytes / seconds:.1f} MB/s", f"{resident / chars:.1f} B/char", f"peak {peak / chars:.1f} B/char")
    return index, megabytes, cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=10_000, help="generated chars against the whole library")
    parser.add_argument("--naive-chars", type=int, default=1_000, help="generated chars against the two novels")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per figure; naive runs once")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    novels = load_books(list(NOVELS))
    library = load_books(sorted(int(p.name) for p in EPUB.iterdir() if p.name.isdigit()))

    index, mb, cells = build(novels, args.repeat)
    short = splice(novels, args.naive_chars, rng)
    naive, _, expected = timed(lambda: naive_quotes(novels, short), 1)
    median, best, spans = timed(lambda: index.segment(short), args.repeat)
    assert [(s.start, s.end) for s in spans if s.quoted] == expected, "the index disagrees with the naive rule"
    rows = [
        (f"{args.naive_chars:,} chars vs 2 novels ({mb:.1f} MB)", f"{naive:.3f} s", ms(median, best),
         f"{naive / median:,.0f}x", ">= 100x"),
        ("index build, 2 novels", "", *cells),
    ]  # fmt: skip

    index, mb, cells = build(library, max(1, args.repeat // 3))
    generated = splice(library, args.chars, rng)
    median, best, spans = timed(lambda: index.segment(generated), args.repeat)
    quoted = sum(len(s.text) for s in spans if s.quoted) / len(generated)
    rows.append((f"{args.chars:,} chars vs {len(library)} books ({mb:.1f} MB), {quoted:.0%} quoted", "",
                 ms(median, best), "", "<= 20 ms"))  # fmt: skip
    book = library[0].text
    recital = book[len(book) // 3 :][: args.chars]  # a model reciting its training text: one huge quote
    median, best, _ = timed(lambda: index.segment(recital), args.repeat)
    rows.append((f"{args.chars:,} chars verbatim from one book", "", ms(median, best), "", ""))
    rows.append((f"index build, {len(library)} books", "", *cells))

    header = ("case", "naive", "Index", "ratio / memory", "target")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")


if __name__ == "__main__":
    main()

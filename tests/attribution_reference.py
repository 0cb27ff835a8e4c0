"""Plain reference versions of layout-blind folding and the longest-first rule, which the attribution
tests hold the index to, and the small random libraries they draw."""

from hypothesis import strategies as st

from torch_poet.attribution import Index
from torch_poet.library import Library, Text


def fold_reference(s: str) -> tuple[str, list[int]]:
    """Layout-blind folding, plainly: white-space runs -> one space, curly quotes -> straight, -- -> em dash."""
    out, origin = [], []
    for i, c in enumerate(s):
        c = " " if c.isspace() else {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'}.get(c, c)
        if out and c == " " and out[-1] == " " and i > 0 and (s[i - 1].isspace()):
            continue
        if c == "-" and i > 0 and s[i - 1] == "-":
            out[-1] = "\u2014"
            continue
        out.append(c)
        origin.append(i)
    return "".join(out), origin


def reference(texts: list[str], text: str, least: int) -> list[tuple[int, int]]:
    """Longest first, plainly: every position's longest match, longest kept first, overlaps to the longer."""
    folded = [fold_reference(t)[0] for t in texts]
    q, origin = fold_reference(text)
    candidates = []
    for i in range(len(q)):
        length = 0
        while i + length < len(q) and any(q[i : i + length + 1] in t for t in folded):
            length += 1
        if length >= least:
            candidates.append((i, length))
    covered: set[int] = set()
    kept = []
    for start, length in sorted(candidates, key=lambda c: (-c[1], c[0])):
        free = [p for p in range(start, start + length) if p not in covered]
        assert free == list(range(free[0], free[-1] + 1)) if free else True  # the uncovered part is contiguous
        if free and len(free) >= least:
            covered.update(free)
            kept.append((free[0], free[-1] + 1))
    origin.append(len(text))
    return sorted((origin[a], origin[b]) for a, b in kept)  # a quote takes the characters folded into its last


def occurrences(texts: list[Text], quote: str) -> list[tuple[str, int]]:
    """Where the folded quote occurs in the folded texts, as offsets into the original texts."""
    found = []
    needle = fold_reference(quote)[0]
    for t in texts:
        haystack, origin = fold_reference(t.text)
        at = haystack.find(needle)
        while at != -1:
            found.append((t.key, origin[at]))
            at = haystack.find(needle, at + 1)
    return found


def check(texts: list[Text], text: str, min_quote: int) -> None:
    spans = Index.build(Library.from_texts(texts)).segment(text, min_quote, max_sources=10**9)
    assert "".join(s.text for s in spans) == text
    assert all(a.end == b.start for a, b in zip(spans, spans[1:]))
    assert all(s.quoted or t.quoted for s, t in zip(spans, spans[1:]))  # original stretches are merged
    assert [(s.start, s.end) for s in spans if s.quoted] == reference([t.text for t in texts], text, min_quote)
    by_key = {t.key: t.text for t in texts}
    for span in (s for s in spans if s.quoted):
        for s in span.sources:  # the book's own passage, which folds like the quote
            assert s.text == by_key[s.key][s.offset : s.offset + len(s.text)]
            assert fold_reference(s.text)[0] == fold_reference(span.text)[0]
        assert [(s.key, s.offset) for s in span.sources] == occurrences(texts, span.text)  # all, in library order
        assert span.count == len(span.sources)


ALPHABET = "ab éß\n-’"
corpora = st.lists(st.text(ALPHABET, max_size=60), min_size=1, max_size=4).map(
    lambda ts: [Text(f"k{i}", f"Title {i}", "Author", t) for i, t in enumerate(ts)]
)
generated = st.text(ALPHABET + "xé\u4e00 '\t", max_size=80)

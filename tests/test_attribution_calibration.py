import random

from torch_poet.attribution import MIN_PHRASE
from torch_poet.attribution.calibration import CHANCE, PASSAGE, Calibration, _passages


def chance_share(calibration: Calibration, least: int) -> float:
    """Plainly: the share of held-out characters inside a chance match of at least `least` chars, scaled."""
    covered = 0
    for lengths in calibration.chance:
        marked: set[int] = set()
        for i, n in enumerate(lengths.tolist()):
            if n >= least:
                marked.update(range(i, i + n))
        covered += len(marked)
    return calibration.scale * covered / sum(calibration.passages)


def test_passages_are_spread_over_the_books_within_the_budget():
    found = list(_passages(["a" * 10_000, "b" * 30_000, ""], 4 * PASSAGE))
    assert [(p[0], len(p)) for p in found] == [("a", PASSAGE)] + [("b", PASSAGE)] * 3
    assert [len(p) for p in _passages(["x" * 3000], 100 * PASSAGE)] == [PASSAGE, 1000]  # a short book: all of it


def test_passages_the_library_shares_are_not_chance():
    calibration = Calibration.measure(["the cat sat on the mat. " * 200])  # one book: two halves alike
    assert calibration.scale == 2.0 and sum(calibration.passages) == 2400
    assert calibration.threshold == MIN_PHRASE and calibration.figures(MIN_PHRASE).fraction == 0


def test_the_threshold_is_the_shortest_length_chance_seldom_reaches():
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 7))) for _ in range(300)]
    calibration = Calibration.measure([" ".join(rng.choice(words) for _ in range(20_000)) for _ in range(3)])
    least = calibration.threshold
    assert MIN_PHRASE < least < calibration.reach
    assert chance_share(calibration, least) <= CHANCE < chance_share(calibration, least - 1)
    assert calibration.figures(least).fraction <= CHANCE  # longest first marks no more than all matches do


def test_past_its_sample_the_calibration_measures_a_sample_of_books_scaled_to_the_library():
    """A library larger than SAMPLE_CHARS is calibrated on books drawn from all of it, SAMPLE_CHARS in all, and
    the figures scaled to the whole library: the threshold stays within a character of the whole library's."""
    from unittest import mock

    from torch_poet.attribution import Index, index
    from torch_poet.library import Library, Text

    rng = random.Random(1)
    words = ["".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(2, 8))) for _ in range(2000)]
    books = [Text(f"b{i}", "", "", " ".join(rng.choice(words) for _ in range(25_000))) for i in range(12)]
    library = Library.from_texts(books)
    whole = Index.build(library).calibration
    with mock.patch.object(index, "SAMPLE_CHARS", library.chars // 3):
        sampled = Index.build(library).calibration
    assert abs(sum(whole.passages) - sum(sampled.passages)) <= 0.05 * sum(whole.passages)  # the same held-out budget
    assert sampled.scale > 2.5 * whole.scale  # a third of the library measured, scaled to all of it
    assert abs(sampled.threshold - whole.threshold) <= 1, (sampled.threshold, whole.threshold)

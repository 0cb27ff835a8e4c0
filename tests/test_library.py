"""The library (library.py): readability is the share of a text's words that are words of the library."""

from helpers import lib

from torch_poet.library import readability


def test_readability_is_the_share_of_words_found_in_the_library():
    library = lib("The cat sat on the mat; Élodie's 2 dogs ran.")
    assert library.words == {"the", "cat", "sat", "on", "mat", "élodie", "s", "dogs", "ran"}
    assert readability("THE cat zat, the dog", library.words) == 3 / 5  # case ignored; "zat", "dog" are not words
    assert readability("élodie42mat", library.words) == 1.0  # digits split words
    assert readability("  12 ... !", library.words) == 0.0  # no words: nothing readable

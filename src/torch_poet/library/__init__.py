"""The training texts: found (`sources`), prepared once into memory-mapped files (`prepared`), read as words
(`texts`)."""

from .prepared import SEP, Entry, Library, Part, open_prepared, prepare
from .sources import build, reopen
from .texts import WORD, Text, file_keys, read_file, readability, words_of

__all__ = ["SEP", "WORD", "Entry", "Library", "Part", "Text", "build", "file_keys", "open_prepared", "prepare",
           "read_file", "readability", "reopen", "words_of"]  # fmt: skip

"""How the tool speaks to its user: `PoetError`, the one exception type meant for users (the CLI prints its
message on one line and exits non-zero), and `say`, a line on stderr for everything else it has to tell."""

from __future__ import annotations

import sys


class PoetError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""


class UnknownCharacters(PoetError):
    """A prompt with characters the model never saw. How to have them dropped is each front-end's own: `said`
    words it for the command line or the web page (the default is the Python API's)."""

    def __init__(self, shown: str, how: str = "pass skip_unknown=True"):
        super().__init__(f"the prompt has characters the model never saw: {shown}; remove them, or {how} to drop them")
        self.shown = shown

    def said(self, how: str) -> UnknownCharacters:
        return UnknownCharacters(self.shown, how)


def say(message: str, prefix: str = "poet: ") -> None:
    """A line on stderr, at once: results go to stdout, what the tool tells the user beside them comes here."""
    print(prefix + message, file=sys.stderr, flush=True)

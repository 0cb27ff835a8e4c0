"""How the tool speaks to its user: `PoetError`, the one exception type meant for users (the CLI prints its
message on one line and exits non-zero), and `say`, a line on stderr for everything else it has to tell."""

import sys


class PoetError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""


def say(message: str, prefix: str = "poet: ") -> None:
    """A line on stderr, at once: results go to stdout, what the tool tells the user beside them comes here."""
    print(prefix + message, file=sys.stderr, flush=True)

"""The one exception type meant for users: the CLI prints its message on one line and exits non-zero."""


class PoetError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""

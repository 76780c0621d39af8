"""User-facing errors.

Anything a user can fix (a path, a language code, a config key, a layer index) is raised as
`CrossalignError` with one line naming the problem and the fix. The CLI prints it and exits 2;
library users catch it like any exception. Bugs stay ordinary exceptions with tracebacks.
"""


class CrossalignError(Exception):
    """A problem with the user's input: the message names the problem and the fix, on one line."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # always one line


class MissingLanguage(CrossalignError):
    """A data source has no data for a language (callers combining several sources may skip it)."""

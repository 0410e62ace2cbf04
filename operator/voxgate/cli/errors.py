"""Errors that end a command with a one-line message instead of a traceback."""


class UsageError(Exception):
    """Bad input or a missing prerequisite the user can fix; printed as one line, exit code 2."""

"""The one kind of error the command line reports as a single line with exit status 2."""


class UsageError(ValueError):
    """Bad input from the user: a spec, a file, a folder. The message is one line that
    names what was wrong."""

"""The one exception type for a user's mistake: the command line prints its message on one line."""


class UserError(Exception):
    """Bad input from the person at the keyboard (not a bug): shown as one line, exit status 2."""

"""The one exception type for mistakes a user can fix (bad paths, bad values, bad files)."""


class UserError(Exception):
    """A problem with the user's input; scripts print its message on one line and exit non-zero."""

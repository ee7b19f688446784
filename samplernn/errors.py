"""The one exception type for mistakes a user can fix (bad paths, bad values, bad files)."""

import dataclasses


class UserError(Exception):
    """A problem with the user's input; scripts print its message on one line and exit non-zero."""


def check_keys(data, cls, source):
    """Refuse a mapping that is not a dict, or that has a key that is no field of the dataclass
    `cls`, in one line naming `source`."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a JSON object, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"{source}: unknown key {unknown[0]!r} (known keys: {', '.join(sorted(known))})")

"""Writing a file atomically: into a temporary file beside it, then renamed into place, so a
crash or a full disk never leaves a half-written file under the final name."""

import contextlib
import os
import secrets


@contextlib.contextmanager
def atomic_write(path, mode="wb", encoding=None):
    """Open a temporary file in `path`'s folder (created if need be) for writing; when the block
    ends without an exception it replaces `path`, otherwise it is removed.

    The file is created with mode 0o666 for the kernel to narrow by the umask (and any default
    ACL), as for any file the user writes; `tempfile.mkstemp` would make it owner-only.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise

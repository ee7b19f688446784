"""Shared pieces of the command-line scripts: strict parsers and the error boundary."""

import argparse
import os
import sys

from samplernn.errors import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def str2bool(text):
    """Parse True/False the way the reference's users type them (`--resume True`)."""
    lowered = str(text).strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def optional_int(text):
    """An integer, or None when the user types None (as for --max_checkpoints)."""
    if str(text).strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or None, got {text!r}") from None


def positive_int(text):
    value = _parse(int, text, "an integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def non_negative_int(text):
    value = _parse(int, text, "an integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_float(text):
    value = _parse(float, text, "a number")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _parse(kind, text, what):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def import_tensorflow_quietly():
    """Import TensorFlow with its native start-up notices (oneDNN, CUDA stubs) kept off stderr.

    TensorFlow 2.21 prints them before TF_CPP_MIN_LOG_LEVEL takes effect, and they would bury
    the one line a user mistake gets. Errors still surface as Python exceptions; set
    TF_CPP_MIN_LOG_LEVEL=0 to see everything.
    """
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def run(main_fn, argv=None, prog=None):
    """Run a script's body, turning user errors and Ctrl-C into one line and an exit code."""
    prog = prog or (sys.argv[0].rsplit("/", 1)[-1] if sys.argv else "samplernn")
    try:
        return main_fn(argv) or 0
    except UserError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED

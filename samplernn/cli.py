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


def folder_or_off(text):
    """A folder, or False when the user types None (as for --compilation_cache None)."""
    if str(text).strip().lower() == "none":
        return False
    if not str(text).strip():
        raise argparse.ArgumentTypeError("expected a folder or None, got an empty string")
    return text


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


class AsTyped(float):
    """A number that prints as the user typed it: `1.0` stays `1.0` and `1` stays `1`. The
    reference names generated files by the temperature's text (`--temperature 1.0` gives
    `..._t=1.0.wav`)."""

    __slots__ = ("text",)

    def __new__(cls, text):
        value = super().__new__(cls, text)
        value.text = str(text).strip()
        return value

    def __str__(self):
        return self.text

    def __reduce__(self):
        return (type(self), (self.text,))


def positive_float_as_typed(text):
    """A number > 0 that remembers how it was typed (AsTyped)."""
    positive_float(text)
    return AsTyped(text)


def _parse(kind, text, what):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


# Set to 1 to see TensorFlow's own log lines (see import_tensorflow_quietly).
TF_LOGS_VARIABLE = "SAMPLERNN_TF_LOGS"


def import_tensorflow_quietly():
    """Import TensorFlow with its native log lines kept off stderr, unless the user asks for them.

    On a CPU-only machine TensorFlow 2.21 prints `I0000 ... cudart_stub` lines while it loads,
    whatever TF_CPP_MIN_LOG_LEVEL says, then `E0000 ... failed call to cuInit` when it lists
    the devices, and on some CPUs a oneDNN notice. They are harmless, look like errors, and
    would bury the one line a user mistake gets. So the import runs with stderr on /dev/null,
    and TF_CPP_MIN_LOG_LEVEL defaults to 3 (fatal errors only) for the rest of the run. Real
    errors still reach the user as Python exceptions.

    SAMPLERNN_TF_LOGS=1 leaves TensorFlow to log as it would by itself; a TF_CPP_MIN_LOG_LEVEL
    the user set is kept, and at 0 the start-up lines show too.
    """
    if "tensorflow" in sys.modules or os.environ.get(TF_LOGS_VARIABLE, "").strip() == "1":
        return
    if os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3") == "0":
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# TensorFlow's oneDNN kernels read this once, at the first fused matmul a process runs.
FROZEN_WEIGHTS_VARIABLE = "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS"


def assume_frozen_weights(frozen):
    """Tell TensorFlow's oneDNN kernels whether this process's weights never change.

    When they never do, each fused MatMul + BiasAdd keeps its weight in oneDNN's own packed
    layout after its first run, instead of packing it again at every call. A few sequences
    make the products of a tier step skinny (8 rows by 6144 columns), and there packing
    costs as much as the product: at the default config and 8 sequences the tier steps ran
    at about half the memory bus's speed. Right only for a process that just generates, such
    as generate.py's: training's products would go on with the first step's weights. So the
    generate command sets it as its process starts, before TensorFlow can read it, and the
    training commands clear one the user's environment may carry."""
    if frozen:
        os.environ[FROZEN_WEIGHTS_VARIABLE] = "1"
    else:
        os.environ.pop(FROZEN_WEIGHTS_VARIABLE, None)


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

"""A progress line: rewritten in place on a terminal, printed as whole lines elsewhere.

Carriage returns only make sense to a terminal; in a log file (nohup, Colab's %%capture, CI)
they join a whole epoch's updates into one line. There a full line is printed at most every
LOG_INTERVAL_SECONDS instead.
"""

import sys
import time

LOG_INTERVAL_SECONDS = 5.0
# The clock the interval is measured on; a module attribute so tests can drive it.
clock = time.monotonic


class ProgressLine:
    """Shows `update(text)` on `stream` (sys.stdout when None, looked up at each update so a
    redirected stdout is followed)."""

    def __init__(self, stream=None, interval=LOG_INTERVAL_SECONDS):
        self.stream = stream
        self.interval = interval
        self._printed_at = None
        self._open = False  # a line rewritten in place that still needs its newline

    def update(self, text, last=False):
        """Show `text`; `last` ends the line (on a terminal) and is always printed."""
        stream = self.stream or sys.stdout
        if stream.isatty():
            print("\r" + text, end="\n" if last else "", flush=True, file=stream)
            self._open = not last
            return
        now = clock()
        if last or self._printed_at is None or now - self._printed_at >= self.interval:
            print(text, flush=True, file=stream)
            self._printed_at = now

    def end(self):
        """Finish a line left open on the terminal, so what follows starts on its own line."""
        if self._open:
            print(flush=True, file=self.stream or sys.stdout)
            self._open = False

"""A progress report for long loops: a tqdm bar when tqdm is installed (the `progress`
extra), else plain lines, or nothing. Used by the command line. (The estimators' verbose
prints scikit-learn's "Iteration N, loss = ..." lines instead.)"""

import sys
import time


class Progress:
    """update(n, **stats) after each step (n = 0 for a status before the first); close()
    at the end.

    Without tqdm, line(done, total, stats) -> str is printed to `stream`, at most once per
    `every` seconds (0: every update), and always for the last step.
    """

    def __init__(self, total, unit, *, enabled=True, desc=None, line=None, stream=None, every=0.0):
        self.enabled, self.total, self.done = bool(enabled), total, 0
        self.line, self.stream, self.every, self.last = line, stream, every, -float("inf")
        self.bar = None
        if self.enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, unit=unit, desc=desc, dynamic_ncols=True, file=stream or sys.stderr)

    def update(self, n=1, **stats):
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix(stats, refresh=n == 0)  # update(0, ...) is a status: show it now
        elif self.enabled and (time.perf_counter() - self.last >= self.every or self.done >= self.total):
            self.last = time.perf_counter()
            print(self.line(self.done, self.total, stats), file=self.stream or sys.stdout)

    def close(self):
        if self.bar is not None:
            self.bar.close()

"""Run a command; write its own peak resident set (KiB) to a file; exit as it did.

``python tests/peakrss.py OUT COMMAND...``.  On Linux a process inherits, in its
``ru_maxrss``, the RSS high-water mark of the process it was started from (fork copies
the counters and exec keeps the maximum), so a `coopfeed` started straight from a
pytest process that has grown to 300 MB reports at least 300 MB.  Started from this
small process instead, its figure is its own.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys


def main() -> None:
    out, *command = sys.argv[1:]
    code = subprocess.call(command)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with open(out, "w", encoding="ascii") as file:
        file.write(str(peak))
    if code < 0:  # killed by a signal: end the same way
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main()

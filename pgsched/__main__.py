"""``python -m pgsched`` runs the command line."""

import signal
import sys

if sys.argv[1:2] == ["worker"]:
    # A worker told to stop while it is still importing has started nothing: it exits
    # cleanly (0), not by the signal. Its own handlers take over once it runs. (The
    # `pgsched` script imports the command line first: there the window remains.)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, frame: sys.exit(0))

from pgsched.cli import main

main()

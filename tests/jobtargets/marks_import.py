"""Writes a marker file when imported, so a test can prove it never was.

The marker's path comes from ``TEST_IMPORT_MARKER``, set by the test.
"""

import os
from pathlib import Path

Path(os.environ["TEST_IMPORT_MARKER"]).write_text("imported")


def run() -> str:
    return "ran"

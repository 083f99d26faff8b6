# Helpers shared by the core tests, which run under pytest (CPython) and
# under host_tests/mp_runner.py (MicroPython unix port).

import os
import sys

MICROPYTHON = sys.implementation.name == "micropython"


class SkipTest(Exception):
    """Raised by skip() on MicroPython; mp_runner counts it as skipped."""


def skip(reason):
    if MICROPYTHON:
        raise SkipTest(reason)
    import pytest

    pytest.skip(reason)


_counter = [0]


def tmp_path(name):
    """A fresh file path under a per-process scratch directory."""
    base = os.getenv("DORA_TMP") or "/tmp"
    d = "%s/dora-test-%d" % (base, os.getpid()) if hasattr(os, "getpid") else base + "/dora-test-mp"
    try:
        os.mkdir(d)
    except OSError:
        pass
    _counter[0] += 1
    path = "%s/%d-%s" % (d, _counter[0], name)
    for suffix in ("", ".tmp", ".old"):
        try:
            os.remove(path + suffix)
        except OSError:
            pass
    return path


def raises(exc, fn, *args):
    """The exception fn(*args) raised (must be an `exc`)."""
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)


async def until(pred, ms=3000):
    """Poll pred() every 10 ms inside an asyncio loop, for at most ms:
    True once it holds, else False."""
    from dora.compat import sleep_ms

    for _ in range(ms // 10):
        if pred():
            return True
        await sleep_ms(10)
    return False

# Helpers shared by the core tests, which run under pytest (CPython) and
# under host_tests/mp_runner.py (MicroPython unix port).

import os
import sys

from polling import until  # noqa: F401 (tools/dora_lab/polling.py: the bench waits the same way)

MICROPYTHON = sys.implementation.name == "micropython"
# The Pico W image in the emulated RP2040 (tools/board_tests.py): a heap of
# about 190 kB, lease files on a RAM littlefs at /ram, no network.
ON_BOARD = sys.platform == "rp2"


class SkipTest(Exception):
    """Raised by skip() on MicroPython; mp_runner counts it as skipped."""


def env(name):
    """os.getenv where the interpreter has it (the rp2 port has none)."""
    return os.getenv(name) if hasattr(os, "getenv") else None


def size(desktop, board):
    """A workload size: `board` on the board's small heap, else `desktop`."""
    return board if ON_BOARD else desktop


def needs_network():
    """Skips on the emulated board: no radio, no loopback interface."""
    if ON_BOARD:
        skip("needs a network; the emulated board has none")


def viper_constants(module):
    """{viper function name: [(expression, value) of each int constant,
    literal or const() name, in it]}: read from the source with CPython's
    ast (skips on MicroPython).  docs/time.md says why the board's viper code
    keeps them below 2**16."""
    if MICROPYTHON:
        skip("reads the source with CPython's ast")
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(module))
    consts = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") == "const":
            consts[node.targets[0].id] = node.value.args[0].value
    found = {}
    for f in tree.body:
        if isinstance(f, ast.FunctionDef) and any(ast.unparse(d) == "micropython.viper" for d in f.decorator_list):
            found[f.name] = seen = []
            for node in ast.walk(f):
                if isinstance(node, ast.Constant) and isinstance(node.value, int):
                    seen.append((ast.unparse(node), node.value))
                elif isinstance(node, ast.Name) and node.id in consts:
                    seen.append((node.id, consts[node.id]))
    return found


def skip(reason):
    if MICROPYTHON:
        raise SkipTest(reason)
    import pytest

    pytest.skip(reason)


_counter = [0]


def tmp_path(name):
    """A fresh file path under a per-process scratch directory."""
    base = env("DORA_TMP") or ("/ram" if ON_BOARD else "/tmp")
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


def locked(fn):
    """fn() under micropython.heap_lock(): any allocation raises
    MemoryError.  Skips on CPython, which allocates for every int."""
    if not MICROPYTHON:
        skip("heap_lock exists on MicroPython only (run by mp_runner)")
    import micropython

    micropython.heap_lock()
    try:
        return fn()
    finally:
        micropython.heap_unlock()


def _port_base():
    # Per process, so that parallel runs do not collide: the pid where there
    # is one (CPython), else random bits (the unix port has no getpid).
    if hasattr(os, "getpid"):
        n = os.getpid()
    else:
        r = os.urandom(2)
        n = (r[0] << 8) | r[1]
    return 30000 + (n % 5000) * 4


_PORTS = _port_base()


def loopback_ports():
    """(server port, client port) for this process's loopback tests."""
    needs_network()
    return _PORTS, _PORTS + 1


def loopback_config(path, **over):
    """A server config on loopback: the pool lives in 127.0.4.0/24 so that
    unicast replies stay on loopback; broadcasts go to 127.0.0.1."""
    sp, cp = loopback_ports()
    d = {
        "address": "127.0.4.1",
        "pool_start": "127.0.4.16",
        "pool_end": "127.0.4.250",
        "lease_time": 600,
        "lease_file": path,
        "broadcast": "127.0.0.1",
        "server_port": sp,
        "client_port": cp,
        "log": False,
    }
    d.update(over)
    return d

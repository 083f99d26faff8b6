# A board image without `socket` (plain RPI_PICO) imports every core module:
# only the functions that make sockets import it.  Checked on both
# interpreters by re-importing dora with `socket` made unimportable: a
# directory holding a socket.py that raises ImportError goes first on the
# path (MicroPython looks on the path before its built-in socket, which is an
# "extensible" module; CPython looks there before its standard library).

import sys

import util

CORE = ("dhcp", "leases", "server", "store", "config", "client", "policy", "hostnames", "events")


def _shadow_dir():
    path = util.tmp_path("nosocket")
    import os

    try:
        os.mkdir(path)
    except OSError:
        pass  # left by an earlier run (the unix port's scratch paths repeat)
    with open(path + "/socket.py", "w") as f:
        f.write("raise ImportError(\"no module named 'socket'\")\n")
    return path


def _dora_modules():
    return [k for k in sys.modules if k == "dora" or k.startswith("dora.")]


def test_core_modules_import_without_socket():
    import asyncio  # noqa: F401 - CPython's asyncio needs socket itself: load it first

    saved = {k: sys.modules[k] for k in _dora_modules() + ["socket"] if k in sys.modules}
    for k in saved:
        del sys.modules[k]
    shadow = _shadow_dir()
    sys.path.insert(0, shadow)
    try:
        util.raises(ImportError, __import__, "socket")  # the stand-in works
        for name in CORE:
            __import__("dora." + name)
        compat = sys.modules["dora.compat"]
        c = compat.Clock()
        assert c.now() == 0
        # Making a socket is what needs the module, and says so.
        util.raises(ImportError, compat.udp_socket, 1)
    finally:
        sys.path.remove(shadow)
        for k in _dora_modules() + ["socket"]:
            if k in sys.modules:
                del sys.modules[k]
        for k in saved:
            sys.modules[k] = saved[k]

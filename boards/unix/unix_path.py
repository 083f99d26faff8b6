# Shared by the unix entry points (main.py, client_main.py): make sure the
# interpreter can import asyncio before dora does.
#
# The unix port's asyncio is frozen into the binary, found through the
# literal path entry ".frozen"; a MICROPYPATH that leaves it out (an absolute
# path to firmware/, say) hides asyncio: put the entry back.

import sys


def need_asyncio(prog):
    """Import asyncio, restoring ".frozen" first on MicroPython; without
    one, say so in a line starting with `prog` and exit 2."""
    if sys.implementation.name == "micropython" and ".frozen" not in sys.path:
        sys.path.append(".frozen")
    try:
        import asyncio  # noqa: F401
    except ImportError:
        print("%s: this interpreter has no asyncio module (the MicroPython unix port freezes it;"
              " micropython-lib has it for other builds)" % prog)
        sys.exit(2)

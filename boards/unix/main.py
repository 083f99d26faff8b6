# The MicroPython unix port as a board: start dora's server from a JSON
# config file.  Used by `make serve`, `make demo` and the host tests.
#
#   MICROPYPATH=firmware micropython boards/unix/main.py CONFIG.json
#   PYTHONPATH=firmware python3 boards/unix/main.py CONFIG.json   (CPython)
#
# The unix port has no `network` module to bring an interface up: the host
# (or the test's network namespace) owns the interface; the config names it.

import sys

from unix_path import need_asyncio  # noqa: E402 - beside this file

need_asyncio("dora")

from dora import compat, config, runner  # noqa: E402


def start(argv):
    if len(argv) < 2:
        print("usage: main.py CONFIG.json")
        sys.exit(2)
    try:
        cfgs = config.load_servers(argv[1])  # one, or several ("servers")
    except config.ConfigError as e:
        print("dora: bad config: %s" % e)
        sys.exit(2)
    try:
        runner.main(cfgs)
    except compat.PortInUse as e:  # a second dora (or another DHCP server)
        print("dora: %s" % e)
        sys.exit(1)


start(sys.argv)

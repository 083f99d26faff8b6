# dora as a MicroPython package: the single source of truth for what goes
# on a board.  Board manifests (boards/*/manifest.py) include it for
# freezing; package.json (for `mpremote mip install`) is generated from the
# same list by tools/package_json.py and checked by host_tests/test_boards.py.
metadata(description="dora: DHCP server and client for MicroPython routers", version="0.1.0")
package("dora", base_path="firmware")
module("dora_board.py", base_path="boards/common")

# dora as a MicroPython package: both roles and the board glue.  Board
# manifests (boards/*/manifest.py) include it for freezing.  Each role is also
# a package of its own (manifests/dora-server, manifests/dora-client, both on
# manifests/dora-common), as micropython-lib lays packages out, for a board
# that only serves or only takes addresses.  The package*.json files (for
# `mpremote mip install`) are generated from these manifests by
# tools/package_json.py and checked by host_tests/test_boards.py and
# host_tests/test_roles.py.
metadata(description="dora: DHCP server and client for MicroPython routers", version="0.1.0")
add_library("dora", "manifests")
require("dora-server", library="dora")
require("dora-client", library="dora")
module("dora_board.py", base_path="boards/common")

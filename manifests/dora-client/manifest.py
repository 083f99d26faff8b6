# dora's DHCP client alone: a board that only takes an address.
metadata(description="dora: DHCP client for MicroPython", version="0.1.0")
add_library("dora", "..")
require("dora-common", library="dora")
package(
    "dora",
    files=("client.py", "client_config.py", "client_file.py", "client_lease.py", "client_runner.py"),
    base_path="../../firmware",
)

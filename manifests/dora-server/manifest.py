# dora's DHCP server alone: a board that only serves addresses.
metadata(description="dora: DHCP server for MicroPython routers", version="0.1.0")
add_library("dora", "..")
require("dora-common", library="dora")
package(
    "dora",
    files=(
        "admin.py",
        "config.py",
        "control.py",
        "hostnames.py",
        "leases.py",
        "policy.py",
        "pool.py",
        "runner.py",
        "server.py",
        "store.py",
    ),
    base_path="../../firmware",
)

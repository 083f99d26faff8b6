# What both roles stand on: the interpreter differences, the DHCP codec, the
# byte-block moves under it, the field parsers, the UDP edge and the
# application's events.
metadata(description="dora: the parts its DHCP server and client share", version="0.1.0")
package(
    "dora",
    files=("__init__.py", "blocks.py", "compat.py", "dhcp.py", "events.py", "fields.py", "udp.py"),
    base_path="../../firmware",
)

"""Test and bench tooling shared by host_tests/, tools/ and bench/.

    paths.py     where the repository and the MicroPython unix port are
    netns.py     the access point in a box: network namespaces, DHCP clients,
                 dora's server in the AP namespace (root only)
    loopback.py  dora's server config for runs over loopback on high ports
    packets.py   DHCP client messages built byte by byte (also on MicroPython)
    polling.py   waiting for a condition inside asyncio (also on MicroPython)
    ramdisk.py   a RAM block device for the emulated board's littlefs (sent to
                 the board's REPL by the board tests, the bench and bring-up)

The last two are plain modules that MicroPython imports by name: the core
tests put this folder on MICROPYPATH (the Makefile's MP_TESTS).
"""

#!/usr/bin/env python3
"""The README demo with the real firmware image: the stock MicroPython
W5500-EVB-Pico image boots in an emulated RP2040, dora is installed on it
with `make deploy` as a user would, stations in network namespaces get
leases from it, the lease table is read off the board's flash, the power is
cut, and the leases come back.  Root; about three minutes; removes all it
made.   make demo-ethernet  (or: tools/ethernet_board.py demo)
"""

import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import ethernet_board as EB  # noqa: E402
import leases as lease_tool  # noqa: E402
from dora_lab.netns import Dhclient, Lab, Udhcpc, available  # noqa: E402

LEASE = 120


def say(text):
    print("\n== " + text, flush=True)


def show_table(router, workdir):
    data = router.read_file("/leases.dat")
    path = os.path.join(workdir, "leases-from-board.dat")
    with open(path, "wb") as f:
        f.write(data)
    rows, _ = lease_tool.restore(path)
    print(lease_tool.as_table([r for r in rows if r[2] == "bound"]), flush=True)
    router.soft_reset()  # the read stopped main.py: start it again


def main():
    why = available()
    if why:
        print("demo-ethernet: " + why)
        return 2
    workdir = tempfile.mkdtemp(prefix="dora-ethdemo-")
    cfg = os.path.join(workdir, "board.json")
    with open(cfg, "w") as f:
        json.dump(EB.board_config(lease_time=LEASE), f)
    say("an Ethernet router in a box: the stock W5500-EVB-Pico MicroPython image in an emulated RP2040,"
        " its W5500 on a bridge with three station namespaces")
    with Lab(stations=3) as lab:
        _, sock = EB.plug_board(lab, workdir)
        router = EB.EmulatedRouter(workdir, eth_socket=sock, echo=lambda t: print("   [board] " + t, flush=True))
        try:
            router.start()
            say("installing dora like a user: make deploy BOARD=ethernet ARCH=armv6m PORT=%s" % router.url())
            t = time.monotonic()
            EB.deploy(router, cfg)
            if not router.wait_line(r"^dora: serving ", 120):
                raise SystemExit("the board did not start serving")
            print("   installed and serving after %.0f s" % (time.monotonic() - t), flush=True)
            say("stations 0 and 1 run busybox udhcpc, station 2 ISC dhclient")
            clients = [Udhcpc(lab.station(0), workdir), Udhcpc(lab.station(1), workdir), Dhclient(lab.station(2), workdir)]
            for c in clients:
                c.start()
            for c in clients:
                print("   [%s] %s: %s" % (c.sta.name.rsplit("-", 1)[1], c.name, c.wait_address(120)), flush=True)
            say("the lease table, read off the board's flash (littlefs, /leases.dat)")
            show_table(router, workdir)
            router.wait_line(r"^dora: serving ", 60, router.mark() - 3)
            say("power cut: the emulator is killed; RAM is gone, the flash file stays")
            router.power_cut()
            time.sleep(2)
            mark = router.mark()
            router.boot()
            router.wait_line(r"^dora: serving ", 120, mark)
            say("after the power cut: the same table, restored from flash")
            show_table(router, workdir)
            say("dhclient restarts and asks for its old address (INIT-REBOOT)")
            old = clients[2].ip()
            clients[2].stop()
            clients[2].sta.flush()
            clients[2].start()
            print("   [s2] dhclient: %s (was %s)" % (clients[2].wait_address(120), old), flush=True)
            for c in clients:
                c.stop()
        finally:
            router.stop()
    say("done: every namespace, process and link removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

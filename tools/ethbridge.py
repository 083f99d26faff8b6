#!/usr/bin/env python3
"""Carry Ethernet frames between a Linux interface and the emulated W5500.

    ethbridge.py IFACE SOCKET [--max-seconds N]

Opens an AF_PACKET socket on IFACE (in the network namespace this runs in:
start it with `ip netns exec NS ...` to use an interface inside a namespace)
and listens on the Unix stream socket SOCKET, where the emulator's W5500
model (tools/emu/ethernet.mjs) connects.  Every frame arriving on IFACE goes
to the model; every frame from the model is sent on IFACE.  On the Unix
socket each frame is a 2-byte big-endian length and the frame.

The interface is put in promiscuous mode: the board has its own MAC address,
which is not the interface's.  Frames the interface itself sends are not
echoed to the board.  One model at a time; when it goes (the emulator was
stopped or power-cut) the bridge waits for the next one.  It ends on SIGTERM,
SIGINT, or after --max-seconds.
"""

import argparse
import os
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
MAX_FRAME = 1514


def open_interface(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    index = socket.if_nametoindex(ifname)
    # struct packet_mreq: ifindex, type, alen, address[8]
    s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b""))
    s.setblocking(False)
    return s


class Bridge:
    def __init__(self, ifname, path):
        self.wire = open_interface(ifname)
        if os.path.exists(path):
            os.unlink(path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.path = path
        self.model = None
        self.pending = b""
        self.counts = {"to_board": 0, "from_board": 0, "dropped": 0}

    def from_wire(self):
        try:
            frame, addr = self.wire.recvfrom(65535)
        except BlockingIOError:
            return
        if addr[2] == PACKET_OUTGOING or len(frame) > MAX_FRAME:
            return
        if self.model is None:
            self.counts["dropped"] += 1
            return
        try:
            self.model.sendall(struct.pack(">H", len(frame)) + frame)
            self.counts["to_board"] += 1
        except OSError:
            self.drop_model()

    def from_model(self):
        try:
            data = self.model.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.drop_model()
            return
        self.pending += data
        while len(self.pending) >= 2:
            (n,) = struct.unpack(">H", self.pending[:2])
            if len(self.pending) < 2 + n:
                break
            frame, self.pending = self.pending[2 : 2 + n], self.pending[2 + n :]
            try:
                self.wire.send(frame)
                self.counts["from_board"] += 1
            except OSError:
                self.counts["dropped"] += 1

    def drop_model(self):
        if self.model is not None:
            self.model.close()
        self.model = None
        self.pending = b""

    def run(self, max_seconds):
        end = time.monotonic() + max_seconds
        while time.monotonic() < end:
            rd = [self.wire, self.listener] + ([self.model] if self.model else [])
            ready, _, _ = select.select(rd, [], [], 1.0)
            for s in ready:
                if s is self.wire:
                    self.from_wire()
                elif s is self.listener:
                    conn, _ = self.listener.accept()
                    self.drop_model()  # a new emulator replaces a dead one
                    self.model = conn
                else:
                    self.from_model()

    def close(self):
        self.drop_model()
        self.listener.close()
        self.wire.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("iface")
    ap.add_argument("socket")
    ap.add_argument("--max-seconds", type=float, default=24 * 3600)
    a = ap.parse_args(argv)
    bridge = Bridge(a.iface, a.socket)

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print("ethbridge: %s <-> %s" % (a.iface, a.socket), flush=True)
    try:
        bridge.run(a.max_seconds)
    except KeyboardInterrupt:
        pass
    finally:
        bridge.close()
        print("ethbridge: stopped: %s" % bridge.counts, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

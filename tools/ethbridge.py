#!/usr/bin/env python3
"""Carry Ethernet frames between a Linux interface and the emulated W5500.

    ethbridge.py IFACE SOCKET [--max-seconds N]

Opens an AF_PACKET socket on IFACE (in the network namespace this runs in:
start it with `ip netns exec NS ...` to use an interface inside a namespace)
and listens on the Unix stream socket SOCKET, where the emulator's W5500
model (tools/emu/ethernet.mjs) connects.  Every frame arriving on IFACE goes
to the model; every frame from the model is sent on IFACE.  On the Unix
socket each frame is a 2-byte big-endian length and the frame.

A frame from the host's own stack may carry a TCP/UDP checksum left for the
NIC to compute (a veth never does); the bridge computes it, or the board
would drop the frame.  The interface is put in promiscuous mode: the board has its own MAC address,
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
PACKET_AUXDATA = 8
TP_STATUS_CSUMNOTREADY = 1 << 3
MAX_FRAME = 1514
AUX_SPACE = socket.CMSG_SPACE(20)  # struct tpacket_auxdata


def _sum16(data):
    if len(data) & 1:
        data += b"\0"
    n = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while n >> 16:
        n = (n & 0xFFFF) + (n >> 16)
    return n


def finish_checksum(frame):
    """A frame whose TCP/UDP checksum the sender's kernel left to the NIC
    (checksum offload: a veth never computes it), with the checksum filled
    in; the board's lwIP checks it and would drop the frame.  Other frames
    come back unchanged."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return frame
    ihl = (frame[14] & 15) * 4
    proto = frame[23]
    total = struct.unpack("!H", frame[16:18])[0]
    offset = {6: 16, 17: 6}.get(proto)
    if offset is None or 14 + total > len(frame) or total < ihl + offset + 2:
        return frame
    l4 = bytearray(frame[14 + ihl : 14 + total])
    l4[offset : offset + 2] = b"\0\0"
    pseudo = frame[26:34] + struct.pack("!BBH", 0, proto, len(l4))
    c = ~_sum16(pseudo + bytes(l4)) & 0xFFFF
    if proto == 17 and c == 0:
        c = 0xFFFF
    l4[offset : offset + 2] = struct.pack("!H", c)
    return frame[: 14 + ihl] + bytes(l4) + frame[14 + total :]


def open_interface(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    index = socket.if_nametoindex(ifname)
    # struct packet_mreq: ifindex, type, alen, address[8]
    s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b""))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
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
        self.counts = {"to_board": 0, "from_board": 0, "dropped": 0, "checksums": 0}

    def from_wire(self):
        try:
            frame, aux, _, addr = self.wire.recvmsg(65535, AUX_SPACE)
        except BlockingIOError:
            return
        if addr[2] == PACKET_OUTGOING or len(frame) > MAX_FRAME:
            return
        for level, kind, data in aux:
            if level == SOL_PACKET and kind == PACKET_AUXDATA and struct.unpack_from("I", data)[0] & TP_STATUS_CSUMNOTREADY:
                frame = finish_checksum(frame)
                self.counts["checksums"] += 1
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

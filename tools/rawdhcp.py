#!/usr/bin/env python3
"""DHCP from stations that have no address: raw Ethernet frames on an
AF_PACKET socket (root, inside a network namespace of ours).

    rawdhcp.py flood IFACE --count N --seconds S     DISCOVERs from random MACs
    rawdhcp.py dora IFACE --count N --seconds S [--window W] [--release]
                                                     full exchanges, a new MAC each

Every loop is bounded by both a count and a time limit, and frames only
leave by the given interface (which exists only in our namespaces).
Prints one summary line of figures.
"""

import argparse
import os
import random
import select
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800
BROADCAST_MAC = b"\xff" * 6


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def frame(src_mac, payload, src_ip=b"\0\0\0\0", dst_ip=b"\xff\xff\xff\xff", dst_mac=BROADCAST_MAC):
    """Ethernet + IPv4 + UDP (68 -> 67) around a DHCP payload."""
    udp_len = 8 + len(payload)
    udp = struct.pack("!HHHH", 68, 67, udp_len, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, 17, 0, src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IP) + ip + udp


def dhcp(msg_type, mac, xid, options=b"", ciaddr=b"\0\0\0\0", flags=0x8000):
    b = bytearray(236)
    b[0:4] = b"\x01\x01\x06\x00"
    b[4:8] = struct.pack("!I", xid)
    b[10:12] = struct.pack("!H", flags)
    b[12:16] = ciaddr
    b[28:34] = mac
    b += b"\x63\x82\x53\x63" + bytes((53, 1, msg_type)) + options + b"\xff"
    b += bytes(max(0, 300 - len(b)))
    return bytes(b)


def parse_reply(data):
    """(xid, type, yiaddr, server id) of a DHCP reply frame, or None."""
    if len(data) < 14 + 20 + 8 + 240 or data[12:14] != b"\x08\x00" or data[23] != 17:
        return None
    ihl = (data[14] & 15) * 4
    udp = 14 + ihl
    if struct.unpack("!H", data[udp + 2 : udp + 4])[0] != 68:
        return None
    d = data[udp + 8 :]
    if d[0] != 2 or d[236:240] != b"\x63\x82\x53\x63":
        return None
    i, typ, sid = 240, None, None
    while i + 1 < len(d) and d[i] != 255:
        if d[i] == 0:
            i += 1
            continue
        code, ln = d[i], d[i + 1]
        if code == 53:
            typ = d[i + 2]
        elif code == 54:
            sid = bytes(d[i + 2 : i + 6])
        i += 2 + ln
    return struct.unpack("!I", d[4:8])[0], typ, bytes(d[16:20]), sid


def open_socket(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    s.bind((ifname, 0))
    s.setblocking(False)
    return s


def random_mac(rng):
    return bytes([0x02] + [rng.randrange(256) for _ in range(5)])


def flood(ifname, count, seconds, seed):
    rng = random.Random(seed)
    s = open_socket(ifname)
    end = time.time() + seconds
    sent = 0
    while sent < count and time.time() < end:
        mac = random_mac(rng)
        try:
            s.send(frame(mac, dhcp(1, mac, rng.getrandbits(32))))
            sent += 1
        except BlockingIOError:
            time.sleep(0.001)
    print("flood: sent %d DISCOVERs from random MACs in %.1f s" % (sent, seconds - max(0, end - time.time())))


class Exchange:
    __slots__ = ("mac", "xid", "state", "t0", "t_offer", "addr", "sid")


def dora(ifname, count, seconds, window, release, seed):
    """Full exchanges, `window` in flight; each a new MAC.  Latency is from
    the DISCOVER to the ACK."""
    rng = random.Random(seed)
    s = open_socket(ifname)
    end = time.time() + seconds
    live = {}
    started = done = failed = 0
    lat = []
    t_start = time.time()
    while time.time() < end and (done + failed < count):
        while len(live) < window and started < count:
            e = Exchange()
            e.mac = random_mac(rng)
            e.xid = rng.getrandbits(32)
            e.state = 1
            e.t0 = e.t_offer = time.time()
            live[e.xid] = e
            s.send(frame(e.mac, dhcp(1, e.mac, e.xid)))
            started += 1
        r, _, _ = select.select([s], [], [], 0.05)
        now = time.time()
        if r:
            while True:
                try:
                    data = s.recv(2048)
                except BlockingIOError:
                    break
                rep = parse_reply(data)
                if not rep or rep[0] not in live:
                    continue
                e = live[rep[0]]
                if rep[1] == 2 and e.state == 1:
                    e.state, e.addr, e.sid, e.t_offer = 3, rep[2], rep[3], now
                    opts = bytes((50, 4)) + e.addr + bytes((54, 4)) + (e.sid or b"\0" * 4)
                    s.send(frame(e.mac, dhcp(3, e.mac, e.xid, opts)))
                elif rep[1] == 5 and e.state == 3:
                    lat.append(now - e.t0)
                    done += 1
                    del live[e.xid]
                    if release:
                        s.send(frame(e.mac, dhcp(7, e.mac, e.xid, bytes((54, 4)) + e.sid, ciaddr=e.addr, flags=0)))
                elif rep[1] == 6:
                    failed += 1
                    del live[e.xid]
        for xid in [x for x, e in live.items() if now - e.t_offer > 2.0]:
            failed += 1  # no answer within 2 s: dropped
            del live[xid]
    elapsed = time.time() - t_start
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    print("dora: %d done, %d failed, %.1f s, %.0f exchanges/s, p50 %.2f ms, p99 %.2f ms"
          % (done, failed + len(live), elapsed, done / elapsed if elapsed else 0, pct(0.5), pct(0.99)))
    return done, failed + len(live), elapsed, lat


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=("flood", "dora"))
    ap.add_argument("ifname")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--release", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("rawdhcp: needs root (raw sockets), inside a network namespace")
    if a.mode == "flood":
        flood(a.ifname, a.count, a.seconds, a.seed)
    else:
        dora(a.ifname, a.count, a.seconds, a.window, a.release, a.seed)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""dora's DHCP load generator: full DORA exchanges from stations that have no
address, on a raw layer-2 socket (root, inside a network namespace of ours).

    loadgen.py IFACE [--rate R] [--window W] [--count N] [--seconds S]
                     [--timeout T] [--retransmit S] [--no-release] [--json]
    loadgen.py IFACE --script fill:253,release,fill:253,renew [--json]
    loadgen.py IFACE --flood [--count N] [--seconds S]   DISCOVERs only
    loadgen.py IFACE --informs N [--spread-ms MS] [--spoof]  INFORMs naming absent hosts

Each exchange has a new, locally administered MAC: DISCOVER -> OFFER ->
REQUEST -> ACK, then (unless --no-release) a RELEASE, so the pool is reused
and the test can run longer than the pool is big.  The frames (Ethernet,
IPv4, UDP, DHCP) are built here; the broadcast flag is set, so replies to a
client without an address come back as broadcasts.

Load: exchanges start at `rate` per second (open loop; 0: as fast as the
window allows), with at most `window` in flight.  Bounded by --count AND
--seconds; every exchange has its own deadline (--timeout, from the DISCOVER):
an exchange that does not finish in time, or gets a NAK, is a drop.  No
retransmissions unless --retransmit S: a lost packet is a dropped exchange.

Scripts (for memory and flash-wear runs) run phases over a set of held
leases:  fill:N (N new clients bound, kept), renew (a unicast REQUEST with
ciaddr for each held lease; this tool answers the server's ARP queries for
held addresses), release (a RELEASE for each, paced), wait:S (sleep).
Each phase reports its start/end times (for matching with strace).  With
--no-arp the held addresses are never answered: renewals from hosts that
send and then fall silent, whose unicast answers wait on ARP in vain.

INFORMs (--informs): N DHCPINFORMs from ONE station (one MAC), spread over
--spread-ms, each naming in ciaddr another address of the /24 that nobody
holds (.2 to .254 in turn, skipping the server's), so that every answer is a
unicast the server's kernel must resolve by ARP first, and cannot.  The
frames leave from --source (default .254 of the subnet) or, with --spoof,
from the named address itself.  Nothing is answered, not even ARP.

Prints one summary (or JSON with --json): exchanges/s, drops, latency
percentiles (DISCOVER to ACK).  Python 3 standard library only.
"""

import argparse
import json
import os
import random
import select
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
PACKET_OUTGOING = 4
BCAST_MAC = b"\xff" * 6
ZERO4 = b"\0\0\0\0"
ALL_ONES = b"\xff\xff\xff\xff"
COOKIE = b"\x63\x82\x53\x63"
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = 1, 2, 3, 4, 5, 6, 7, 8


def ip_checksum(hdr):
    s = sum(struct.unpack("!10H", hdr))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def frame(src_mac, dst_mac, src_ip, dst_ip, payload):
    """Ethernet + IPv4 + UDP (68 -> 67, no UDP checksum) around a DHCP payload."""
    ulen = 8 + len(payload)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0x4000, 64, 17, 0, src_ip, dst_ip))
    struct.pack_into("!H", ip, 10, ip_checksum(bytes(ip)))
    return b"".join((dst_mac, src_mac, b"\x08\x00", ip, struct.pack("!HHHH", 68, 67, ulen, 0), payload))


def dhcp(msg_type, mac, xid, options=b"", ciaddr=ZERO4, broadcast=True):
    """A BOOTREQUEST of msg_type, padded to 300 bytes (as most clients do)."""
    b = bytearray(240)
    b[0:4] = b"\x01\x01\x06\x00"
    struct.pack_into("!I", b, 4, xid)
    if broadcast:
        b[10] = 0x80
    b[12:16] = ciaddr
    b[28:34] = mac
    b[236:240] = COOKIE
    b += bytes((53, 1, msg_type)) + bytes((61, 7, 1)) + mac + options + b"\xff"
    if len(b) < 300:
        b += bytes(300 - len(b))
    return bytes(b)


PARAMS = bytes((55, 4, 1, 3, 6, 51))
_TYPE_AT = 14 + 20 + 8 + 240 + 2  # option 53's value in a frame()'s dhcp()
TYPE_NAMES = {DISCOVER: "DISCOVER", REQUEST: "REQUEST", DECLINE: "DECLINE", RELEASE: "RELEASE", INFORM: "INFORM"}


def parse_reply(data):
    """(xid, type, yiaddr, server id, source MAC) of a DHCP reply frame, else None."""
    if len(data) < 14 + 20 + 8 + 240 or data[12:14] != b"\x08\x00" or data[23] != 17:
        return None
    u = 14 + (data[14] & 15) * 4
    if data[u + 2] != 0 or data[u + 3] != 68:
        return None
    d = u + 8
    if data[d] != 2 or data[d + 236 : d + 240] != COOKIE:
        return None
    i, end, typ, sid = d + 240, len(data), None, None
    while i + 1 < end:
        code = data[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        ln = data[i + 1]
        if code == 53:
            typ = data[i + 2]
        elif code == 54 and ln == 4:
            sid = data[i + 2 : i + 6]
        i += 2 + ln
    return struct.unpack_from("!I", data, d + 4)[0], typ, data[d + 16 : d + 20], sid, data[6:12]


class Exchange:
    __slots__ = ("mac", "xid", "state", "t0", "deadline", "addr", "sid", "smac", "pkt", "sent")


class Gen:
    def __init__(self, ifname, seed=1, timeout=1.0, arp=True):
        self.ifname = ifname
        self.rng = random.Random(seed)
        self.timeout = timeout
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.s.bind((ifname, 0))
        self.s.setblocking(False)
        self.arp = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
        self.arp.bind((ifname, 0))
        self.arp.setblocking(False)
        self.held_ips = {}  # address -> MAC, answered in ARP
        self.arp_answers = arp  # False: held addresses go silent (their hosts left)
        self.macs = set()
        self.received = 0
        self.send_errors = 0
        self.sent_by_type = {}  # frames sent, by DHCP message type (option 53, first in ours)

    def new_mac(self):
        while True:
            m = bytes([0x02, 0xB0] + [self.rng.randrange(256) for _ in range(4)])
            if m not in self.macs:
                self.macs.add(m)
                return m

    def send(self, f):
        for _ in range(200):  # bounded: the device queue may be full for a moment
            try:
                self.s.send(f)
                t = f[_TYPE_AT] if len(f) > _TYPE_AT else 0
                self.sent_by_type[t] = self.sent_by_type.get(t, 0) + 1
                return
            except BlockingIOError:
                time.sleep(0.0002)
            except OSError:
                break
        self.send_errors += 1

    def flood(self, count, seconds):
        """DISCOVERs only, each from a new MAC, as fast as the socket takes
        them; nothing is answered.  Bounded by count and seconds."""
        t0 = time.time()
        end = t0 + seconds
        sent = 0
        while sent < count and time.time() < end:
            mac = self.new_mac()
            self.send(frame(mac, BCAST_MAC, ZERO4, ALL_ONES, dhcp(DISCOVER, mac, self.rng.getrandbits(32))))
            sent += 1
        return {"flood_sent": sent - self.send_errors, "seconds": time.time() - t0}

    def informs(self, count, spread_ms, server, source=None, spoof=False):
        """`count` INFORMs from one MAC within spread_ms, each naming a host
        nobody holds (see the module's doc); bounded by count."""
        mac = self.new_mac()
        net = bytes(server[:3])
        src = source or net + b"\xfe"
        t0 = time.monotonic()
        hosts = [net + bytes((h,)) for h in range(2, 255) if h != server[3]]
        sent = 0
        for i in range(count):
            ciaddr = hosts[i % len(hosts)]
            pkt = dhcp(INFORM, mac, self.rng.getrandbits(32), bytes((54, 4)) + server + PARAMS, ciaddr=ciaddr,
                       broadcast=False)
            self.send(frame(mac, BCAST_MAC, ciaddr if spoof else src, ALL_ONES, pkt))
            sent += 1
            due = t0 + spread_ms / 1000.0 * (i + 1) / count
            while time.monotonic() < due:
                pass  # spin: sleeps this short overshoot by far
        return {"informs_sent": sent - self.send_errors, "seconds": time.monotonic() - t0}

    def _arp_answers(self):
        while True:
            try:
                p = self.arp.recv(128)
            except BlockingIOError:
                return
            # who-has: op 1 at 20..22, target IP at 38..42
            if len(p) < 42 or p[20:22] != b"\x00\x01":
                continue
            mac = self.held_ips.get(bytes(p[38:42])) if self.arp_answers else None
            if mac is None:
                continue
            reply = p[6:12] + mac + b"\x08\x06" + p[14:20] + b"\x00\x02" + mac + p[38:42] + p[22:28] + p[28:32]
            try:
                self.arp.send(reply)
            except OSError:
                pass

    def poll(self, wait):
        """Received reply tuples (after at most `wait` s)."""
        r, _, _ = select.select([self.s, self.arp], [], [], max(0.0, wait))
        out = []
        if self.arp in r:
            self._arp_answers()
        if self.s in r:
            while True:
                try:
                    data, addr = self.s.recvfrom(2048)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                rep = parse_reply(data)
                if rep:
                    self.received += 1
                    out.append(rep)
        return out

    def release(self, mac, xid, addr, sid, smac):
        opts = bytes((54, 4)) + sid
        self.send(frame(mac, smac, addr, sid, dhcp(RELEASE, mac, xid, opts, ciaddr=addr, broadcast=False)))

    # -- open-loop DORA load ----------------------------------------------------
    def run(self, rate=0.0, window=64, count=1000, seconds=10.0, release=True, keep=None, max_fail=None,
            retransmit=0.0):
        """Full exchanges; keep (a list) collects (mac, xid, addr, sid, smac)
        of bound leases when release is False.  retransmit > 0: an exchange
        sends its last message again after that many seconds without an
        answer (as a real client does), until its deadline."""
        live = {}
        lat = []
        started = done = naks = timeouts = retransmits = 0
        t_start = time.monotonic()
        stop_at = t_start + seconds
        interval = 1.0 / rate if rate > 0 else 0.0
        next_start = t_start
        last_ack = t_start
        while True:
            now = time.monotonic()
            if max_fail is not None and naks + timeouts > max_fail:
                count = started  # give up early (a pass/fail probe needs no more)
            if started >= count or now >= stop_at:
                # no more starts: let those in flight finish (each has its deadline)
                if not live:
                    break
                count = started
            while started < count and len(live) < window and next_start <= now and now < stop_at:
                e = Exchange()
                e.mac = self.new_mac()
                e.xid = self.rng.getrandbits(32)
                e.state = OFFER
                e.t0 = now
                e.deadline = now + self.timeout
                live[e.xid] = e
                e.pkt = frame(e.mac, BCAST_MAC, ZERO4, ALL_ONES, dhcp(DISCOVER, e.mac, e.xid, PARAMS))
                e.sent = now
                self.send(e.pkt)
                started += 1
                next_start = next_start + interval if interval else now
                if interval and next_start < now - 0.05:
                    next_start = now  # fell behind (e.g. window full): do not burst
            wait = 0.02
            if started < count and len(live) < window and interval:
                wait = min(wait, next_start - now)
            for xid, typ, yiaddr, sid, smac in self.poll(wait):
                e = live.get(xid)
                if e is None:
                    continue
                if typ == OFFER and e.state == OFFER:
                    e.state, e.addr, e.sid, e.smac = ACK, yiaddr, sid or ZERO4, smac
                    opts = bytes((50, 4)) + yiaddr + bytes((54, 4)) + e.sid + PARAMS
                    e.pkt = frame(e.mac, BCAST_MAC, ZERO4, ALL_ONES, dhcp(REQUEST, e.mac, e.xid, opts))
                    e.sent = time.monotonic()
                    self.send(e.pkt)
                elif typ == ACK and e.state == ACK:
                    t = last_ack = time.monotonic()
                    lat.append(t - e.t0)
                    done += 1
                    del live[xid]
                    if release:
                        self.release(e.mac, e.xid, e.addr, e.sid, e.smac)
                    elif keep is not None:
                        keep.append((e.mac, e.xid, e.addr, e.sid, e.smac))
                        self.held_ips[bytes(e.addr)] = e.mac
                elif typ == NAK:
                    naks += 1
                    del live[xid]
            now = time.monotonic()
            for xid in [x for x, e in live.items() if e.deadline <= now]:
                timeouts += 1
                del live[xid]
            if retransmit > 0:
                for e in live.values():
                    if now - e.sent >= retransmit:
                        e.sent = now
                        retransmits += 1
                        self.send(e.pkt)
        # the rate counts to the last ACK (the tail of timeouts is not work)
        elapsed = (last_ack if done else time.monotonic()) - t_start
        res = summary(started, done, naks, timeouts, elapsed, lat, rate, window)
        res["retransmits"] = retransmits
        res["sent_by_type"] = {TYPE_NAMES.get(t, str(t)): n for t, n in sorted(self.sent_by_type.items())}
        return res

    # -- phases over held leases -----------------------------------------------
    def renew(self, held, window=32):
        """A unicast REQUEST (ciaddr, no option 50) per held lease; count ACKs."""
        pending = {}
        ok = fail = 0
        i = 0
        end = time.monotonic() + 10 + len(held) * 0.05
        lat = []
        while (i < len(held) or pending) and time.monotonic() < end:
            while i < len(held) and len(pending) < window:
                mac, xid, addr, sid, smac = held[i]
                nx = self.rng.getrandbits(32)
                pending[nx] = (time.monotonic(), i)
                self.send(frame(mac, smac, addr, sid, dhcp(REQUEST, mac, nx, PARAMS, ciaddr=addr, broadcast=False)))
                i += 1
            for xid, typ, yiaddr, sid, smac in self.poll(0.02):
                p = pending.pop(xid, None)
                if p is None:
                    continue
                if typ == ACK:
                    ok += 1
                    lat.append(time.monotonic() - p[0])
                else:
                    fail += 1
            now = time.monotonic()
            for x in [x for x, p in pending.items() if now - p[0] > min(self.timeout, 2.0)]:
                fail += 1
                del pending[x]
        fail += len(pending) + (len(held) - i)
        return {"renewed": ok, "failed": fail}

    def release_all(self, held):
        for k, (mac, xid, addr, sid, smac) in enumerate(held):
            self.release(mac, xid, addr, sid, smac)
            self.held_ips.pop(bytes(addr), None)
            if k % 4 == 3:
                time.sleep(0.002)  # RELEASE has no answer: pace them (small socket queues)
        return {"released": len(held)}

    def script(self, phases, window=16, max_fail=None):
        held = []
        report = []
        for ph in phases:
            name, _, arg = ph.partition(":")
            t0 = time.time()
            if name == "fill":
                held = []
                n = int(arg)
                r = self.run(rate=0, window=window, count=n, seconds=30 + n * 0.1, release=False, keep=held,
                             max_fail=max_fail)
                r = {"bound": r["done"], "failed": r["started"] - r["done"], "p50_ms": r["p50_ms"]}
            elif name == "renew":
                r = self.renew(held, max(window, 64))
            elif name == "release":
                r = self.release_all(held)
                held = []
            elif name == "wait":
                end = time.monotonic() + float(arg)
                while time.monotonic() < end:
                    self.poll(min(0.05, end - time.monotonic()))
                r = {}
            else:
                raise SystemExit("loadgen: unknown phase %r" % ph)
            r.update(phase=ph, t0=t0, t1=time.time())
            report.append(r)
        return {"phases": report}


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1, int(p * len(sorted_vals)))] * 1000.0


def summary(started, done, naks, timeouts, elapsed, lat, rate, window):
    lat.sort()
    return {
        "offered_rate": rate,
        "window": window,
        "started": started,
        "done": done,
        "naks": naks,
        "timeouts": timeouts,
        "drop_pct": 100.0 * (started - done) / started if started else 0.0,
        "seconds": elapsed,
        "rate": done / elapsed if elapsed > 0 else 0.0,
        "p50_ms": pct(lat, 0.50),
        "p99_ms": pct(lat, 0.99),
        "max_ms": lat[-1] * 1000.0 if lat else None,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ifname")
    ap.add_argument("--rate", type=float, default=0.0, help="exchanges started per second (0: window-limited)")
    ap.add_argument("--window", type=int, default=64, help="exchanges in flight at most")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=1.0, help="per exchange, from its DISCOVER")
    ap.add_argument("--no-release", action="store_true")
    ap.add_argument("--retransmit", type=float, default=0.0,
                    help="resend an unanswered DISCOVER/REQUEST after this many s (0: never)")
    ap.add_argument("--script", help="phases: fill:N,renew,release,wait:S")
    ap.add_argument("--flood", action="store_true", help="DISCOVERs only, from new MACs, unanswered")
    ap.add_argument("--informs", type=int, default=0, help="INFORMs naming absent hosts, from one MAC")
    ap.add_argument("--spread-ms", type=float, default=50.0, help="--informs: sent within this many ms")
    ap.add_argument("--server", default="192.168.4.1", help="--informs: the server's address (option 54)")
    ap.add_argument("--spoof", action="store_true", help="--informs: each from the address it names")
    ap.add_argument("--no-arp", action="store_true", help="scripts: never answer ARP for held addresses")
    ap.add_argument("--max-failures", type=int, default=None, help="scripts: end a fill after this many drops")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("loadgen: needs root (raw sockets); run it inside a network namespace")
    # bounds, whatever the arguments say
    a.count = max(0, min(a.count, 10_000_000))
    a.seconds = max(0.1, min(a.seconds, 3600))
    g = Gen(a.ifname, seed=a.seed if a.seed is not None else os.getpid() ^ int(time.time()), timeout=a.timeout,
            arp=not a.no_arp)
    a.informs = max(0, min(a.informs, 100_000))
    if a.flood:
        res = g.flood(a.count, a.seconds)
    elif a.informs:
        res = g.informs(a.informs, max(0.0, min(a.spread_ms, 60_000.0)), socket.inet_aton(a.server), spoof=a.spoof)
    elif a.script:
        res = g.script(a.script.split(","), window=a.window, max_fail=a.max_failures)
    else:
        res = g.run(a.rate, a.window, a.count, a.seconds, release=not a.no_release, retransmit=a.retransmit)
    res["send_errors"] = g.send_errors
    if a.json:
        print(json.dumps(res))
    elif a.flood:
        print("flood: sent %d DISCOVERs from new MACs in %.1f s" % (res["flood_sent"], res["seconds"]))
    elif a.informs:
        print("informs: sent %d INFORMs naming absent hosts in %.1f ms" % (res["informs_sent"], res["seconds"] * 1000))
    elif a.script:
        for r in res["phases"]:
            print(" ".join("%s=%s" % kv for kv in r.items() if kv[0] not in ("t0", "t1")))
    else:
        f = lambda v: "-" if v is None else "%.2f" % v  # noqa: E731
        print("loadgen: %d/%d exchanges done in %.2f s: %.0f/s (offered %s/s, window %d), drops %.1f%% "
              "(%d timeouts, %d NAKs), p50 %s ms, p99 %s ms"
              % (res["done"], res["started"], res["seconds"], res["rate"], res["offered_rate"] or "max", res["window"],
                 res["drop_pct"], res["timeouts"], res["naks"], f(res["p50_ms"]), f(res["p99_ms"])))


if __name__ == "__main__":
    main()

# Mutation fuzzing of the server, shared by test_fuzz.py (bounded, in
# `make test`) and host_tests/long/fuzz.py (long runs).  Runs on both interpreters: a
# PRNG of our own so that a seed gives the same packets everywhere.

from dora import dhcp as D
from dora import server as S

import packets as P
from helpers import make_server


class Rng:
    """xorshift32 kept in two 16-bit halves: small ints on every port."""

    def __init__(self, seed):
        self.hi = (seed >> 16) & 0xFFFF or 0x1234
        self.lo = seed & 0xFFFF or 0x5678

    def next16(self):
        # A 32-bit xorshift (13, 17, 5) done on the two halves.
        hi, lo = self.hi, self.lo
        # x ^= x << 13
        nhi = hi ^ (((hi << 13) | (lo >> 3)) & 0xFFFF)
        nlo = lo ^ ((lo << 13) & 0xFFFF)
        hi, lo = nhi, nlo
        # x ^= x >> 17
        lo ^= hi >> 1
        # x ^= x << 5
        nhi = hi ^ (((hi << 5) | (lo >> 11)) & 0xFFFF)
        nlo = lo ^ ((lo << 5) & 0xFFFF)
        self.hi, self.lo = nhi, nlo
        return nlo

    def below(self, n):
        return self.next16() % n if n > 0 else 0


def seeds():
    """Well-formed requests shaped like the real clients' (option sets and
    orders of udhcpc, dhclient, dhcpcd, relays, overload)."""
    sid = (54, P.ip("192.168.4.1"))
    udhcpc = [(61, b"\x01" + P.mac(1)), (57, b"\x02\x40"), (55, bytes([1, 3, 6, 12, 15, 28, 42])), (60, b"udhcp 1.35.0")]
    dhclient = [(55, bytes([1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42]))]
    dhcpcd = [(61, b"\xff\x00\x00\x00\x01\x00\x04" + bytes(16)), (57, b"\x05\xdc"), (60, b"dhcpcd-9.4.1"), (12, b"sensor-7"),
              (55, bytes([1, 121, 33, 3, 6, 28, 51, 58, 59, 119])), (80, b"")]
    return [
        P.request(D.DISCOVER, P.mac(1), options=udhcpc),
        P.request(D.REQUEST, P.mac(1), options=udhcpc + [sid, (50, P.ip("192.168.4.16"))]),
        P.request(D.DISCOVER, P.mac(2), options=dhclient),
        P.request(D.REQUEST, P.mac(2), options=[(50, P.ip("192.168.4.17"))] + dhclient),
        P.request(D.REQUEST, P.mac(2), ciaddr=P.ip("192.168.4.17"), options=dhclient),
        P.request(D.DISCOVER, P.mac(3), options=dhcpcd, flags=0x8000),
        P.request(D.DECLINE, P.mac(3), options=[sid, (50, P.ip("192.168.4.18"))]),
        P.request(D.RELEASE, P.mac(2), ciaddr=P.ip("192.168.4.17"), options=[sid]),
        P.request(D.INFORM, P.mac(4), ciaddr=P.ip("192.168.4.99"), options=dhclient),
        P.request(D.DISCOVER, P.mac(5), giaddr=P.ip("10.0.0.1"), options=[(82, b"\x01\x04port")]),
        P.request(D.DISCOVER, P.mac(6), options=[(52, b"\x03")]),
        # Android: 57 = 1500; a bad client id; a TR-111 CPE's long DISCOVER.
        P.request(D.DISCOVER, P.mac(7), options=[(57, b"\x05\xdc"), (61, b"\x01"), (55, bytes([1, 3, 6, 15, 26, 28, 43, 114, 128, 129]))]),
        P.request(D.DISCOVER, P.mac(8), options=[(60, b"dslforum.org"), (124, b"\x00\x00\x0d\xe9" + b"v" * 250),
                                        (125, b"\x00\x00\x0d\xe9" + b"w" * 250), (55, bytes([1, 3, 66, 67]))]),
    ]


def mutate(rng, pkt):
    b = bytearray(pkt)
    for _ in range(1 + rng.below(4)):
        what = rng.below(8)
        if what == 0 and len(b) > 1:  # truncate
            b = b[: rng.below(len(b))]
        elif what == 1 and b:  # flip a bit, options area more often
            i = 236 + rng.below(len(b) - 236) if len(b) > 240 and rng.below(2) else rng.below(len(b))
            b[i] ^= 1 << rng.below(8)
        elif what == 2 and b:  # a random byte
            b[rng.below(len(b))] = rng.below(256)
        elif what == 3 and len(b) > 242:  # a random option length
            b[241 + rng.below(len(b) - 242)] = rng.below(256)
        elif what == 4:  # append junk options
            for _ in range(rng.below(40)):
                b.append(rng.below(256))
        elif what == 5 and len(b) > 240:  # overload flag set to anything
            b += bytes((52, 1, rng.below(4), 255))
        elif what == 6 and len(b) > 240:  # swap two bytes
            i, j = rng.below(len(b)), rng.below(len(b))
            b[i], b[j] = b[j], b[i]
        elif what == 7 and b:  # header fields
            b[rng.below(min(len(b), 240))] = rng.below(256)
    return bytes(b)


def check_reply(srv, req, n, out):
    """Properties every reply must have."""
    msg = D.Message()
    assert msg.parse(out, n, D.BOOTREPLY), "reply does not parse: %s" % D.ERROR_NAMES[msg.error]
    # Option 57 counts the IP and UDP headers (28 bytes); 576 without it.
    limit = 576
    w = srv.msg.opt(D.OPT_MAX_SIZE)
    if w >= 0 and srv.msg.opt_len(D.OPT_MAX_SIZE) == 2:
        size = (req[w] << 8) | req[w + 1]
        limit = size if size > 576 else 576
    limit = min(limit - 28, D.MAX_MESSAGE)
    assert n <= limit and n <= len(out), "reply of %d bytes, client takes %d" % (n, limit)
    # Echoes are well formed, or absent.
    if msg.opt(D.OPT_CLIENT_ID) >= 0:
        assert msg.valid_client_id(), "bad option 61 echoed"
    if msg.opt(D.OPT_RELAY_AGENT) >= 0:
        assert msg.valid_relay_info(), "bad option 82 echoed"
    if req[24] | req[25] | req[26] | req[27]:
        assert srv.dest == S.TO_RELAY, "relayed request answered to %d" % srv.dest
        relays = srv.cfg.trusted_relays
        if relays is not None:
            assert bytes(req[24:28]) in [relays[i : i + 4] for i in range(0, len(relays), 4)], "untrusted relay answered"
    else:
        assert srv.dest != S.TO_RELAY
    assert out[4:8] == req[4:8], "xid not echoed"


FEATURES = {
    "static": [{"mac": "02:00:00:00:00:03", "address": "192.168.4.20", "hostname": "cam", "options": {"42": "192.168.4.1"},
                "next_server": "192.168.4.6", "boot_file": "cam.bin"}],
    "classes": [{"name": "sensors", "vendor_class": "dhcpcd", "options": {"119": "hex:03696f7400"}, "boot_file": "sensor.bin", "pool_start": "192.168.4.30", "pool_end": "192.168.4.35"},
                {"name": "lab", "mac_prefix": "02:00:00:00", "options": {"26": 1400}}],
    "rapid_commit": True,
    "hostname_len": 15,
    "deny": ["02:00:00:00:00:06"],
    "max_offers_per_minute": 20,
    "domain": "lan",
    "next_server": "192.168.4.5",
    "boot_file": "pxelinux.0",
    "trusted_relays": ["10.0.0.1"],
}


def run(count, seed=1, out_size=None, features=False, lock=False):
    """Fuzz `count` packets; returns (tried, replies, malformed).
    features: a server with static hosts, classes, Rapid Commit, hostnames
    and policies.  lock (MicroPython): each handle() runs under
    micropython.heap_lock(), so any allocation on any path is an error."""
    rng = Rng(seed)
    over = dict(FEATURES) if features else {}
    # Options enough to fill a 548-byte reply: overload and cuts get fuzzed.
    opts = {"114": "http://portal.lan/", "43": "hex:0102", "128": "hex:" + "ab" * 200, "129": "hex:" + "cd" * 120}
    srv = make_server(pool_end="192.168.4.40", options=opts, **over)
    out = bytearray(out_size or srv.cfg.reply_size)
    base = seeds()
    if lock:
        import micropython

        hl, hu = micropython.heap_lock, micropython.heap_unlock
    replies = 0
    now = 0
    for i in range(count):
        pkt = base[rng.below(len(base))]
        if rng.below(8):
            pkt = mutate(rng, pkt)
        table = bytes(srv.table.recs)
        malformed = srv.stats.malformed
        if lock:
            hl()
            try:
                n = srv.handle(pkt, len(pkt), now, out)
            finally:
                hu()
        else:
            n = srv.handle(pkt, len(pkt), now, out)
        if srv.stats.malformed != malformed:
            assert n == 0, "a reply to a malformed packet"
            assert bytes(srv.table.recs) == table, "a malformed packet changed the lease table"
        elif n:
            replies += 1
            check_reply(srv, pkt, n, out)
        if i % 64 == 0:
            now += rng.below(120)
    return count, replies, srv.stats.malformed

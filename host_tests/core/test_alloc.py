# The packet path (parse, decide, build the reply, queue the lease record)
# allocates nothing: proven with micropython.heap_lock(), under which any
# allocation raises MemoryError.  MicroPython only; CPython allocates ints.

import packets as P
import util
from util import locked
from helpers import make_server
from dora import dhcp as D


def test_every_message_kind_is_served_without_allocating():
    path = util.tmp_path("leases.dat")
    s = make_server(path, static=[{"mac": "02:00:00:00:00:09", "address": "192.168.4.23"}],
                    domain="lan", options={"42": "192.168.4.1", "114": "http://portal/"},
                    deny=["0a:0b:0c", "02:00:00:00:00:08"], allow=["02:00:00"], max_offers_per_minute=5)
    out = bytearray(576)
    sid = (54, s.sid)
    cid = (61, b"\x01" + P.mac(7))
    prl = (55, bytes([1, 3, 6, 12, 15, 28, 42, 114, 119]))
    # Every packet is built before the lock; only handle() runs under it.
    seq = [
        P.request(D.DISCOVER, P.mac(1), options=[prl, (57, b"\x02\x40")]),  # DISCOVER
        P.request(D.REQUEST, P.mac(1), options=[sid, (50, P.ip("192.168.4.16")), prl]),  # SELECTING
        P.request(D.REQUEST, P.mac(1), ciaddr=P.ip("192.168.4.16")),  # RENEWING
        P.request(D.REQUEST, P.mac(1), options=[(50, P.ip("192.168.4.16"))]),  # INIT-REBOOT
        P.request(D.DISCOVER, P.mac(7), options=[cid, prl]),  # client id keyed
        P.request(D.REQUEST, P.mac(7), options=[cid, sid, (50, P.ip("192.168.4.17"))]),
        P.request(D.DISCOVER, P.mac(9)),  # static
        P.request(D.DISCOVER, P.mac(2), giaddr=P.ip("10.0.0.1"), options=[(82, b"\x01\x02ab")]),  # relayed
        P.request(D.REQUEST, P.mac(3), ciaddr=P.ip("192.168.4.16")),  # NAK: held by another
        P.request(D.INFORM, P.mac(4), ciaddr=P.ip("192.168.4.99")),  # INFORM
        P.request(D.DECLINE, P.mac(7), options=[cid, sid, (50, P.ip("192.168.4.17"))]),  # DECLINE
        P.request(D.RELEASE, P.mac(1), ciaddr=P.ip("192.168.4.16"), options=[sid]),  # RELEASE
        P.request(D.DISCOVER, P.mac(5), cookie=b"abcd"),  # malformed
        P.request(D.REQUEST, P.mac(6), options=[(54, P.ip("10.9.9.9"))]),  # another server's
        P.request(D.DISCOVER, P.mac(8)),  # denied by MAC
        P.request(D.DISCOVER, bytes((0x0A, 0x0B, 0x0C, 0, 0, 1))),  # denied by OUI
    ] + [P.request(D.DISCOVER, P.mac(11))] * 6  # the 6th is over the offer cap
    lengths = [len(p) for p in seq]
    replies = bytearray(len(seq))

    def run():
        for i in range(len(seq)):
            n = s.handle(seq[i], lengths[i], 5, out)
            replies[i] = 1 if n else 0
        return s.store.pending

    pending = locked(run)
    # Two slots wait: .16 bound then released, .17 bound then declined (a
    # slot changed twice before a commit is written once).
    assert pending == 2, pending
    assert bytes(replies) == bytes((1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0))
    assert s.stats.malformed == 1 and s.stats.naks == 1
    assert s.stats.refused == 2 and s.stats.rate_limited == 1
    s.store.commit(5)


def test_commit_itself_allocates_nothing_on_the_unix_port():
    path = util.tmp_path("leases.dat")
    s = make_server(path)
    out = bytearray(576)
    for i in (2, 1):
        d = P.request(D.DISCOVER, P.mac(i))
        s.handle(d, len(d), 0, out)
    warm = P.request(D.REQUEST, P.mac(2), options=[(54, s.sid), (50, P.ip("192.168.4.16"))])
    s.handle(warm, len(warm), 0, out)
    s.store.commit(0)  # opens the file for appending (allocates, once)
    r = P.request(D.REQUEST, P.mac(1), options=[(54, s.sid), (50, P.ip("192.168.4.17"))])

    def run():
        s.handle(r, len(r), 0, out)
        s.store.commit(0)
        return s.store.writes

    assert locked(run) == 3  # header, warm-up, this one
    assert s.store.records == 2


def test_provisioning_features_are_served_without_allocating():
    # Rapid Commit, a static host with options and hostname, classes by MAC
    # prefix (with a sub-range) and by vendor class, hostnames stored from
    # option 12, and the policies (deny, allow, offer cap).
    path = util.tmp_path("leases.dat")
    s = make_server(
        path,
        rapid_commit=True,
        static=[{"mac": "02:00:00:00:00:09", "address": "192.168.4.23", "hostname": "cam",
                 "options": {"42": "192.168.4.9", "114": "http://portal/cam"}}],
        classes=[
            {"name": "iot", "mac_prefix": "02:00:00:00:01", "options": {"43": "hex:0102"},
             "pool_start": "192.168.4.20", "pool_end": "192.168.4.22"},
            {"name": "busybox", "vendor_class": "udhcp", "options": {"66": "tftp"}},
        ],
        options={"42": "192.168.4.1", "114": "http://portal/"},
        deny=["0a:0b:0c"],
        max_offers_per_minute=1,
        hostname_len=15,
    )
    out = bytearray(576)
    sid = (54, s.sid)
    prl = (55, bytes([1, 3, 6, 12, 15, 28, 42, 43, 66, 114]))
    seq = [
        P.request(D.DISCOVER, P.mac(1), options=[(80, b""), prl, (12, b"rapid one")]),  # Rapid Commit ACK
        P.request(D.DISCOVER, P.mac(9), options=[prl]),  # static host with options
        P.request(D.REQUEST, P.mac(9), options=[sid, (50, P.ip("192.168.4.23")), prl, (12, b"cam!")]),
        P.request(D.DISCOVER, P.mac(0x100), options=[prl]),  # class by MAC prefix, sub-range
        P.request(D.DISCOVER, P.mac(2), options=[(60, b"udhcp 1.35"), prl]),  # class by vendor class
        P.request(D.REQUEST, P.mac(2), options=[sid, (50, P.ip("192.168.4.17")), (60, b"udhcp 1.35"), (12, b"bb")]),
        P.request(D.DISCOVER, P.mac(2), options=[prl]),  # over the offer cap: dropped
        P.request(D.DISCOVER, b"\x0a\x0b\x0c\x00\x00\x01", options=[prl]),  # denied
    ]
    lengths = [len(p) for p in seq]
    replies = bytearray(len(seq))

    def run():
        for i in range(len(seq)):
            n = s.handle(seq[i], lengths[i], 5, out)
            replies[i] = 1 if n else 0
        return s.store.pending

    pending = locked(run)
    assert bytes(replies) == bytes((1, 1, 1, 1, 1, 1, 0, 0)), bytes(replies)
    assert pending == 3  # rapid commit, static, vendor-class client
    assert s.names.get(0) == "rapid-one" and s.names.get(7) == "cam-"
    assert s.stats.refused == 1 and s.stats.rate_limited == 1
    s.store.commit(5)


def test_moves_rekeying_and_unknown_renewals_allocate_nothing():
    # A client moving to another address (its old slot recorded as given
    # up), a client that starts sending a client id (its record re-keyed),
    # and a renewal of a free address nobody is known to hold (granted).
    path = util.tmp_path("leases.dat")
    s = make_server(path)
    out = bytearray(576)
    sid = (54, s.sid)
    cid = (61, b"\xff\x00\x00\x00\x01\x00\x04duid-of-the-os")
    seq = [
        P.request(D.DISCOVER, P.mac(1)),  # -> .16
        P.request(D.REQUEST, P.mac(1), options=[sid, (50, P.ip("192.168.4.16"))]),
        P.request(D.REQUEST, P.mac(1), options=[(50, P.ip("192.168.4.20"))]),  # INIT-REBOOT elsewhere: moves
        P.request(D.DISCOVER, P.mac(1), options=[cid]),  # now with a client id: its .20 again
        P.request(D.REQUEST, P.mac(1), options=[cid, sid, (50, P.ip("192.168.4.20"))]),
        P.request(D.REQUEST, P.mac(2), ciaddr=P.ip("192.168.4.22")),  # RENEWING, unknown, free: ACK
        P.request(D.REQUEST, P.mac(3), ciaddr=P.ip("192.168.4.22"), flags=0x8000),  # REBINDING another's: NAK
    ]
    lengths = [len(p) for p in seq]
    types = bytearray(len(seq))

    def run():
        for i in range(len(seq)):
            n = s.handle(seq[i], lengths[i], 5, out)
            types[i] = out[242] if n else 0
        return s.store.pending

    pending = locked(run)
    assert bytes(types) == bytes((2, 5, 5, 2, 5, 5, 6)), bytes(types)
    # Slots to write: .16 (bound, then given up), .20 (bound, then re-keyed), .22
    assert pending == 3, pending
    s.store.commit(5)


def test_discover_on_a_pool_every_client_has_keyed_allocates_nothing():
    # A churned pool: every slot holds some client's key (free ones as
    # affinity), so a new client's DISCOVER reads the whole table in one
    # pass for its key and the least recently freed slot.
    from dora import leases as L

    s = make_server(pool_end="192.168.4.254")  # 239 slots
    t = s.table
    key = bytearray(L.KEY_LEN)
    for slot in range(t.capacity):
        if not t.reserved(slot):
            key[0:6] = P.mac(100 + slot)
            t.set(slot, L.FREE, L.KEY_MAC, key, 50 - slot % 7 if slot != 9 else 1)
    out = bytearray(576)
    seq = [
        P.request(D.DISCOVER, P.mac(1)),  # new: the slot free the longest (9)
        P.request(D.DISCOVER, P.mac(100 + 12)),  # its affinity: slot 12
    ]
    lengths = [len(p) for p in seq]
    replies = bytearray(len(seq))

    def run():
        for i in range(len(seq)):
            replies[i] = 1 if s.handle(seq[i], lengths[i], 60, out) else 0
        return 0

    locked(run)
    assert bytes(replies) == b"\x01\x01"
    mine = bytearray(L.KEY_LEN)
    mine[0:6] = P.mac(1)
    assert t.raw_state(9) == L.OFFERED and t.key_is(9, L.KEY_MAC, mine)
    assert t.raw_state(12) == L.OFFERED
    # Every slot then held past now: exhausted, still without allocating.
    for slot in range(t.capacity):
        if not t.reserved(slot):
            t.set_state(slot, L.BOUND, 1000)
    pkt = P.request(D.DISCOVER, P.mac(2))
    n = len(pkt)
    assert locked(lambda: s.handle(pkt, n, 60, out)) == 0
    assert s.stats.exhausted == 1

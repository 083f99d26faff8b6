# Server decisions (RFC 2131 4.3) through Server.handle, in memory.

from dora import server as S
from dora import leases as L
from dora import dhcp as D

import packets as P
from helpers import Client, make_server, state_of, OTHER_SERVER


def test_dora_gives_first_pool_address_with_options():
    s = make_server()
    c = Client(s, 1)
    n = c.send(D.DISCOVER, 0, [(55, bytes([1, 3, 6, 15, 28, 51]))])
    assert n >= 300 and s.dest == S.TO_BROADCAST
    o = P.options(c.out, n)
    assert o[53] == bytes([D.OFFER]) and o[54] == P.ip("192.168.4.1")
    assert P.yiaddr(c.out) == "192.168.4.16"
    assert o[1] == P.ip("255.255.255.0") and o[3] == P.ip("192.168.4.1") and o[6] == P.ip("192.168.4.1")
    assert o[51] == bytes((0, 0, 0x0E, 0x10))  # 3600
    assert o[58] == bytes((0, 0, 0x07, 0x08)) and o[59] == bytes((0, 0, 0x0C, 0x4E))  # 1800, 3150
    assert c.out[0] == D.BOOTREPLY and c.out[4:8] == P.request(D.DISCOVER, c.mac, xid=c.xid)[4:8]
    assert c.request("192.168.4.16") == D.ACK
    assert state_of(s, "192.168.4.16", 0) == "bound"


def test_two_clients_never_get_the_same_offer():
    s = make_server()
    a, b = Client(s, 1), Client(s, 2)
    assert a.discover() != b.discover()


def test_option_53_anywhere_and_parameter_list_filters():
    s = make_server(domain="lan", options={"42": "192.168.4.1", "114": "http://portal/"})
    c = Client(s, 1)
    # 53 after other options (MicroPython's built-in server misses this).
    pkt = P.request(None, c.mac, options=[(55, bytes([1, 42])), (12, b"dev"), (53, b"\x01")])
    n = s.handle(pkt, len(pkt), 0, c.out)
    o = P.options(c.out, n)
    assert o[53] == bytes([D.OFFER])
    assert 42 in o and 1 in o
    assert 3 not in o and 6 not in o and 15 not in o and 114 not in o
    n = c.send(D.DISCOVER, 0)  # no 55: everything configured
    o = P.options(c.out, n)
    assert o[15] == b"lan" and o[114] == b"http://portal/" and o[42] == P.ip("192.168.4.1")


def test_request_for_another_server_drops_our_offer():
    s = make_server()
    c = Client(s, 1)
    addr = c.discover()
    assert state_of(s, addr, 0) == "offered"
    assert c.request(addr, 1, server_id=OTHER_SERVER) is None
    assert state_of(s, addr, 1) == "free"
    assert s.stats.ignored == 1


def test_offer_hold_expires():
    s = make_server()
    a = Client(s, 1)
    addr = a.discover(0)
    assert Client(s, 2).discover(5) != addr  # still held at 5 s
    assert state_of(s, addr, 10) == "free"  # offer_hold is 10 s


def test_selecting_request_for_unoffered_address_is_naked():
    s = make_server()
    c = Client(s, 1)
    c.discover()
    assert c.request("192.168.4.20") == D.NAK
    assert s.stats.naks == 1


def test_renewal_extends_and_rebinding_too():
    s = make_server()
    c = Client(s, 1)
    addr = c.dora(0)
    assert c.renew(1800) == D.ACK and s.dest == S.TO_CIADDR
    assert c.out[12:16] == P.ip(addr)
    assert s.event == S.EV_RENEW
    assert state_of(s, addr, 3600 + 1000) == "bound"  # extended from 1800
    # REBINDING: the same message, broadcast; the answer is the same.
    assert c.renew(3150 + 1800) == D.ACK


def test_renewal_of_someone_elses_address_is_naked():
    s = make_server()
    a, b = Client(s, 1), Client(s, 2)
    addr = a.dora(0)
    b.dora(0)
    assert b.renew(10, addr) == D.NAK
    assert state_of(s, addr, 10) == "bound"


def test_renewal_for_unknown_address_outside_pool_authoritative_or_not():
    s = make_server()
    c = Client(s, 1)
    assert c.renew(0, "10.0.0.5") == D.NAK
    s = make_server(authoritative=False)
    c = Client(s, 1)
    assert c.renew(0, "10.0.0.5") is None


def test_init_reboot_ack_nak_and_silence():
    s = make_server()
    a, b = Client(s, 1), Client(s, 2)
    addr = a.dora(0)
    assert a.init_reboot(addr, 100) == D.ACK  # its own binding
    assert b.init_reboot(addr, 100) == D.NAK  # someone else's
    assert b.init_reboot("10.1.2.3", 100) == D.NAK  # wrong network
    assert b.init_reboot("192.168.4.100", 100) == D.NAK  # in subnet, outside pool
    # Unknown but free (a lost lease file): granted when authoritative...
    assert Client(s, 3).init_reboot("192.168.4.20", 100) == D.ACK
    # ...silence when not authoritative.
    q = make_server(authoritative=False)
    assert Client(q, 3).init_reboot("192.168.4.20", 100) is None
    assert Client(q, 3).init_reboot("10.1.2.3", 100) is None


def test_release_frees_and_keeps_affinity():
    s = make_server()
    a = Client(s, 1)
    addr = a.dora(0)
    assert a.release(10) == 0
    assert state_of(s, addr, 10) == "free"
    assert s.stats.releases == 1
    # Others take never-used addresses first; the same client gets its own back.
    assert Client(s, 2).dora(20) != addr
    assert a.dora(30) == addr


def test_sticky_after_expiry_while_nobody_took_it():
    s = make_server()
    a = Client(s, 1)
    addr = a.dora(0)
    assert state_of(s, addr, 4000) == "free"
    assert a.discover(5000) == addr


def test_release_with_wrong_client_changes_nothing():
    s = make_server()
    a, b = Client(s, 1), Client(s, 2)
    addr = a.dora(0)
    b.release(5, addr)
    assert state_of(s, addr, 5) == "bound"


def test_decline_quarantines_address():
    s = make_server()
    a = Client(s, 1)
    addr = a.discover(0)
    a.request(addr, 0)
    a.decline(addr, 1)
    assert state_of(s, addr, 2) == "declined"
    # Never offered during the quarantine, even to the same client.
    offered = [Client(s, 10 + i).discover(3) for i in range(6)]
    assert addr not in offered
    assert a.discover(4) not in (addr, None)
    assert state_of(s, addr, 601 + 1) == "free"


def test_inform_acks_without_lease():
    s = make_server()
    c = Client(s, 1)
    n = c.send(D.INFORM, 0, ciaddr=P.ip("192.168.4.77"))
    o = P.options(c.out, n)
    assert o[53] == bytes([D.ACK]) and 51 not in o and 58 not in o
    assert P.yiaddr(c.out) == "0.0.0.0" and c.out[12:16] == P.ip("192.168.4.77")
    assert s.dest == S.TO_CIADDR


def test_allocation_order_static_then_sticky_then_requested_then_lru():
    s = make_server(static=[{"mac": "02:00:00:00:00:05", "address": "192.168.4.22"}])
    assert Client(s, 5).discover() == "192.168.4.22"  # static
    assert Client(s, 6).discover() == "192.168.4.16"  # LRU skips the static
    c = Client(s, 7)
    assert c.discover(0, [(50, P.ip("192.168.4.20"))]) == "192.168.4.20"  # requested
    assert c.discover(1, [(50, P.ip("192.168.4.21"))]) == "192.168.4.20"  # its current offer
    assert Client(s, 8).discover(0, [(50, P.ip("192.168.4.22"))]) != "192.168.4.22"  # reserved


def test_static_host_moved_by_init_reboot_nak():
    s = make_server(static=[{"mac": "02:00:00:00:00:05", "address": "192.168.4.22"}])
    assert Client(s, 5).init_reboot("192.168.4.17", 0) == D.NAK


def test_pool_exhaustion_is_counted_and_silent():
    s = make_server(pool_end="192.168.4.17")
    Client(s, 1).dora(0)
    Client(s, 2).dora(0)
    assert Client(s, 3).discover(0) is None
    assert s.stats.exhausted == 1 and s.event == S.EV_EXHAUSTED


def test_server_own_address_is_never_offered():
    s = make_server(address="192.168.4.16")
    got = [Client(s, i).dora(0) for i in range(7)]
    assert "192.168.4.16" not in got and len(set(got)) == 7
    assert Client(s, 99).discover(0) is None


def test_client_identifier_keys_the_lease():
    s = make_server()
    a = Client(s, 1, client_id=b"\xff\x00\x00\x00\x01" + b"duid-long-enough")
    addr = a.dora(0)
    # Same MAC, no client id: a different client.
    b = Client(s, 1)
    assert b.discover(1) != addr
    # The same client id from another MAC (a new NIC) keeps the lease.
    c = Client(s, 2, client_id=b"\xff\x00\x00\x00\x01" + b"duid-long-enough")
    assert c.renew(2, addr) == D.ACK
    n = a.send(D.DISCOVER, 3)
    assert P.options(a.out, n)[61] == b"\xff\x00\x00\x00\x01duid-long-enough"  # RFC 6842


def test_relayed_requests_answered_to_giaddr():
    s = make_server()
    c = Client(s, 1)
    n = c.send(D.DISCOVER, 0, [(82, b"\x01\x03abc")], giaddr=P.ip("192.168.4.254"))
    assert n and s.dest == S.TO_RELAY and c.out[24:28] == P.ip("192.168.4.254")
    assert P.options(c.out, n)[82] == b"\x01\x03abc"
    n = c.send(D.REQUEST, 0, [(50, P.ip("10.0.0.1"))], giaddr=P.ip("192.168.4.254"))
    assert P.options(c.out, n)[53] == bytes([D.NAK]) and s.dest == S.TO_RELAY
    assert c.out[10] & 0x80  # a relayed NAK asks the relay to broadcast


def test_reply_respects_max_message_size():
    opts = {}
    for code in range(128, 134):
        opts[str(code)] = "hex:" + "ab" * 200
    s = make_server(options=opts)
    c = Client(s, 1)
    n = c.send(D.DISCOVER, 0, [(57, b"\x02\x40")])  # 576
    assert n <= 576
    o = P.options(c.out, n)
    assert o[53] == bytes([D.OFFER]) and 54 in o and 51 in o
    # Bigger buffer and a client that takes more: still within both limits.
    big = bytearray(1500)
    pkt = P.request(D.DISCOVER, c.mac, options=[(57, b"\x05\xdc")])
    n = s.handle(pkt, len(pkt), 0, big)
    assert 576 < n <= 1500


def test_malformed_input_dropped_counted_table_unchanged():
    s = make_server()
    Client(s, 1).dora(0)
    before = bytes(s.table.recs)
    good = P.request(D.DISCOVER, P.mac(2))
    bad = [
        good[:100],  # short
        P.request(D.DISCOVER, P.mac(2), op=2),  # a reply, not a request
        P.request(D.DISCOVER, P.mac(2), htype=6),
        P.request(D.DISCOVER, P.mac(2), hlen=16),
        P.request(D.DISCOVER, P.mac(2), cookie=b"\x63\x82\x53\x64"),
        P.request(D.DISCOVER, P.mac(2), options=[(12, b"x" * 200)], pad_to=0)[:-150],  # overrun
        P.request(None, P.mac(2)),  # no type
        P.request(9, P.mac(2)),  # unknown type
        P.request(D.DISCOVER, P.mac(2), options=[(52, b"\x01")], end=False, pad_to=0) + b"\x0c\x10",  # overload bad
    ]
    out = bytearray(576)
    for pkt in bad:
        assert s.handle(pkt, len(pkt), 1, out) == 0
    assert s.stats.malformed == len(bad)
    assert bytes(s.table.recs) == before


def test_option_overload_in_file_field():
    s = make_server()
    pkt = bytearray(P.request(D.DISCOVER, P.mac(3), options=[(52, b"\x01")], end=True))
    # Put the parameter request list into the file field (offset 108).
    pkt[108:113] = bytes((55, 2, 1, 3, 255))
    out = bytearray(576)
    n = s.handle(pkt, len(pkt), 0, out)
    o = P.options(out, n)
    assert 1 in o and 3 in o and 6 not in o


def test_lease_table_is_16_bytes_per_lease():
    s = make_server(pool_end="192.168.4.254", pool_start="192.168.4.2")
    assert s.table.capacity == 253
    assert len(s.table.recs) == 253 * L.RECORD == 253 * 16


def test_client_id_that_is_just_the_mac_keys_by_mac():
    s = make_server()
    c = Client(s, 1, client_id=b"\x01" + P.mac(1))  # busybox udhcpc's default
    addr = c.dora(0)
    assert s.table.kind(s.pool.slot_of(P.ip(addr), 0)) == L.KEY_MAC
    assert Client(s, 1).renew(5, addr) == D.ACK  # the same client without option 61
    # Type 1 with another MAC is a real identifier, not chaddr.
    d = Client(s, 2, client_id=b"\x01" + P.mac(9))
    a2 = d.dora(0)
    assert s.table.kind(s.pool.slot_of(P.ip(a2), 0)) == L.KEY_CLIENT_ID


def _stations(s, n):
    return [Client(s, 0x200 + i) for i in range(n)]


def test_lost_lease_file_renumbers_nobody():
    # 30 stations bound; the lease file is lost while dora is down.  Each
    # RENEWs (unicast) or REBINDs (broadcast) its address: every one is
    # ACKed with that same address, none is NAKed.
    import util

    path = util.tmp_path("leases.dat")
    s = make_server(path, pool_end="192.168.4.60")
    stations = _stations(s, 30)
    before = [c.dora(0) for c in stations]
    s.store.close()
    s = make_server(util.tmp_path("leases.dat"), pool_end="192.168.4.60")  # a fresh, empty file
    naks = renumbered = 0
    for i, c in enumerate(stations):
        c.srv = s
        n = c.send(D.REQUEST, 1800 + i, ciaddr=P.ip(before[i]), flags=0x8000 if i % 2 else 0)
        t = c.reply_type(n)
        naks += t == 6
        renumbered += t != 5 or P.yiaddr(c.out) != before[i]
    assert (naks, renumbered) == (0, 0)
    assert s.stats.naks == 0 and s.stats.acks == 30
    assert s.store.pending == 30 or s.store.records >= 30  # each is a new binding, recorded
    # New clients are not given any of them.
    assert Client(s, 1).dora(1900) not in before


def test_renewal_of_a_free_address_unknown_to_a_non_authoritative_server_is_silent():
    s = make_server(authoritative=False)
    assert Client(s, 1).renew(0, "192.168.4.20") is None
    assert state_of(s, "192.168.4.20", 0) == "free"


def test_renewal_of_an_address_held_by_another_is_naked_and_named():
    s = make_server()
    a, b = Client(s, 1), Client(s, 2)
    addr = a.dora(0)
    b.dora(0)
    assert b.renew(10, addr) == D.NAK
    # What a log line needs: the address refused and the client (its chaddr,
    # its key).
    assert s.event == S.EV_NAK and s.event_slot == -1
    assert bytes(s.ip) == P.ip(addr)
    assert bytes(s.msg.buf[28:34]) == b.mac and s.kind == L.KEY_MAC and bytes(s.key[:6]) == b.mac
    # A SELECTING request for an address not offered to it: the same.
    assert b.request("192.168.4.22", 11) == D.NAK
    assert s.event == S.EV_NAK and bytes(s.ip) == P.ip("192.168.4.22")
    # INIT-REBOOT for another's address.
    assert b.init_reboot(addr, 12) == D.NAK and bytes(s.ip) == P.ip(addr)


def test_a_static_host_renewing_a_dynamic_address_is_moved_to_its_own():
    s = make_server(static=[{"mac": "02:00:00:00:00:05", "address": "192.168.4.22"}])
    assert Client(s, 5).renew(0, "192.168.4.17") == D.NAK


def _bound_slots(s, key_mac, now):
    t = s.table
    key = bytearray(L.KEY_LEN)
    key[:6] = key_mac
    return [i for i in range(t.capacity) if t.state(i, now) == L.BOUND and t.key_is(i, L.KEY_MAC, key)]


def test_one_client_never_holds_two_leases_after_a_restart():
    # A client's lease expires in RAM (its record on flash still says
    # BOUND); it then takes another address by INIT-REBOOT.  After a
    # restart it must hold one lease, not two.
    import util

    path = util.tmp_path("leases.dat")
    s = make_server(path)
    a = Client(s, 1)
    first = a.dora(0)
    assert a.init_reboot("192.168.4.20", 4000) == D.ACK  # the first lease expired at 3600
    s.store.commit(4000)
    assert len(_bound_slots(s, a.mac, 4001)) == 1
    s.store.close()
    s = make_server(path)  # restart: the file is read again
    held = _bound_slots(s, a.mac, 1)
    assert [s.pool.slot_of(P.ip("192.168.4.20"), 0)] == held, (first, held)


def test_one_key_one_slot_when_an_affinity_is_given_up():
    # A released lease leaves an affinity (a FREE record with the key) on
    # flash; taking another address must record that it was given up.
    import util

    path = util.tmp_path("leases.dat")
    s = make_server(path)
    a = Client(s, 1)
    first = a.dora(0)
    a.release(10)
    assert a.init_reboot("192.168.4.21", 20) == D.ACK
    s.store.commit(20)
    s.store.close()
    s = make_server(path)
    t = s.table
    key = bytearray(L.KEY_LEN)
    key[:6] = a.mac
    assert t.find(L.KEY_MAC, key) == s.pool.slot_of(P.ip("192.168.4.21"), 0)
    assert not t.key_is(s.pool.slot_of(P.ip(first), 0), L.KEY_MAC, key)


def test_a_client_that_starts_sending_a_client_id_keeps_its_address():
    # A boot loader without option 61, then the OS with an RFC 4361 id
    # (type 255, IAID, DUID), same chaddr: the same address, as dnsmasq and
    # Kea give; and one lease, also after a restart.
    import util

    path = util.tmp_path("leases.dat")
    s = make_server(path)
    Client(s, 2).dora(0)  # someone else first
    boot = Client(s, 1)
    addr = boot.dora(0)
    os_ = Client(s, 1, client_id=b"\xff\x00\x00\x00\x01\x00\x04" + b"duid-of-the-os")
    assert os_.discover(100) == addr
    assert os_.request(addr, 100) == D.ACK and P.yiaddr(os_.out) == addr
    assert os_.renew(1900, addr) == D.ACK
    t = s.table
    slot = s.pool.slot_of(P.ip(addr), 0)
    assert t.kind(slot) == L.KEY_CLIENT_ID and t.count(L.BOUND, 1900) == 2
    s.store.commit(1900)
    s.store.close()
    s = make_server(path)
    assert s.table.kind(slot) == L.KEY_CLIENT_ID and s.table.count(L.BOUND, 1) == 2
    os_.srv = s
    assert os_.renew(10, addr) == D.ACK


def test_a_renewing_client_that_starts_sending_a_client_id_keeps_its_address():
    s = make_server()
    addr = Client(s, 1).dora(0)
    c = Client(s, 1, client_id=b"\xff\x00\x00\x00\x01\x00\x04" + b"duid-of-the-os")
    assert c.renew(1800, addr) == D.ACK
    assert c.init_reboot(addr, 1900) == D.ACK
    assert s.stats.naks == 0


def test_a_revoked_address_is_not_granted_to_an_unknown_renewal():
    s = make_server()
    a = Client(s, 1)
    old = a.dora(0)
    assert a.init_reboot("192.168.4.20", 10) == D.ACK  # moves: `old` is simply free
    assert not s.table.dropped(s.pool.slot_of(P.ip(old), 0))
    assert a.init_reboot(old, 15) == D.ACK  # and may come back (a dual-boot host)
    assert a.init_reboot("192.168.4.20", 16) == D.ACK
    # Revoked (the runner's revoke forgets the slot): the holder's renewal is NAKed.
    slot = s.pool.slot_of(P.ip("192.168.4.20"), 0)
    s.table.forget(slot, 30)
    assert a.renew(40, "192.168.4.20") == D.NAK
    # Handed out again, the mark goes.
    c = Client(s, 3)
    assert c.discover(50, [(50, P.ip("192.168.4.20"))]) == "192.168.4.20"
    assert not s.table.dropped(slot)

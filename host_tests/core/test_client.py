# The client state machine (dora.client) alone, with a fake clock (plain ints)
# and server replies built by hand: every transition of RFC 2131 figure 5,
# lost packets, NAKs, T1/T2, rebinding to another server, INIT-REBOOT,
# DECLINE, RELEASE, Rapid Commit.  Both interpreters.

from dora import client as C
from dora import dhcp as D

import packets as P
import util

MAC = P.mac(42)
SID = P.ip("192.168.4.1")
SID2 = P.ip("192.168.4.2")
ADDR = P.ip("192.168.4.16")
ADDR2 = P.ip("192.168.4.77")


def new(**kw):
    kw.setdefault("seed", 7)
    return C.Client(MAC, **kw)


def sent(out, n):
    """(message type, {code: bytes}) of what the client built."""
    assert n >= 300, n
    opts = P.options(out, n)
    return opts[53][0], opts


def xid(out):
    return bytes(out[4:8])


def offer(c, addr=ADDR, sid=SID, opts=None):
    return P.reply(D.OFFER, MAC, c.xid, yiaddr=addr, server_id=sid, options=opts or P.lease_options())


def ack(c, addr=ADDR, sid=SID, opts=None, ciaddr=b"\0\0\0\0"):
    return P.reply(D.ACK, MAC, c.xid, yiaddr=addr, server_id=sid, ciaddr=ciaddr,
                   options=opts if opts is not None else P.lease_options())


def nak(c, sid=SID):
    return P.reply(D.NAK, MAC, c.xid, server_id=sid, options=[(56, b"no")])


def feed(c, pkt, now, out):
    return c.handle(pkt, len(pkt), now, out)


def requesting():
    """A new client that sent DISCOVER and took the first OFFER at 0."""
    c = new()
    out = bytearray(576)
    c.start(0)
    c.tick(0, out)
    feed(c, offer(c), 0, out)
    return c, out


def bind(c, out, now=0, opts=None):
    """start -> DISCOVER -> OFFER -> REQUEST -> ACK: BOUND at `now`."""
    c.start(now)
    assert sent(out, c.tick(now, out))[0] == D.DISCOVER
    assert sent(out, feed(c, offer(c), now, out))[0] == D.REQUEST
    assert feed(c, ack(c, opts=opts), now, out) == 0
    assert c.state == C.BOUND and c.event == C.EV_BOUND
    return c


# -- INIT, SELECTING, REQUESTING ------------------------------------------------

def test_discover_asks_for_broadcast_and_carries_identity():
    c = new(hostname=b"sensor-1", vendor_class=b"dora")
    out = bytearray(576)
    c.start(0)
    assert c.state == C.INIT and c.deadline == 0
    n = c.tick(0, out)
    kind, o = sent(out, n)
    assert kind == D.DISCOVER and c.state == C.SELECTING
    assert c.dest == C.TO_BROADCAST
    assert out[10] == 0x80  # the broadcast flag
    assert bytes(out[12:16]) == b"\0\0\0\0"
    assert bytes(out[28:34]) == MAC
    assert o[61] == b"\x01" + MAC
    assert o[12] == b"sensor-1" and o[60] == b"dora"
    assert o[57] == b"\x02\x40"  # 576
    assert o[55] == C.DEFAULT_PARAMS
    assert 50 not in o and 54 not in o and 80 not in o
    assert 3 <= c.deadline <= 5


def test_broadcast_flag_and_client_id_are_configurable():
    c = new(broadcast_flag=False, client_id=b"")
    out = bytearray(576)
    c.start(0)
    kind, o = sent(out, c.tick(0, out))
    assert out[10] == 0 and 61 not in o
    c = new(client_id=b"\x00my-device")
    c.start(0)
    assert sent(out, c.tick(0, out))[1][61] == b"\x00my-device"


def test_nothing_happens_before_the_deadline():
    c = new()
    out = bytearray(576)
    c.start(5)
    assert c.tick(4, out) == 0 and c.state == C.INIT
    assert c.tick(5, out) > 0


def test_offer_is_requested_from_its_server():
    c = new()
    out = bytearray(576)
    c.start(0)
    c.tick(0, out)
    x = xid(out)
    n = feed(c, offer(c), 1, out)
    kind, o = sent(out, n)
    assert kind == D.REQUEST and c.state == C.REQUESTING
    assert xid(out) == x  # one exchange, one xid
    assert o[50] == ADDR and o[54] == SID
    assert bytes(out[12:16]) == b"\0\0\0\0" and out[10] == 0x80
    assert c.dest == C.TO_BROADCAST
    assert out[9] == 1  # secs: one second into the exchange


def test_ack_binds_with_t1_t2_from_options():
    c, out = requesting()
    assert feed(c, ack(c, opts=P.lease_options(1000, t1=300, t2=600)), 2, out) == 0
    assert c.state == C.BOUND and c.event == C.EV_BOUND
    assert bytes(c.addr) == ADDR and bytes(c.server) == SID
    assert c.lease_time == 1000
    assert (c.t1, c.t2, c.expiry) == (302, 602, 1002)
    assert c.deadline == 302
    assert c.seconds_left(500) == 502
    i = c.option(1)
    assert bytes(c.opts[i : i + 4]) == P.ip("255.255.255.0") and c.opts[i - 1] == 4
    assert c.option(3) >= 0 and c.option(119) == -1


def test_t1_t2_default_to_half_and_seven_eighths():
    c = bind(new(), bytearray(576), now=10, opts=P.lease_options(800))
    assert (c.t1, c.t2, c.expiry) == (410, 710, 810)


def test_inconsistent_t1_t2_are_replaced_by_defaults():
    c = bind(new(), bytearray(576), opts=P.lease_options(800, t1=900, t2=2000))
    assert (c.t1, c.t2) == (400, 700)


def test_infinite_lease_never_renews():
    c = bind(new(), bytearray(576), opts=P.lease_options(0xFFFFFFFF))
    assert c.deadline == C.FOREVER and c.seconds_left(10**6) == C.FOREVER
    assert c.tick(10**6, bytearray(576)) == 0 and c.state == C.BOUND


def test_replies_with_another_xid_or_mac_or_malformed_are_ignored():
    c = new()
    out = bytearray(576)
    c.start(0)
    c.tick(0, out)
    bad_xid = P.reply(D.OFFER, MAC, b"\x01\x02\x03\x04", yiaddr=ADDR, options=P.lease_options())
    other_mac = P.reply(D.OFFER, P.mac(1), c.xid, yiaddr=ADDR, options=P.lease_options())
    no_sid = P.reply(D.OFFER, MAC, c.xid, yiaddr=ADDR, server_id=None, options=P.lease_options())
    no_addr = P.reply(D.OFFER, MAC, c.xid, options=P.lease_options())
    request = P.request(D.REQUEST, MAC)  # a BOOTREQUEST: not for a client
    good = offer(c)
    for pkt in (bad_xid, other_mac, no_sid, no_addr, request, good[:200], ack(c), nak(c)):
        assert feed(c, pkt, 0, out) == 0
        assert c.state == C.SELECTING
    assert c.ignored == 8


def test_lost_discovers_back_off_4_8_16_32_64_with_jitter():
    c = new(seed=12345)
    out = bytearray(576)
    c.start(0)
    c.tick(0, out)
    x = xid(out)
    now = 0
    waits = []
    for _ in range(7):
        waits.append(c.deadline - now)
        now = c.deadline
        kind, o = sent(out, c.tick(now, out))
        assert kind == D.DISCOVER and xid(out) == x and c.state == C.SELECTING
        assert (out[8] << 8) | out[9] == now  # secs grows
    for w, base in zip(waits, (4, 8, 16, 32, 64, 64, 64)):
        assert base - 1 <= w <= base + 1, waits
    assert len(set(waits)) > 3  # the jitter moves them


def test_lost_requests_are_retried_four_times_then_init():
    c, out = requesting()
    now = 0
    for _ in range(3):
        now = c.deadline
        assert sent(out, c.tick(now, out))[0] == D.REQUEST
        assert c.state == C.REQUESTING
    now = c.deadline
    assert 55 <= now <= 65
    kind, o = sent(out, c.tick(now, out))
    assert kind == D.DISCOVER and c.state == C.SELECTING


def test_after_selection_other_servers_are_ignored():
    c, out = requesting()
    assert feed(c, offer(c, sid=SID2), 0, out) == 0  # a late offer
    assert feed(c, ack(c, addr=ADDR2, sid=SID2), 0, out) == 0
    assert feed(c, nak(c, sid=SID2), 0, out) == 0
    assert c.state == C.REQUESTING and c.ignored == 3
    feed(c, ack(c), 0, out)
    assert c.state == C.BOUND and bytes(c.server) == SID


def test_nak_while_requesting_restarts_after_a_growing_back_off():
    c = new()
    out = bytearray(576)
    c.start(0)
    now = 0
    for expect in (1, 2, 4, 8):
        c.tick(now, out)
        feed(c, offer(c), now, out)
        assert feed(c, nak(c), now, out) == 0
        assert c.event == C.EV_NAK and c.state == C.INIT
        assert c.deadline == now + expect
        now = c.deadline
    c.tick(now, out)
    feed(c, offer(c), now, out)
    feed(c, ack(c), now, out)
    assert c.naks == 0  # a lease resets the back-off


def test_preferred_server_wins_and_others_are_a_fallback():
    c = new(prefer_server=SID2)
    out = bytearray(576)
    c.start(0)
    c.tick(0, out)
    assert feed(c, offer(c), 0, out) == 0 and c.state == C.SELECTING
    kind, o = sent(out, feed(c, offer(c, addr=ADDR2, sid=SID2), 1, out))
    assert kind == D.REQUEST and o[54] == SID2 and o[50] == ADDR2
    # The preferred server silent: the offer kept aside is taken at the
    # retransmission deadline instead of a new DISCOVER.
    c = new(prefer_server=SID2)
    c.start(0)
    c.tick(0, out)
    feed(c, offer(c), 0, out)
    kind, o = sent(out, c.tick(c.deadline, out))
    assert kind == D.REQUEST and o[54] == SID and o[50] == ADDR and c.state == C.REQUESTING


# -- BOUND, RENEWING, REBINDING ----------------------------------------------------

def test_renewing_at_t1_is_unicast_with_ciaddr():
    out = bytearray(576)
    c = bind(new(), out, opts=P.lease_options(1000))
    assert c.tick(499, out) == 0
    kind, o = sent(out, c.tick(500, out))
    assert kind == D.REQUEST and c.state == C.RENEWING
    assert c.dest == C.TO_SERVER
    assert bytes(out[12:16]) == ADDR and out[10] == 0
    assert 50 not in o and 54 not in o
    assert feed(c, ack(c, ciaddr=ADDR, opts=P.lease_options(1000)), 510, out) == 0
    assert c.state == C.BOUND and c.event == C.EV_RENEWED
    assert (c.t1, c.t2, c.expiry) == (1010, 1385, 1510)


def test_renewing_retransmits_at_half_the_time_to_t2_not_below_60s():
    out = bytearray(576)
    c = bind(new(), out, opts=P.lease_options(10000))  # T1 5000, T2 8750
    now = 5000
    c.tick(now, out)
    deadlines = []
    while c.state == C.RENEWING:
        deadlines.append(c.deadline)
        now = c.deadline
        c.tick(now, out)
    assert deadlines[:4] == [6875, 7812, 8281, 8515], deadlines
    prev = 5000
    for d in deadlines:  # half the time left to T2, at least 60 s, never past T2
        assert d == min(prev + max((8750 - prev) // 2, 60), 8750), deadlines
        prev = d
    assert deadlines[-1] == 8750 and deadlines[-1] - deadlines[-2] < 60
    assert c.state == C.REBINDING and now == 8750


def test_rebinding_at_t2_broadcasts_and_another_server_answers():
    out = bytearray(576)
    c = bind(new(), out, opts=P.lease_options(1000))
    c.tick(500, out)  # RENEWING: the server is gone
    assert feed(c, ack(c, ciaddr=ADDR, sid=SID2), 600, out) == 0  # not ours: ignored
    assert c.state == C.RENEWING
    now = c.deadline
    while c.state == C.RENEWING:
        now = c.deadline
        n = c.tick(now, out)
    assert now == 875 and c.state == C.REBINDING
    kind, o = sent(out, n)
    assert kind == D.REQUEST and c.dest == C.TO_BROADCAST
    assert bytes(out[12:16]) == ADDR and 54 not in o and 50 not in o
    assert c.deadline == 937  # half of the 125 s left
    feed(c, ack(c, ciaddr=ADDR, sid=SID2, opts=P.lease_options(1000)), 900, out)
    assert c.state == C.BOUND and c.event == C.EV_REBOUND
    assert bytes(c.server) == SID2 and c.expiry == 1900


def test_rebinding_retransmits_at_half_the_time_left():
    out = bytearray(576)
    c = bind(new(), out, opts=P.lease_options(100000))
    now = 87500
    c.tick(50000, out)
    c.tick(now, out)
    assert c.state == C.REBINDING and c.deadline == 87500 + 6250


def test_expiry_event_then_discover():
    out = bytearray(576)
    c = bind(new(), out, opts=P.lease_options(100))
    c.tick(50, out)  # RENEWING
    c.tick(88, out)  # REBINDING
    assert c.state == C.REBINDING
    assert c.tick(99, out) == 0 or c.state == C.REBINDING
    assert c.tick(100, out) == 0
    assert c.event == C.EV_EXPIRED and c.state == C.INIT and c.deadline == 100
    assert not c.bound()
    kind, o = sent(out, c.tick(100, out))
    assert kind == D.DISCOVER and 50 not in o


def test_nak_while_renewing_or_rebinding_drops_the_lease():
    out = bytearray(576)
    c = bind(new(), out, opts=P.lease_options(1000))
    c.tick(500, out)
    feed(c, nak(c), 501, out)
    assert c.event == C.EV_NAK and c.state == C.INIT and c.deadline == 502
    c = bind(new(), out, opts=P.lease_options(1000))
    c.tick(500, out)
    c.tick(875, out)
    feed(c, nak(c, sid=SID2), 880, out)  # any server may NAK a rebinding
    assert c.event == C.EV_NAK and c.state == C.INIT
    kind, o = sent(out, c.tick(c.deadline, out))
    assert kind == D.DISCOVER and 50 not in o


def test_renewal_handing_out_another_address_counts_as_new():
    out = bytearray(576)
    c = bind(new(), out, opts=P.lease_options(1000))
    c.tick(500, out)
    feed(c, ack(c, addr=ADDR2, ciaddr=ADDR), 501, out)
    assert c.event == C.EV_BOUND and bytes(c.addr) == ADDR2


def test_renew_on_request():
    out = bytearray(576)
    c = bind(new(), out, opts=P.lease_options(1000))
    kind, o = sent(out, c.renew(20, out))
    assert kind == D.REQUEST and c.state == C.RENEWING and c.dest == C.TO_SERVER
    feed(c, ack(c, ciaddr=ADDR, opts=P.lease_options(1000)), 21, out)
    assert c.event == C.EV_RENEWED and c.t1 == 521
    c.tick(521, out)
    util.raises(C.ClientError, c.renew, 522, out)


def test_replies_while_bound_or_init_are_ignored():
    out = bytearray(576)
    c = bind(new(), out)
    for pkt in (offer(c), ack(c, addr=ADDR2), nak(c)):
        assert feed(c, pkt, 1, out) == 0
    assert c.state == C.BOUND and bytes(c.addr) == ADDR
    c = new()
    c.start(0)
    assert feed(c, offer(c), 0, out) == 0 and c.state == C.INIT


# -- INIT-REBOOT ----------------------------------------------------------------------

def test_init_reboot_requests_the_stored_address():
    c = new()
    out = bytearray(576)
    c.remember(ADDR, SID)
    c.start(0)
    assert c.state == C.INIT_REBOOT
    kind, o = sent(out, c.tick(0, out))
    assert kind == D.REQUEST and c.state == C.REBOOTING
    assert o[50] == ADDR and 54 not in o
    assert bytes(out[12:16]) == b"\0\0\0\0" and out[10] == 0x80
    assert c.dest == C.TO_BROADCAST
    feed(c, ack(c, sid=SID2), 0, out)  # any server may answer
    assert c.state == C.BOUND and c.event == C.EV_BOUND and bytes(c.server) == SID2


def test_init_reboot_nak_falls_back_to_discover():
    c = new()
    out = bytearray(576)
    c.remember(ADDR, SID)
    c.start(0)
    c.tick(0, out)
    feed(c, nak(c), 0, out)
    assert c.event == C.EV_NAK and c.state == C.INIT and c.deadline == 1
    kind, o = sent(out, c.tick(1, out))
    assert kind == D.DISCOVER and 50 not in o


def test_init_reboot_without_answer_gives_up_after_a_few_seconds():
    c = new()
    out = bytearray(576)
    c.remember(ADDR, SID)
    c.start(100)
    c.tick(100, out)
    sends = [100]
    while c.state == C.REBOOTING:
        now = c.deadline
        n = c.tick(now, out)
        sends.append(now)
    assert sends == [100, 102, 104, 106]
    assert c.event == C.EV_REBOOT_FAILED and c.state == C.SELECTING
    kind, o = sent(out, n)
    assert kind == D.DISCOVER and o[50] == ADDR  # still asks for it


# -- DECLINE, RELEASE ----------------------------------------------------------------

def test_decline_then_init_after_ten_seconds():
    out = bytearray(576)
    c = bind(new(), out)
    x = bytes(c.xid)
    kind, o = sent(out, c.decline(3, out))
    assert kind == D.DECLINE and c.event == C.EV_DECLINED
    assert o[50] == ADDR and o[54] == SID and 55 not in o and 57 not in o
    assert bytes(out[12:16]) == b"\0\0\0\0" and xid(out) == x
    assert c.dest == C.TO_BROADCAST
    assert c.state == C.INIT and c.deadline == 13 and not c.bound()
    assert c.tick(12, out) == 0
    kind, o = sent(out, c.tick(13, out))
    assert kind == D.DISCOVER and 50 not in o


def test_release_is_unicast_and_stops():
    out = bytearray(576)
    c = bind(new(), out)
    kind, o = sent(out, c.release(5, out))
    assert kind == D.RELEASE and c.event == C.EV_RELEASED
    assert bytes(out[12:16]) == ADDR and o[54] == SID and 50 not in o
    assert c.dest == C.TO_SERVER and c.state == C.STOPPED and c.deadline == C.FOREVER
    util.raises(C.ClientError, c.release, 6, out)
    util.raises(C.ClientError, c.decline, 6, out)
    c.start(7)  # may start again: DISCOVER without a hint
    kind, o = sent(out, c.tick(7, out))
    assert kind == D.DISCOVER and 50 not in o


def test_start_twice_is_an_error():
    c = new()
    c.start(0)
    util.raises(C.ClientError, c.start, 0)


# -- Rapid Commit (RFC 4039) -----------------------------------------------------------

def test_rapid_commit_binds_in_two_messages():
    c = new(rapid_commit=True)
    out = bytearray(576)
    c.start(0)
    kind, o = sent(out, c.tick(0, out))
    assert kind == D.DISCOVER and o[80] == b""
    rc = P.reply(D.ACK, MAC, c.xid, yiaddr=ADDR, options=P.lease_options() + [(80, b"")])
    assert feed(c, rc, 0, out) == 0
    assert c.state == C.BOUND and c.event == C.EV_BOUND and c.rapid


def test_rapid_commit_ack_without_80_or_unasked_is_ignored():
    out = bytearray(576)
    c = new(rapid_commit=True)
    c.start(0)
    c.tick(0, out)
    assert feed(c, ack(c), 0, out) == 0 and c.state == C.SELECTING  # no 80
    # A server without Rapid Commit answers with an OFFER: the usual four.
    assert sent(out, feed(c, offer(c), 0, out))[0] == D.REQUEST
    feed(c, ack(c), 0, out)
    assert c.state == C.BOUND and not c.rapid
    c = new()  # not asked for
    c.start(0)
    c.tick(0, out)
    rc = P.reply(D.ACK, MAC, c.xid, yiaddr=ADDR, options=P.lease_options() + [(80, b"")])
    assert feed(c, rc, 0, out) == 0 and c.state == C.SELECTING


# -- the tables ------------------------------------------------------------------------

def test_transition_table_covers_every_state():
    assert len(C._ON_REPLY) == 3 * len(C.STATE_NAMES)
    assert len(C._OUR_SERVER_ONLY) == len(C.STATE_NAMES)
    # Only SELECTING takes OFFERs; ACKs are taken only where a request is out.
    takes_offer = [C.STATE_NAMES[s] for s in range(len(C.STATE_NAMES)) if C._ON_REPLY[s * 3]]
    takes_ack = [C.STATE_NAMES[s] for s in range(len(C.STATE_NAMES)) if C._ON_REPLY[s * 3 + 1]]
    assert takes_offer == ["SELECTING"]
    assert takes_ack == ["SELECTING", "REQUESTING", "RENEWING", "REBINDING", "REBOOTING"]


def test_xids_differ_between_exchanges_and_clients():
    out = bytearray(576)
    a = new(seed=1)
    b = new(seed=2)
    a.start(0)
    b.start(0)
    a.tick(0, out)
    xa = bytes(a.xid)
    b.tick(0, out)
    assert bytes(b.xid) != xa
    feed(a, offer(a), 0, out)
    feed(a, nak(a), 0, out)
    a.tick(a.deadline, out)
    assert bytes(a.xid) != xa


def test_mutated_replies_never_raise():
    """Random byte flips, truncations and lengths in OFFERs, ACKs and NAKs,
    in every state that takes replies: handle() only ever ignores or acts."""
    out = bytearray(576)
    seed = [12345]

    def rnd(n):
        seed[0] = (seed[0] * 1103515245 + 12345) & 0x7FFFFFFF
        return seed[0] % n

    for round_ in range(300):
        c = new(rapid_commit=True, seed=round_ + 1)
        c.start(0)
        c.tick(0, out)
        stage = round_ % 3
        if stage >= 1:
            feed(c, offer(c), 0, out)  # REQUESTING
        if stage == 2:
            feed(c, ack(c), 0, out)
            c.tick(c.t1, out)  # RENEWING
        kind = (D.OFFER, D.ACK, D.NAK)[rnd(3)]
        pkt = bytearray(P.reply(kind, MAC, c.xid, yiaddr=ADDR, options=P.lease_options(600, 300, 500) + [(80, b"")]))
        for _ in range(1 + rnd(8)):
            pkt[rnd(len(pkt))] = rnd(256)
        n = len(pkt) if rnd(4) else rnd(len(pkt) + 1)
        c.handle(pkt, n, 1, out)
        assert c.state in (C.SELECTING, C.REQUESTING, C.BOUND, C.RENEWING, C.INIT)

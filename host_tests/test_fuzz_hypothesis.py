# Property-based tests of the codec and the server (CPython, hypothesis).

import os

from hypothesis import given, settings, strategies as st

from dora import dhcp as D

import packets as P
from helpers import make_server

# `make fuzz` raises the counts: DORA_HYPOTHESIS_EXAMPLES=20000.
SCALE = int(os.getenv("DORA_HYPOTHESIS_EXAMPLES") or 0)


def examples(n):
    return max(n, SCALE) if SCALE else n


option = st.tuples(st.integers(1, 254), st.binary(max_size=40))


@settings(max_examples=examples(3000), deadline=None)
@given(st.binary(max_size=700))
def test_parse_never_raises_and_indexes_inside_the_buffer(data):
    m = D.Message()
    if m.parse(data, len(data)):
        for code in range(1, 255):
            off = m.opt(code)
            if off >= 0:
                assert off + m.opt_len(code) <= len(data)


@settings(max_examples=examples(2000), deadline=None)
@given(st.integers(1, 8), st.lists(option, max_size=12), st.binary(max_size=64), st.integers(0, 2))
def test_handle_any_well_framed_request(msg_type, options, tail, cut):
    srv = make_server()
    pkt = P.request(msg_type, P.mac(1), options=[o for o in options if o[0] not in (52, 53)]) + tail
    if cut:
        pkt = pkt[: len(pkt) - cut * 37]
    before = bytes(srv.table.recs)
    out = bytearray(576)
    n = srv.handle(pkt, len(pkt), 0, out)
    if srv.stats.malformed:
        assert n == 0 and bytes(srv.table.recs) == before
    if n:
        reply = D.Message()
        assert reply.parse(out, n, D.BOOTREPLY)
        assert n <= 576 - 28  # no 57: a 576-byte IP datagram


@settings(max_examples=examples(1000), deadline=None)
@given(st.lists(option, max_size=30), st.integers(300, 1500))
def test_writer_round_trip_and_limit(options, limit):
    buf = bytearray(1500)
    w = D.Writer()
    w.start(buf, D.BOOTREPLY, limit)
    w.byte(D.OPT_MESSAGE_TYPE, D.ACK)
    written = []
    for code, value in options:
        if w.option(code, value, 0, len(value)):
            written.append((code, value))
    n = w.finish()
    assert n <= max(limit, D.MIN_LEN)
    m = D.Message()
    assert m.parse(buf, n, D.BOOTREPLY)
    seen = {D.OPT_MESSAGE_TYPE}  # written first; the first instance counts
    for code, value in written:
        if code in seen or code == 52:
            continue
        seen.add(code)
        off = m.opt(code)
        assert bytes(buf[off : off + m.opt_len(code)]) == value


@settings(max_examples=examples(1000), deadline=None)
@given(st.lists(option, max_size=30), st.integers(300, 1500), st.integers(0, 3), st.booleans())
def test_writer_with_overload_keeps_every_option_it_accepts(options, limit, overload, sname_first):
    # Options that do not fit in the options field go to file/sname; a
    # client reading 52 finds each one written, and nothing else is lost
    # without being counted.
    buf = bytearray(1500)
    w = D.Writer()
    w.start(buf, D.BOOTREPLY, limit, overload, sname_first)
    w.byte(D.OPT_MESSAGE_TYPE, D.ACK)
    written = []
    tried = {52, 53}
    for code, value in options:
        if code in tried:
            continue  # once each: where a repeat lands is not the point here
        tried.add(code)
        if w.option(code, value, 0, len(value)):
            written.append((code, value))
    n = w.finish()
    assert n <= max(limit, D.MIN_LEN)
    assert len(written) + w.skipped == len(tried) - 2
    m = D.Message()
    assert m.parse(buf, n, D.BOOTREPLY)
    for code, value in written:
        off = m.opt(code)
        assert off >= 0 and bytes(buf[off : off + m.opt_len(code)]) == value
    if w.spilled:
        assert buf[m.opt(D.OPT_OVERLOAD)] == w.spilled and w.spilled & overload == w.spilled


@settings(max_examples=examples(1500), deadline=None)
@given(st.binary(min_size=4, max_size=4).filter(lambda b: b != bytes(4)), st.integers(1, 8),
       st.lists(option, max_size=8), st.integers(0, 0xFFFF))
def test_a_relayed_request_is_never_answered_by_broadcast(giaddr, msg_type, options, flags):
    from dora import server as S

    srv = make_server()
    out = bytearray(576)
    opts = [o for o in options if o[0] not in (52, 53)]
    for t in (1, msg_type):
        pkt = P.request(t, P.mac(2), giaddr=giaddr, options=opts, flags=flags)
        n = srv.handle(pkt, len(pkt), 0, out)
        if n:
            assert srv.dest == S.TO_RELAY
            assert bytes(out[24:28]) == giaddr


ops = st.lists(st.tuples(st.integers(0, 11), st.sampled_from("dddrrlx")), max_size=60)


@settings(max_examples=examples(300), deadline=None)
@given(ops)
def test_every_acked_binding_survives_a_restart(seq):
    # Any sequence of joins (d), renewals (r), releases (l) and declines (x)
    # by twelve clients on an eight-address pool; then a restart from the
    # lease file at clock 0: every binding ACKed and not given up is back.
    import powercut
    from flashsim import FlashSim

    flash = FlashSim(journal=False)
    srv = powercut.server_on(flash)
    stations = [powercut.Station(srv, i) for i in range(12)]
    acked = {}
    now = 1
    for who, op in seq:
        c = stations[who]
        if op == "d" or c.addr is None:
            addr = c.discover(now)
            if addr and c.request(addr, now) == D.ACK:
                c.addr = addr
        elif op == "r":
            if c.renew(now) != D.ACK:
                c.addr = None
        elif op == "l":
            c.release(now)
            c.addr = None
        else:
            c.decline(now)
            c.addr = None
        now += 1
    for c in stations:
        if c.addr is not None:
            slot = srv.pool.slot_of(P.ip(c.addr), 0)
            acked[slot] = c.mac
    again = powercut.server_on(FlashSim(flash.files))
    got = powercut.bound(again.table)
    for slot, mac in acked.items():
        assert got.get(slot, b"")[1:7] == mac, (slot, sorted(got))

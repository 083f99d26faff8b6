# Property-based tests of the codec and the server (CPython, hypothesis).

from hypothesis import given, settings, strategies as st

from dora import dhcp as D

import packets as P
from helpers import make_server

option = st.tuples(st.integers(1, 254), st.binary(max_size=40))


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=700))
def test_parse_never_raises_and_indexes_inside_the_buffer(data):
    m = D.Message()
    if m.parse(data, len(data)):
        for code in range(1, 255):
            off = m.opt(code)
            if off >= 0:
                assert off + m.opt_len(code) <= len(data)


@settings(max_examples=2000, deadline=None)
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
        assert n <= 576


@settings(max_examples=1000, deadline=None)
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

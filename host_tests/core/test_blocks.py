# dora.blocks: the packet path's byte-block moves (viper machine code on
# MicroPython, plain Python on CPython), checked against straightforward
# Python on every build.

from dora import blocks as B
from dora import dhcp as D

import util


def _raises(fn, *args):
    try:
        fn(*args)
    except IndexError:
        return True
    return False


def test_move_fill_equal():
    src = bytes(range(1, 21))
    dst = bytearray(24)
    B.move(dst, 2, src, 5, 10)
    assert bytes(dst[2:12]) == src[5:15]
    assert dst[0] == 0 and dst[1] == 0 and dst[12] == 0
    assert B.equal(dst, 2, src, 5, 10)
    assert not B.equal(dst, 2, src, 4, 10)
    B.fill(dst, 3, 4, 0xAB)
    assert bytes(dst[3:7]) == b"\xab" * 4 and dst[2] == src[5] and dst[7] == src[10]
    # Nothing to do: nothing touched, whatever the offsets.
    B.move(dst, 100, src, 100, 0)
    B.fill(dst, 100, -1, 0)
    assert B.equal(dst, 100, src, 100, 0)


def test_out_of_range_raises_before_writing():
    dst = bytearray(8)
    src = bytes(range(1, 9))
    assert _raises(B.move, dst, 4, src, 0, 5)
    assert _raises(B.move, dst, 0, src, 4, 5)
    assert _raises(B.move, dst, -1, src, 0, 2)
    assert _raises(B.fill, dst, 6, 3, 1)
    assert _raises(B.equal, dst, 0, src, 7, 2)
    assert dst == bytearray(8)


def _blob(options):
    out = bytearray()
    for code, value in options:
        out += bytes((code, len(value))) + value
    return bytes(out)


def _reference(blob, req, given1, given2):
    """The options of blob a client with parameter list `req` (None: no
    list) gets, in Python."""
    out = bytearray()
    i = 0
    while i + 1 < len(blob) and i + 2 + blob[i + 1] <= len(blob):
        code = blob[i]
        size = 2 + blob[i + 1]
        wanted = code == 1 or req is None or code in req
        if wanted and D.find_option(given1, code) < 0 and D.find_option(given2, code) < 0:
            out += blob[i : i + size]
        i += size
    return bytes(out)


def _lcg(seed):
    while True:
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        yield seed >> 8


def test_pick_matches_python():
    rnd = _lcg(15)
    codes = (1, 3, 6, 12, 15, 26, 28, 42, 66, 67, 119, 121, 252)
    for case in range(150):
        opts = [(c, bytes(next(rnd) % 7 + 1 for _ in range(next(rnd) % 6))) for c in codes if next(rnd) % 3]
        blob = _blob(opts)
        n_req = next(rnd) % 8
        req = None if n_req == 7 else bytes(codes[next(rnd) % len(codes)] for _ in range(n_req))
        given1 = _blob([(c, b"x") for c in codes if next(rnd) % 5 == 0])
        given2 = _blob([(c, b"y") for c in codes if next(rnd) % 6 == 0])
        want = _reference(blob, req, given1, given2)
        # The request's list sits inside a bigger buffer, as in a message.
        msg = bytearray(b"\xee" * 5) + (req or b"") + b"\xee"
        out = bytearray(b"\xdd" * 200)
        at = B.pick(out, 10, 200, blob, msg, 5, -1 if req is None else len(req), given1, given2)
        assert at == 10 + len(want), (case, at, want)
        assert bytes(out[10:at]) == want, case
        assert out[9] == 0xDD and (at == 200 or out[at] == 0xDD), case
        # One byte short of room: refused whole.
        if want:
            assert B.pick(out, 10, 10 + len(want) - 1, blob, msg, 5, -1 if req is None else len(req), given1, given2) == -1


def test_pick_checks_its_ranges():
    blob = _blob([(1, b"\xff\xff\xff\x00")])
    out = bytearray(10)
    assert _raises(B.pick, out, 0, 11, blob, b"", 0, 0, b"", b"")
    assert _raises(B.pick, out, 0, 10, blob, b"\x01\x02", 1, 2, b"", b"")
    assert B.pick(out, 0, 10, blob, b"", 0, 0, b"", b"") == 6  # the mask, unasked


def test_find():
    blob = _blob([(3, b"abcd"), (6, b""), (15, b"lan")])
    assert B.find(blob, 3) == 0
    assert B.find(blob, 6) == 6
    assert B.find(blob, 15) == 8
    assert B.find(blob, 1) == -1
    assert B.find(b"", 1) == -1
    assert B.find(blob[:-2], 15) == 8  # where it starts, even cut
    assert D.find_option(None, 3) == -1


def test_reply_header():
    req = bytearray(bytes((i * 7 + 3) & 255 for i in range(300)))
    out = bytearray(b"\xdd" * 300)
    B.reply_header(out, req)
    want = bytearray(240)
    want[0:3] = b"\x02\x01\x06"
    want[4:8] = req[4:8]
    want[10:12] = req[10:12]
    want[24:44] = req[24:44]
    want[236:240] = b"\x63\x82\x53\x63"
    assert bytes(out[:240]) == bytes(want)
    assert out[240] == 0xDD
    assert _raises(B.reply_header, bytearray(239), req)


def test_scan_and_unscan():
    from array import array

    where = array("H", bytes(512))
    seen = bytearray(4)
    buf = bytes((0, 0, 53, 1, 3, 0, 61, 2, 9, 9, 53, 1, 5, 12, 0, 50, 4, 1, 2, 3, 4, 7, 0, 255, 9))
    n = B.scan(buf, 0, len(buf), where, seen, 0)
    # 53 first seen at 2 (value at 4), 61 at 6, 12 at 13, 50 at 15; the
    # second 53 is not noted; 7 finds seen full (room for 4 codes).
    assert n == 4 and bytes(seen) == bytes((53, 61, 12, 50))
    assert where[53] == 5 and where[61] == 9 and where[12] == 16 and where[50] == 18 and where[7] == 0
    B.unscan(where, seen, n)
    assert where == array("H", bytes(512))
    # 50 runs past the end: what was noted (53, 61, 12) is still counted.
    assert B.scan(buf, 0, 18, where, seen, 0) == -1 - 3
    B.unscan(where, seen, 3)
    assert where == array("H", bytes(512))
    assert B.scan(b"\x35", 0, 1, where, bytearray(4), 0) == -1  # no length byte
    assert _raises(B.scan, buf, 0, len(buf) + 1, where, seen, 0)


def test_viper_code_loads_no_32_bit_literal():
    # As test_table's check of the lease scans (docs/time.md): on armv6m a
    # viper constant of 2**16 or more is read from beside the code, which
    # frozen code does not keep word-aligned.
    found = util.viper_constants(B)
    assert set(found) == {"move", "fill", "equal", "find", "pick", "reply_header", "scan", "unscan"}
    for name, seen in found.items():
        for expr, value in seen:
            assert 0 <= value < 2**16, (name, expr, value)


def test_server_copies_of_constants_match():
    # dora.server keeps its own const() copies of dora.dhcp's and
    # dora.leases's constants (folded into its code on MicroPython, where
    # they then exist as no names to compare).
    if util.MICROPYTHON:
        util.skip("MicroPython folds the underscore const() names away")
    from dora import leases as L
    from dora import server

    copies = [n for n in dir(server) if n.startswith("_") and n[1:2].isupper() and isinstance(getattr(server, n), int)]
    assert len(copies) > 30
    for name in copies:
        theirs = [getattr(m, name[1:]) for m in (D, L) if hasattr(m, name[1:])]
        if theirs:
            assert theirs == [getattr(server, name)] * len(theirs), name

# The lease table's two scans (viper machine code on MicroPython, plain Python
# on CPython): the same answers on both, checked directly.

from dora import leases as L

import util


def mac_key(last):
    return bytearray(b"\x02\x00\x00\x00\x07" + bytes([last]) + b"\x00\x00")


def test_find_matches_the_whole_key_of_its_kind():
    t = L.LeaseTable(40)
    t.set(3, L.BOUND, L.KEY_MAC, mac_key(9), 100)
    # Same last byte, another vendor: only the full key matches.
    other = mac_key(9)
    other[0] = 0x0A
    t.set(7, L.BOUND, L.KEY_MAC, other, 100)
    cid = bytearray(b"\x11\x22\x33\x44\x55\x66\x77\x09")
    t.set(39, L.FREE, L.KEY_CLIENT_ID, cid, 50)  # the last slot, FREE: affinity
    assert t.find(L.KEY_MAC, mac_key(9)) == 3
    assert t.find(L.KEY_MAC, other) == 7
    assert t.find(L.KEY_CLIENT_ID, cid) == 39
    assert t.find(L.KEY_MAC, cid) == -1  # right bytes, wrong kind
    assert t.find(L.KEY_MAC, mac_key(10)) == -1
    assert t.find(L.KEY_NONE, mac_key(9)) == -1
    util.raises(IndexError, t.find, L.KEY_MAC, bytearray(6))  # too short to read safely


def test_least_recently_used_order_expiry_and_reservations():
    t = L.LeaseTable(6)
    for slot in range(6):
        t.set(slot, L.BOUND, L.KEY_MAC, mac_key(slot), 1000)
    assert t.least_recently_used(10) == -1  # all bound: exhausted
    t.set_state(4, L.FREE, 30)
    t.set_state(1, L.FREE, 20)  # free the longest
    t.set_state(2, L.FREE, 25)
    assert t.least_recently_used(40) == 1
    t.set_flags(1, L.FLAG_STATIC)  # reserved: never handed out dynamically
    assert t.least_recently_used(40) == 2
    t.set_state(5, L.BOUND, 15)  # expired at 15: free since then, so older still
    assert t.least_recently_used(40) == 5 and t.raw_state(5) == L.FREE  # rewritten in place
    t.forget(3, 0)  # no affinity left: taken before any slot with one
    assert t.least_recently_used(40) == 3
    big = L.LeaseTable(253)
    big.set(0, L.BOUND, L.KEY_MAC, mac_key(0), L.FOREVER)
    assert big.least_recently_used(L.FOREVER - 1) == 1


def test_time_bytes_past_forever_read_as_forever_in_both_scans():
    # A viper int is a machine word: on a 32-bit build a time whose top byte
    # is 0x80 or more would read as negative (a bound lease expired, a slot
    # freed "before time began").  Both scans, and time(), read it as FOREVER.
    t = L.LeaseTable(4)
    for slot in range(4):
        t.set(slot, L.FREE, L.KEY_MAC, mac_key(slot), 100 + slot)
    for slot, b0 in ((0, 0x80), (1, 0xFF), (2, 0x40)):
        t.recs[slot * L.RECORD + 10] = b0
    t.set_state(3, L.BOUND, 500)
    t.recs[3 * L.RECORD + 10] = 0xC0  # bound "past FOREVER"
    assert [t.time(s) for s in range(4)] == [L.FOREVER] * 4
    assert t.least_recently_used(1000) == 0  # the first of three equal ones
    assert t.state(3, L.FOREVER - 1) == L.BOUND and t.raw_state(3) == L.BOUND
    t.set_time(0, 99)
    assert t.least_recently_used(1000) == 0 and t.least_recently_used(2**30 + 7) == 0
    assert t.raw_state(3) == L.BOUND  # a time "past FOREVER" never expires, whatever the caller's now


def test_forget_marks_a_slot_dropped_until_it_is_keyed_again():
    t = L.LeaseTable(2)
    assert not t.dropped(0)
    t.set(0, L.BOUND, L.KEY_MAC, mac_key(1), 100)
    t.forget(0, 50)
    assert t.dropped(0) and t.raw_state(0) == L.FREE and t.kind(0) == L.KEY_NONE
    t.set_state(0, L.DECLINED, 60)  # a quarantine keeps the mark
    assert t.dropped(0)
    t.set(0, L.OFFERED, L.KEY_MAC, mac_key(2), 70)
    assert not t.dropped(0)
    t.forget(0, 80, False)  # simply free
    assert not t.dropped(0) and t.kind(0) == L.KEY_NONE


def _reference_find(t, kind, key):
    for slot in range(t.capacity):
        if t.kind(slot) == kind and all(t.recs[slot * L.RECORD + 2 + j] == key[j] for j in range(L.KEY_LEN)):
            return slot
    return -1


def _reference_least_recently_used(t, now):
    best = -1
    for slot in range(t.capacity):
        if t.recs[slot * L.RECORD + 14]:  # reserved
            continue
        if t.state(slot, now) == L.FREE:  # lazy expiry, as the scan does
            if t.kind(slot) == L.KEY_NONE:
                return slot
            if best < 0 or t.time(slot) < t.time(best):
                best = slot
    return best


def test_both_scans_agree_with_a_plain_reference_on_random_tables():
    # Tables of every shape the scans meet: keys of both kinds sharing last
    # bytes, reserved slots, times around now and past FOREVER, every state.
    seed = 12345

    def rnd(n):
        nonlocal seed
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        return (seed >> 8) % n

    kinds = (L.KEY_NONE, L.KEY_MAC, L.KEY_CLIENT_ID)
    tried = 0
    for _ in range(60):
        n = 1 + rnd(40)
        t = L.LeaseTable(n)
        ref = L.LeaseTable(n)
        keys = []
        for slot in range(n):
            key = bytearray(rnd(3) for _ in range(L.KEY_LEN))
            keys.append((kinds[rnd(3)], key))
            t.set(slot, rnd(4), keys[-1][0], key, rnd(60))
            if rnd(8) == 0:
                t.set_flags(slot, L.FLAG_STATIC)
            if rnd(16) == 0:
                t.recs[slot * L.RECORD + 10] = 0x40 + rnd(0xC0)  # past FOREVER
        for _ in range(6):
            kind, key = keys[rnd(n)] if rnd(4) else (kinds[1 + rnd(2)], bytearray(rnd(3) for _ in range(L.KEY_LEN)))
            if kind != L.KEY_NONE:
                assert t.find(kind, key) == _reference_find(t, kind, key)
                tried += 1
        now = rnd(70)
        ref.recs[:] = t.recs
        want = _reference_least_recently_used(ref, now)
        assert t.least_recently_used(now) == want, (list(t.recs), now)
        # The lazy expiry freed what the reference freed, up to the answer.
        stop = t.capacity if want < 0 or ref.kind(want) != L.KEY_NONE else want + 1
        assert t.recs[: stop * L.RECORD] == ref.recs[: stop * L.RECORD]
    assert tried > 200, tried


def test_one_pass_scan_agrees_with_find_then_least_recently_used():
    # The DISCOVER's one pass: the key's slot, else -2 - the free slot,
    # against the two plain references on random tables (keys sharing last
    # bytes, reserved slots, never-used slots, times past FOREVER).
    seed = 777

    def rnd(n):
        nonlocal seed
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        return (seed >> 8) % n

    kinds = (L.KEY_NONE, L.KEY_MAC, L.KEY_CLIENT_ID)
    seen = {"hit": 0, "free": 0, "never used": 0, "exhausted": 0}
    for _ in range(300):
        n = 1 + rnd(40)
        t = L.LeaseTable(n)
        keys = []
        full = rnd(5) == 0  # every slot held past now: exhausted
        for slot in range(n):
            key = bytearray(rnd(3) for _ in range(L.KEY_LEN))
            kind = kinds[rnd(3)] if rnd(4) == 0 else kinds[1 + rnd(2)]
            keys.append((kind, key))
            t.set(slot, L.BOUND if full else rnd(4), kind, key, 100 if full else rnd(60))
            if rnd(8) == 0:
                t.set_flags(slot, L.FLAG_STATIC)
            if rnd(16) == 0:
                t.recs[slot * L.RECORD + 10] = 0x40 + rnd(0xC0)  # past FOREVER
        kind, key = keys[rnd(n)] if rnd(3) == 0 else (kinds[1 + rnd(2)], bytearray(rnd(3) for _ in range(L.KEY_LEN)))
        if kind == L.KEY_NONE:
            continue
        now = rnd(70)
        ref = L.LeaseTable(n)
        ref.recs[:] = t.recs
        held = _reference_find(ref, kind, key)
        got = t.find_or_least_recently_used(kind, key, now)
        if held >= 0:
            assert got == held, (list(ref.recs), kind, key, now)
            seen["hit"] += 1
        else:
            free = _reference_least_recently_used(ref, now)
            assert got == -2 - free, (list(ref.recs), kind, key, now, got, free)
            seen["exhausted" if free < 0 else "never used" if ref.kind(free) == L.KEY_NONE else "free"] += 1
        # Lazy expiry only: every slot reads the same state as before.
        for slot in range(n):
            assert t.state(slot, now) == ref.state(slot, now)
        assert t.recs == ref.recs
    assert min(seen.values()) > 10, seen


def test_viper_scans_load_no_32_bit_literal():
    # On armv6m (the RP2040) a viper constant that does not fit 16 bits is
    # loaded from a word placed in the code; frozen code is only 2-byte
    # aligned there, so such a load can read the wrong word (seen on the
    # emulated Pico W: a time past FOREVER read as expired).  The scans keep
    # every constant, literal or const() name, below 2**16.
    found = util.viper_constants(L)
    assert set(found) == {"_find", "_find_or_least_recently_used"}
    for name, seen in found.items():
        for expr, value in seen:
            assert 0 <= value < 2**16, (name, expr, value)

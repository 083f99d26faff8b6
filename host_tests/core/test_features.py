# Provisioning features in the core (both interpreters): Rapid Commit,
# options per static host and per class, class sub-ranges, hostnames,
# and the config errors that name their field.

from dora import config
from dora import dhcp as D

import packets as P
import util
from helpers import Client, cfg, make_server

PRL = (55, bytes([1, 3, 6, 12, 15, 28, 42, 43, 66, 114]))


def reply(srv, pkt, now=0):
    out = bytearray(576)
    n = srv.handle(pkt, len(pkt), now, out)
    return (P.options(out, n), P.yiaddr(out)) if n else (None, None)


# -- Rapid Commit (RFC 4039) ---------------------------------------------------
def test_rapid_commit_discover_gets_an_ack_with_option_80_and_is_durable():
    path = util.tmp_path("leases.dat")
    s = make_server(path, rapid_commit=True)
    pkt = P.request(D.DISCOVER, P.mac(1), options=[(80, b""), PRL])
    out = bytearray(576)
    n = s.handle(pkt, len(pkt), 0, out)
    opts = P.options(out, n)
    assert opts[53] == bytes([D.ACK]) and opts[80] == b""
    assert P.yiaddr(out) == "192.168.4.16"
    assert s.durable and s.store.pending == 1  # the runner commits before sending
    assert s.stats.acks == 1 and s.stats.offers == 0
    s.store.commit(0)
    c = Client(s, 1)
    c.addr = "192.168.4.16"
    assert c.renew(100) == D.ACK


def test_rapid_commit_needs_both_the_config_and_the_client():
    on = make_server(rapid_commit=True)
    opts, _ = reply(on, P.request(D.DISCOVER, P.mac(1), options=[PRL]))
    assert opts[53] == bytes([D.OFFER]) and 80 not in opts  # the client did not ask
    off = make_server()
    opts, _ = reply(off, P.request(D.DISCOVER, P.mac(1), options=[(80, b""), PRL]))
    assert opts[53] == bytes([D.OFFER]) and 80 not in opts  # not enabled: a normal OFFER


def test_rapid_commit_gives_a_static_host_its_address():
    s = make_server(rapid_commit=True, static=[{"mac": "02:00:00:00:00:09", "address": "192.168.4.20"}])
    opts, yi = reply(s, P.request(D.DISCOVER, P.mac(9), options=[(80, b"")]))
    assert opts[53] == bytes([D.ACK]) and yi == "192.168.4.20"


# -- options per pool, static host and class -----------------------------------
STATIC = [
    {
        "mac": "02:00:00:00:00:09",
        "address": "192.168.4.20",
        "hostname": "camera-1",
        "options": {"42": "192.168.4.9", "114": "http://192.168.4.1/cam"},
    }
]


def test_static_host_options_override_the_pool_and_carry_its_hostname():
    s = make_server(static=STATIC, options={"42": "192.168.4.1", "114": "http://192.168.4.1/"})
    opts, yi = reply(s, P.request(D.DISCOVER, P.mac(9), options=[PRL]))
    assert yi == "192.168.4.20"
    assert opts[42] == P.ip("192.168.4.9")  # the host's NTP server, once
    assert opts[114] == b"http://192.168.4.1/cam"
    assert opts[12] == b"camera-1"
    other, _ = reply(s, P.request(D.DISCOVER, P.mac(1), options=[PRL]))
    assert other[42] == P.ip("192.168.4.1") and other[114] == b"http://192.168.4.1/" and 12 not in other


def test_options_are_given_once_each():
    s = make_server(static=STATIC, options={"42": "192.168.4.1"})
    pkt = P.request(D.DISCOVER, P.mac(9), options=[PRL])
    out = bytearray(576)
    n = s.handle(pkt, len(pkt), 0, out)
    codes = []
    i = 240
    while out[i] != 255:
        codes.append(out[i])
        i += 2 + out[i + 1]
    assert codes.count(42) == 1 and len(set(codes)) == len(codes)
    assert n >= 300


CLASSES = [
    {"name": "cams", "mac_prefix": "02:00:00:00:01", "options": {"43": "hex:0102"},
     "pool_start": "192.168.4.21", "pool_end": "192.168.4.22"},
    {"name": "udhcpc", "vendor_class": "udhcp", "options": {"66": "tftp.lan", "42": "192.168.4.3"}},
]


def test_class_by_mac_prefix_gets_its_options_and_its_sub_range():
    s = make_server(classes=CLASSES, options={"42": "192.168.4.1"})
    got = []
    for i in (0x100, 0x101, 0x102):
        opts, yi = reply(s, P.request(D.DISCOVER, P.mac(i), options=[PRL]))
        got.append(yi)
        if opts:
            assert opts[43] == b"\x01\x02" and opts[42] == P.ip("192.168.4.1")
    assert sorted(got[:2]) == ["192.168.4.21", "192.168.4.22"]
    assert got[2] is None  # the sub-range is full
    assert s.stats.exhausted == 1


def test_other_clients_stay_out_of_a_class_sub_range():
    s = make_server(classes=CLASSES)
    seen = set()
    for i in range(1, 7):
        c = Client(s, i)
        seen.add(c.dora(0))
    assert "192.168.4.21" not in seen and "192.168.4.22" not in seen
    assert len(seen) == 6
    assert Client(s, 7).discover(0) is None  # 8 addresses, 2 kept for the class


def test_init_reboot_into_a_class_sub_range_is_refused_to_others():
    s = make_server(classes=CLASSES)
    assert Client(s, 1).init_reboot("192.168.4.21", 0) == D.NAK  # NAK: the class's range
    assert Client(s, 0x101).init_reboot("192.168.4.21", 0) == D.ACK  # a member may
    assert Client(s, 2).init_reboot("192.168.4.18", 0) == D.ACK


def test_class_by_vendor_class_prefix():
    s = make_server(classes=CLASSES, options={"42": "192.168.4.1"})
    opts, _ = reply(s, P.request(D.DISCOVER, P.mac(1), options=[(60, b"udhcp 1.35.0"), PRL]))
    assert opts[66] == b"tftp.lan" and opts[42] == P.ip("192.168.4.3")
    opts, _ = reply(s, P.request(D.DISCOVER, P.mac(2), options=[(60, b"dhcpcd-9.4.1"), PRL]))
    assert 66 not in opts and opts[42] == P.ip("192.168.4.1")
    opts, _ = reply(s, P.request(D.DISCOVER, P.mac(3), options=[(60, b"udh"), PRL]))
    assert 66 not in opts  # shorter than the prefix


def test_static_options_beat_class_options():
    st = [{"mac": "02:00:00:00:01:05", "address": "192.168.4.17", "options": {"43": "hex:09"}}]
    s = make_server(classes=CLASSES, static=st)
    opts, yi = reply(s, P.request(D.DISCOVER, P.mac(0x105), options=[PRL]))
    assert yi == "192.168.4.17" and opts[43] == b"\x09"


def test_captive_portal_option_114_only_when_asked():
    s = make_server(options={"114": "http://192.168.4.1/portal"})
    opts, _ = reply(s, P.request(D.DISCOVER, P.mac(1), options=[PRL]))
    assert opts[114] == b"http://192.168.4.1/portal"
    opts, _ = reply(s, P.request(D.DISCOVER, P.mac(2), options=[(55, b"\x01\x03")]))
    assert 114 not in opts


# -- hostnames -----------------------------------------------------------------
def test_hostname_is_stored_sanitised_and_cut_to_its_slot():
    s = make_server(hostname_len=15)
    c = Client(s, 1)
    addr = c.discover(0)
    c.send(D.REQUEST, 0, [(54, s.sid), (50, P.ip(addr)), (12, b"my host_name.is-long")])
    slot = s.pool.slot_of(P.ip(addr), 0)
    assert s.names.get(slot) == "my-host-name-is"  # 15 bytes, [A-Za-z0-9-]
    # A renewal with another name updates it.
    c.addr = addr
    c.send(D.REQUEST, 10, [(12, b"new")], ciaddr=P.ip(addr))
    assert s.names.get(slot) == "new"


def test_a_new_holder_does_not_inherit_the_old_name():
    s = make_server(hostname_len=15)
    a = Client(s, 1)
    addr = a.discover(0)
    a.send(D.REQUEST, 0, [(54, s.sid), (50, P.ip(addr)), (12, b"alpha")])
    b = Client(s, 2)
    b.send(D.REQUEST, 5000, [(50, P.ip(addr))])  # INIT-REBOOT onto the expired address
    assert s.names.get(s.pool.slot_of(P.ip(addr), 0)) == ""


def test_hostname_len_zero_keeps_no_table_and_sizes_it_otherwise():
    assert make_server().names is None  # off by default: the base server is unchanged
    assert make_server(hostname_len=0).names is None
    s = make_server(hostname_len=8)
    assert len(s.names.names) == 8 * s.table.capacity


# -- config errors name the field ----------------------------------------------
def test_bad_feature_config_names_the_field():
    base = {"address": "192.168.4.1", "pool_start": "192.168.4.16", "pool_end": "192.168.4.23", "lease_file": None}
    cases = [
        ({"classes": [{"name": "x", "mac_prefix": "zz:bb"}]}, "classes[0].mac_prefix:"),
        ({"classes": [{"name": "x"}]}, "classes[0]:"),
        ({"classes": [{"name": "x", "mac_prefix": "aa", "vendor_class": "y"}]}, "classes[0]:"),
        ({"classes": [{"name": "x", "mac_prefix": "aa", "pool_start": "192.168.4.17", "pool_end": "192.168.4.99"}]},
         "classes[0].pool_end:"),
        ({"classes": [{"name": "x", "mac_prefix": "aa", "options": {"51": 3}}]}, "classes[0].options.51:"),
        ({"classes": [{"name": "", "mac_prefix": "aa"}]}, "classes[0].name:"),
        ({"static": [{"mac": "02:00:00:00:00:01", "address": "192.168.4.20", "options": {"x": 1}}]},
         "static[0].options.x:"),
        ({"static": [{"mac": "02:00:00:00:00:01", "address": "192.168.4.20", "hostname": "a b"}]},
         "static[0].hostname:"),
        ({"rapid_commit": "yes"}, "rapid_commit:"),
        ({"hostname_len": 64}, "hostname_len:"),
    ]
    for over, prefix in cases:
        d = dict(base)
        d.update(over)
        e = util.raises(config.ConfigError, config.parse, d)
        assert str(e).startswith(prefix), (str(e), prefix)


def test_servers_list_parses_each_entry_and_names_a_bad_one():
    a = {"address": "192.168.4.1", "pool_start": "192.168.4.16", "pool_end": "192.168.4.23", "lease_file": "a.dat"}
    b = {"address": "10.0.0.1", "pool_start": "10.0.0.16", "pool_end": "10.0.0.99", "lease_file": "b.dat",
         "interface": "eth0"}
    cfgs = config.parse_servers({"servers": [a, b]})
    assert [c.pool_size for c in cfgs] == [8, 84]
    bad = dict(b)
    bad["pool_end"] = "10.0.1.5"
    e = util.raises(config.ConfigError, config.parse_servers, {"servers": [a, bad]})
    assert str(e).startswith("servers[1].pool_end:"), str(e)
    same = dict(b)
    same["lease_file"] = "a.dat"
    e = util.raises(config.ConfigError, config.parse_servers, {"servers": [a, same]})
    assert str(e).startswith("servers[1].lease_file:"), str(e)
    e = util.raises(config.ConfigError, config.parse_servers, {"servers": [a], "lease_time": 5})
    assert str(e).startswith("lease_time:")
    assert len(config.parse_servers(a)) == 1


def test_config_keeps_static_hosts_in_parallel_tables():
    c = cfg(static=STATIC + [{"mac": "02:00:00:00:00:0a", "address": "192.168.4.21"}])
    assert len(c.static) == 14 and c.static_names == ["camera-1", None]
    assert c.static_options[0][:2] == bytes((12, 8)) and c.static_options[1] is None


def test_mutated_requests_against_every_feature_enabled():
    # The robustness fuzz (host_tests/core/fuzzing.py) with a server that has
    # Rapid Commit, static hosts with options, classes, hostnames and
    # policies on: nothing escapes, replies stay well-formed.
    import fuzzing

    rng = fuzzing.Rng(0xFEA7)
    srv = make_server(
        pool_end="192.168.4.40", rapid_commit=True, static=STATIC, classes=CLASSES,
        options={"114": "http://portal.lan/", "42": "192.168.4.1"}, deny=["02:00:00:00:00:06"],
        max_offers_per_minute=20, hostname_len=15,
    )
    out = bytearray(576)
    base = fuzzing.seeds() + [P.request(D.DISCOVER, P.mac(9), options=[PRL, (80, b"")]),
                              P.request(D.DISCOVER, P.mac(0x100), options=[PRL, (60, b"udhcp 1"), (12, b"x" * 40)])]
    replies = 0
    now = 0
    count = util.size(1500, 300)
    for i in range(count):
        pkt = base[rng.below(len(base))]
        if rng.below(8):
            pkt = fuzzing.mutate(rng, pkt)
        malformed = srv.stats.malformed
        n = srv.handle(pkt, len(pkt), now, out)
        if srv.stats.malformed != malformed:
            assert n == 0
        elif n:
            replies += 1
            fuzzing.check_reply(srv, pkt, n, out)
        if i % 64 == 0:
            now += rng.below(120)
    assert replies > count // 15, replies
    assert srv.stats.acks > 0 and srv.stats.refused > 0

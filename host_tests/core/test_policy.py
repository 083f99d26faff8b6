# Policies for isolated networks: allow/deny lists by MAC and OUI prefix,
# static hosts only, and a cap on OFFERs per MAC per minute.

from dora import config
from dora import dhcp as D

import util
from helpers import Client, make_server

# P.mac(i) is 02:00:<i as 4 bytes>: OUI 02:00:00 for small i.


def test_deny_by_mac_and_by_oui():
    s = make_server(deny=["02:00:00:00:00:05", "0a:0b:0c"])
    assert Client(s, 5).discover() is None
    assert Client(s, 6).discover() is not None
    c = Client(s, 7)
    c.mac = bytes((0x0A, 0x0B, 0x0C, 1, 2, 3))
    assert c.discover() is None
    assert s.stats.refused == 2


def test_allow_list_serves_only_matching_and_static():
    s = make_server(allow=["02:00:00:00:00:01"], static=[{"mac": "0e:00:00:00:00:09", "address": "192.168.4.20"}])
    assert Client(s, 1).dora() == "192.168.4.16"
    assert Client(s, 2).discover() is None
    st = Client(s, 3)
    st.mac = bytes((0x0E, 0, 0, 0, 0, 9))
    assert st.discover() == "192.168.4.20"
    s = make_server(allow=["02:00:00"])
    assert Client(s, 2).discover() is not None


def test_allow_and_deny_take_the_prefix_syntax_of_class_mac_prefix():
    # One syntax for every MAC prefix in a config: 1 to 6 bytes.
    s = make_server(allow=["02:00"], deny=["02:00:00:00:00:05"])
    assert Client(s, 1).discover() is not None
    assert Client(s, 5).discover() is None
    c = Client(s, 6)
    c.mac = bytes((0x0A, 0, 0, 0, 0, 6))
    assert c.discover() is None


def test_ignore_unknown_serves_static_hosts_only():
    s = make_server(ignore_unknown=True, static=[{"mac": "02:00:00:00:00:03", "address": "192.168.4.21"}])
    assert Client(s, 1).discover() is None
    assert Client(s, 3).dora() == "192.168.4.21"
    assert Client(s, 1).renew(5, "192.168.4.16") is None  # not even a NAK


def test_offer_cap_per_mac_per_minute():
    s = make_server(max_offers_per_minute=3)
    c = Client(s, 1)
    got = [c.discover(10) for _ in range(5)]
    assert got[:3] == [got[0]] * 3 and got[3:] == [None, None]
    assert s.stats.rate_limited == 2
    assert Client(s, 2).discover(10) is not None  # others are not affected
    assert c.discover(70) is not None  # a new minute
    # Requests are not capped: the client can still finish its exchange.
    assert c.request(got[0], 70) == D.ACK


def test_offer_cap_tracks_many_macs_in_fixed_memory():
    s = make_server(max_offers_per_minute=1, pool_end="192.168.4.250")
    for i in range(100):  # more MACs than tracked slots: oldest are recycled
        Client(s, 100 + i).discover(0)
    assert len(s.policy.rates) == 32 * 10


def test_bad_policy_config_names_the_field():
    for over, field in (
        ({"deny": "02:00:00"}, "deny:"),
        ({"allow": ["02:00:00:00:00:00:00"]}, "allow[0]:"),
        ({"allow": ["02:0"]}, "allow[0]:"),
        ({"deny": ["zz:00:00"]}, "deny[0]"),
        ({"max_offers_per_minute": -1}, "max_offers_per_minute:"),
        ({"ignore_unknown": 1}, "ignore_unknown:"),
    ):
        d = {"address": "192.168.4.1", "pool_start": "192.168.4.16", "pool_end": "192.168.4.23"}
        d.update(over)
        msg = str(util.raises(config.ConfigError, config.parse, d))
        assert msg.startswith(field), (over, msg)

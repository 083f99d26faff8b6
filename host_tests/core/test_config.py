# A bad configuration fails at start-up with a message naming the field.

from dora import config

import util


def base(**over):
    d = {"address": "192.168.4.1", "pool_start": "192.168.4.16", "pool_end": "192.168.4.250"}
    d.update(over)
    return d


def error(d):
    return str(util.raises(config.ConfigError, config.parse, d))


def test_defaults():
    c = config.parse(base())
    assert c.pool_size == 235 and c.lease_time == 7200 and c.authoritative
    assert c.server_port == 67 and c.client_port == 68 and c.lease_file == "leases.dat"


def test_each_bad_field_is_named():
    cases = [
        ({"pool_start": None}, "pool_start:"),
        ({"address": "192.168.4"}, "address:"),
        ({"address": "192.168.4.0"}, "address:"),
        ({"netmask": "255.0.255.0"}, "netmask:"),
        ({"pool_end": "192.168.5.3"}, "pool_end:"),
        ({"pool_end": "192.168.4.3"}, "pool_end:"),
        ({"lease_time": "1h"}, "lease_time:"),
        ({"lease_time": 9}, "lease_time:"),
        ({"authoritative": "yes"}, "authoritative:"),
        ({"dns": "8.8.8.8"}, "dns:"),
        ({"router": "gateway"}, "router:"),
        ({"options": {"51": 60}}, "options.51:"),
        ({"options": {"abc": 1}}, "options.abc:"),
        ({"options": {"43": "hex:zz"}}, "options.43:"),
        ({"static": [{"mac": "02:00:00:00:00", "address": "192.168.4.20"}]}, "static[0].mac:"),
        ({"static": [{"mac": "02:00:00:00:00:01", "address": "192.168.4.5"}]}, "static[0].address:"),
        ({"static": [{"mac": "02:00:00:00:00:01", "address": "192.168.4.20", "ip": 1}]}, "static[0].ip:"),
        ({"server_port": 0}, "server_port:"),
        ({"lease_fle": "x"}, "lease_fle:"),
    ]
    for over, field in cases:
        msg = error(base(**over))
        assert msg.startswith(field), (over, msg)


def test_missing_required_field():
    d = base()
    del d["pool_end"]
    assert error(d).startswith("pool_end: required")


def test_a_full_slash_24_is_253_addresses():
    c = config.parse(base(pool_start="192.168.4.1", pool_end="192.168.4.254"))
    # 254 slots, the server's own among them: 253 addresses to hand out.
    assert c.pool_size == 254 and c.own_slot == 0
    msg = error(base(netmask="255.255.254.0", pool_start="192.168.4.1", pool_end="192.168.5.10"))
    assert msg.startswith("pool_end:") and "at most 253" in msg


def test_extra_options_encoding():
    c = config.parse(base(options={"42": "192.168.4.1", "119": "hex:036c616e00", "114": "http://x/", "2": 3600}))
    blob = c.options_blob
    assert bytes((42, 4, 192, 168, 4, 1)) in blob
    assert bytes((119, 5, 3)) + b"lan\x00" in blob
    assert bytes((114, 9)) + b"http://x/" in blob
    assert bytes((2, 4, 0, 0, 0x0E, 0x10)) in blob


def test_load_reports_bad_json():
    path = util.tmp_path("cfg.json")
    with open(path, "w") as f:
        f.write("{not json")
    assert "not valid JSON" in str(util.raises(config.ConfigError, config.load, path))
    assert "cannot read" in str(util.raises(config.ConfigError, config.load, path + ".missing"))

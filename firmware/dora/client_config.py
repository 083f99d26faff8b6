# The client's settings (docs/client.md lists them), checked once.  Not
# dora.config: that module is the server's (about 18 KB of RAM when loaded),
# and a board that is only a client should not pay for it.  Both take their
# parsers from dora.fields, so both name a bad field the same way.

from .client import DEFAULT_PARAMS
from .fields import ConfigError, boolean, fail, parse_ip, parse_mac, port  # noqa: F401 - ConfigError: for callers

_DEFAULTS = {
    "mac": None,
    "interface": None,
    "client_port": 68,
    "server_port": 67,
    "bind_address": "0.0.0.0",
    "broadcast": "255.255.255.255",
    "hostname": None,
    "client_id": None,
    "vendor_class": None,
    "rapid_commit": False,
    "broadcast_flag": True,
    "params": None,
    "prefer_server": None,
    "max_size": 576,
    "lease_file": "client_lease.dat",
    "run_seconds": None,
    "release_on_stop": False,
    "log": True,
}


class ClientConfig:
    def __init__(self, d):
        if not isinstance(d, dict):
            fail("config", "expected a JSON object")
        for k in d:
            if k not in _DEFAULTS and k not in ("apply", "comment"):
                fail(k, "unknown field")
        v = dict(_DEFAULTS)
        v.update(d)
        self.mac = parse_mac(v["mac"], "mac") if v["mac"] else None
        self.interface = v["interface"]
        self.client_port = port(v["client_port"], "client_port")
        self.server_port = port(v["server_port"], "server_port")
        parse_ip(v["bind_address"], "bind_address")
        self.bind_address = v["bind_address"]
        parse_ip(v["broadcast"], "broadcast")
        self.broadcast = v["broadcast"]
        self.hostname = _text(v["hostname"], "hostname", 63)
        self.client_id = _client_id(v["client_id"])
        self.vendor_class = _text(v["vendor_class"], "vendor_class", 255)
        self.rapid_commit = boolean(v, "rapid_commit")
        self.broadcast_flag = boolean(v, "broadcast_flag")
        self.release_on_stop = boolean(v, "release_on_stop")
        self.log = boolean(v, "log")
        p = v["params"]
        if p is None:
            self.params = DEFAULT_PARAMS
        else:
            if not isinstance(p, list) or not p or len(p) > 255:
                fail("params", "a list of 1-255 option codes")
            for c in p:
                if not isinstance(c, int) or not 1 <= c <= 254:
                    fail("params", "option codes are 1-254")
            self.params = bytes(p)
        ps = v["prefer_server"]
        self.prefer_server = parse_ip(ps, "prefer_server") if ps else None
        m = v["max_size"]
        if not isinstance(m, int) or not 576 <= m <= 1500:
            fail("max_size", "576-1500")
        self.max_size = m
        lf = v["lease_file"]
        if lf is not None and not isinstance(lf, str):
            fail("lease_file", "a path or null")
        self.lease_file = lf or None
        rs = v["run_seconds"]
        if rs is not None and (not isinstance(rs, int) or rs <= 0):
            fail("run_seconds", "a positive int or null")
        self.run_seconds = rs


def _client_id(cid):
    if cid is None:
        return None  # type 1 + MAC
    if not isinstance(cid, str):
        fail("client_id", 'a string ("hex:..." for raw bytes)')
    if cid.startswith("hex:"):
        h = cid[4:].replace(":", "")
        try:
            if len(h) % 2:
                raise ValueError
            out = bytes(int(h[i : i + 2], 16) for i in range(0, len(h), 2))
        except ValueError:
            fail("client_id", "bad hex")
    elif cid:
        out = b"\x00" + cid.encode()  # RFC 2132 9.14: type 0, text
    else:
        return b""  # none sent
    if len(out) > 255 or len(out) == 1:
        fail("client_id", "2 to 255 bytes")
    return out


def _text(v, field, most):
    if v is None or v == "":
        return None
    if not isinstance(v, str) or len(v) > most:
        fail(field, "text of at most %d characters" % most)
    return v.encode()


def load(path):
    import json

    with open(path) as f:
        return ClientConfig(json.load(f))

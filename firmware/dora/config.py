# Configuration: checked once at start-up and turned into the byte forms the
# packet path uses, so that nothing is converted per packet.  Every error
# names its field: ConfigError("pool_end: not inside 192.168.4.0/255.255.255.0").

from .dhcp import (
    OPT_BROADCAST,
    OPT_DNS,
    OPT_DOMAIN,
    OPT_ROUTER,
    OPT_SUBNET_MASK,
)

MAX_POOL = 253  # a full /24 less network, broadcast and the server itself

_DEFAULTS = {
    "netmask": "255.255.255.0",
    "lease_time": 7200,
    "offer_hold": 10,
    "decline_hold": 600,
    "domain": None,
    "broadcast": "255.255.255.255",
    "options": {},
    "static": [],
    "authoritative": True,
    "lease_file": "leases.dat",
    "interface": None,
    "bind_address": "0.0.0.0",
    "server_port": 67,
    "client_port": 68,
    "run_seconds": None,
    "log": True,
    "allow": [],
    "deny": [],
    "ignore_unknown": False,
    "max_offers_per_minute": 0,
}

_KNOWN = (
    "address",
    "pool_start",
    "pool_end",
    "router",
    "dns",
) + tuple(_DEFAULTS)

# Options dora writes itself from dedicated fields or per reply.
_RESERVED = (0, 1, 3, 6, 15, 28, 50, 51, 52, 53, 54, 55, 57, 58, 59, 61, 80, 82, 255)


class ConfigError(ValueError):
    pass


def _fail(field, what):
    raise ConfigError("%s: %s" % (field, what))


def parse_ip(text, field):
    if not isinstance(text, str):
        _fail(field, "expected an address like 192.168.4.1, got %r" % (text,))
    parts = text.split(".")
    if len(parts) != 4:
        _fail(field, "%r is not an IPv4 address" % text)
    out = bytearray(4)
    for i in range(4):
        p = parts[i]
        if not p.isdigit() or int(p) > 255:
            _fail(field, "%r is not an IPv4 address" % text)
        out[i] = int(p)
    return bytes(out)


def parse_mac(text, field):
    if isinstance(text, str):
        parts = text.replace("-", ":").split(":")
        if len(parts) == 6:
            try:
                return bytes(int(p, 16) for p in parts if len(p) == 2)
            except ValueError:
                pass
    _fail(field, "%r is not a MAC address like aa:bb:cc:dd:ee:ff" % (text,))


def ip_int(b):
    return (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]


def int_ip(v):
    return bytes(((v >> 24) & 255, (v >> 16) & 255, (v >> 8) & 255, v & 255))


def _int(d, field, low, high):
    v = d[field]
    if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
        _fail(field, "expected a whole number from %d to %d, got %r" % (low, high, v))
    return v


def _tlv(code, value):
    return bytes((code, len(value))) + value


def encode_option(code, value, field):
    """Bytes of an option value from its JSON form (see docs/contract.md)."""
    if isinstance(value, bool):
        _fail(field, "true/false is not an option value")
    if isinstance(value, int):
        if not 0 <= value <= 0xFFFFFFFF:
            _fail(field, "%d does not fit in 4 bytes" % value)
        return int_ip(value)
    if isinstance(value, list):
        if not value:
            _fail(field, "an empty list")
        return b"".join(parse_ip(v, field) for v in value)
    if not isinstance(value, str):
        _fail(field, "expected text, an address, a list of addresses or a number")
    if value.startswith("hex:"):
        try:
            raw = bytes.fromhex(value[4:])
        except ValueError:
            _fail(field, "%r is not hex" % value)
        return raw
    try:
        return parse_ip(value, field)
    except ConfigError:
        return value.encode()


class Config:
    """The checked configuration.  Addresses are kept as 4-byte `bytes`;
    the options every reply may carry are pre-encoded in `options_blob`."""

    def __init__(self, d):
        if not isinstance(d, dict):
            _fail("config", "expected a JSON object")
        for k in d:
            if k not in _KNOWN:
                _fail(k, "unknown field (known: %s)" % ", ".join(sorted(_KNOWN)))
        for k in ("address", "pool_start", "pool_end"):
            if k not in d:
                _fail(k, "required")
        full = dict(_DEFAULTS)
        full.update(d)
        d = full
        self.raw = d

        self.address = parse_ip(d["address"], "address")
        self.netmask = parse_ip(d["netmask"], "netmask")
        mask = ip_int(self.netmask)
        inv = ~mask & 0xFFFFFFFF
        if mask == 0 or (inv & (inv + 1)) != 0:
            _fail("netmask", "%s is not a contiguous mask" % d["netmask"])
        addr = ip_int(self.address)
        net = addr & mask
        self.subnet = int_ip(net)
        self.subnet_broadcast = int_ip(net | inv)
        if addr in (net, net | inv):
            _fail("address", "is the network or broadcast address of its subnet")

        start = ip_int(parse_ip(d["pool_start"], "pool_start"))
        end = ip_int(parse_ip(d["pool_end"], "pool_end"))
        for field, v in (("pool_start", start), ("pool_end", end)):
            if v & mask != net or v in (net, net | inv):
                _fail(field, "not a host address inside %s/%s" % (_dq(self.subnet), d["netmask"]))
        if end < start:
            _fail("pool_end", "comes before pool_start")
        if (start >> 16) != (end >> 16):
            _fail("pool_end", "the pool may not cross a /16 boundary")
        size = end - start + 1
        usable = size - (1 if start <= addr <= end else 0)
        if usable > MAX_POOL:
            _fail("pool_end", "the pool holds %d addresses; at most %d" % (usable, MAX_POOL))
        self.pool_start = int_ip(start)
        self.pool_size = size
        # The server's own address inside the pool is never handed out.
        self.own_slot = addr - start if start <= addr <= end else -1

        self.lease_time = _int(d, "lease_time", 10, 0xFFFFFFFF)
        self.offer_hold = _int(d, "offer_hold", 1, 3600)
        self.decline_hold = _int(d, "decline_hold", 1, 86400 * 7)
        self.server_port = _int(d, "server_port", 1, 65535)
        self.client_port = _int(d, "client_port", 1, 65535)
        if d["run_seconds"] is not None:
            _int(d, "run_seconds", 1, 86400 * 365)
        self.run_seconds = d["run_seconds"]
        self.authoritative = _bool(d, "authoritative")
        self.log = _bool(d, "log")
        self.broadcast = parse_ip(d["broadcast"], "broadcast")
        self.bind_address = parse_ip(d["bind_address"], "bind_address")
        for field in ("interface", "lease_file"):
            if d[field] is not None and not (isinstance(d[field], str) and d[field]):
                _fail(field, "expected a non-empty string or null")
        self.interface = d["interface"]
        self.lease_file = d["lease_file"]

        blob = bytearray()
        blob += _tlv(OPT_SUBNET_MASK, self.netmask)
        router = d.get("router", d["address"])
        if router is not None:
            blob += _tlv(OPT_ROUTER, parse_ip(router, "router"))
        dns = d.get("dns", [d["address"]])
        if dns:
            if not isinstance(dns, list):
                _fail("dns", "expected a list of addresses")
            blob += _tlv(OPT_DNS, b"".join(parse_ip(x, "dns") for x in dns))
        if d["domain"] is not None:
            if not isinstance(d["domain"], str) or not 0 < len(d["domain"]) < 255:
                _fail("domain", "expected a name of 1 to 254 characters")
            blob += _tlv(OPT_DOMAIN, d["domain"].encode())
        blob += _tlv(OPT_BROADCAST, self.subnet_broadcast)
        opts = d["options"]
        if not isinstance(opts, dict):
            _fail("options", 'expected an object like {"42": "192.168.4.1"}')
        for key in sorted(opts, key=lambda k: int(k) if str(k).isdigit() else 0):
            field = "options.%s" % key
            if not str(key).isdigit() or not 1 <= int(key) <= 254:
                _fail(field, "option codes are numbers from 1 to 254")
            code = int(key)
            if code in _RESERVED:
                _fail(field, "option %d is set by dora itself or by its own field" % code)
            value = encode_option(code, opts[key], field)
            if len(value) > 255:
                _fail(field, "longer than 255 bytes")
            blob += _tlv(code, value)
        self.options_blob = bytes(blob)

        self.static = _statics(d["static"], self)

        from .policy import compile_list

        self.allow = compile_list(d["allow"], "allow", parse_mac)
        self.deny = compile_list(d["deny"], "deny", parse_mac)
        self.ignore_unknown = _bool(d, "ignore_unknown")
        self.max_offers_per_minute = _int(d, "max_offers_per_minute", 0, 10000)


def _bool(d, field):
    if not isinstance(d[field], bool):
        _fail(field, "expected true or false")
    return d[field]


def _dq(b):
    return "%d.%d.%d.%d" % (b[0], b[1], b[2], b[3])


def _statics(items, cfg):
    """Static reservations as one bytes object of 7-byte records
    (MAC, slot), scanned linearly in the packet path (no dict key to build)."""
    if not isinstance(items, list):
        _fail("static", "expected a list")
    out = bytearray()
    macs = []
    slots = []
    start = ip_int(cfg.pool_start)
    for i, item in enumerate(items):
        field = "static[%d]" % i
        if not isinstance(item, dict):
            _fail(field, "expected an object with mac and address")
        for k in item:
            if k not in ("mac", "address", "hostname"):
                _fail("%s.%s" % (field, k), "unknown field")
        mac = parse_mac(item.get("mac"), field + ".mac")
        ip = ip_int(parse_ip(item.get("address"), field + ".address"))
        slot = ip - start
        if not 0 <= slot < cfg.pool_size or slot == cfg.own_slot:
            _fail(field + ".address", "must be a pool address other than the server's")
        if mac in macs:
            _fail(field + ".mac", "reserved twice")
        if slot in slots:
            _fail(field + ".address", "reserved twice")
        macs.append(mac)
        slots.append(slot)
        out += mac + bytes((slot,))
    return bytes(out)


def parse(d):
    return Config(d)


def load(path):
    import json

    try:
        with open(path) as f:
            d = json.load(f)
    except OSError as e:
        raise ConfigError("config: cannot read %s (%s)" % (path, e))
    except ValueError as e:
        raise ConfigError("config: %s is not valid JSON (%s)" % (path, e))
    return Config(d)

# Configuration: checked once at start-up and turned into the byte forms the
# packet path uses, so that nothing is converted per packet.  Every error
# names its field: ConfigError("pool_end: not inside 192.168.4.0/255.255.255.0").

from .dhcp import (
    FILE_LEN,
    HEADER_LEN,
    MAX_MESSAGE,
    MAX_REPLY,
    OPT_BOOT_FILE,
    OPT_BROADCAST,
    OPT_DNS,
    OPT_DOMAIN,
    OPT_HOSTNAME,
    OPT_ROUTER,
    OPT_SUBNET_MASK,
    OPT_TFTP_SERVER,
    find_option,
    same,
    SEND_STEP,
)
from .fields import ConfigError, boolean as _bool, fail as _fail, int_ip, ip_int, ip_text, parse_ip, parse_mac, parse_prefix

from .compat import const

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
    "status_seconds": 0,
    # provisioning (docs/features.md)
    "rapid_commit": False,
    "hostname_len": 0,  # 15 keeps most names: 15 B per pool address
    "classes": [],
    "next_server": None,  # siaddr and option 66: the TFTP server
    "boot_file": None,  # the file field and option 67
    "trusted_relays": None,  # null: answer any relay; a list: only these
}

# Room in a reply beyond the configured options: 53, 54, 51, 58, 59, 80, 52
# and END (33 bytes), and echoes of 61 and 82 of usual sizes.
_REPLY_EXTRA = 33 + 64

MAX_HOSTNAME = 63  # one DNS label

_KNOWN = (
    "address",
    "pool_start",
    "pool_end",
    "router",
    "dns",
) + tuple(_DEFAULTS)

# Options dora writes itself from dedicated fields or per reply.
_RESERVED = (0, 1, 3, 6, 15, 28, 50, 51, 52, 53, 54, 55, 57, 58, 59, 61, 80, 82, 255)


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
                _fail(field, "not a host address inside %s/%s" % (ip_text(self.subnet), d["netmask"]))
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
        self.status_seconds = _int(d, "status_seconds", 0, 86400)
        self.authoritative = _bool(d, "authoritative")
        self.log = _bool(d, "log")
        self.broadcast = parse_ip(d["broadcast"], "broadcast")
        self.bind_address = parse_ip(d["bind_address"], "bind_address")
        for field in ("interface", "lease_file"):
            if d[field] is not None and not (isinstance(d[field], str) and d[field]):
                _fail(field, "expected a non-empty string or null")
        self.interface = d["interface"]
        self.lease_file = d["lease_file"]

        self.trusted_relays = _relays(d["trusted_relays"])
        self.next_server = None
        if d["next_server"] is not None:
            self.next_server = parse_ip(d["next_server"], "next_server")
        self.rapid_commit = _bool(d, "rapid_commit")
        self.hostname_len = _int(d, "hostname_len", 0, MAX_HOSTNAME)

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
        extra = options_blob(d["options"], "options")
        blob += extra + _boot_options(d, "", extra)
        self.options_blob = bytes(blob)

        # Static hosts: `static` holds STATIC_REC-byte records (see below);
        # static_options[i] and static_names[i] belong to record i.
        # dora.control edits all three at run time.
        self.static = bytearray()
        self.static_options = []
        self.static_names = []
        items = d["static"]
        if not isinstance(items, list):
            _fail("static", "expected a list")
        for i, item in enumerate(items):
            mac, slot, name, opts = static_host(item, self, "static[%d]" % i)
            add_static(self, mac, slot, name, opts, "static[%d]" % i)

        self.classes = _classes(d["classes"], self)

        self.allow = mac_list(d["allow"], "allow")
        self.deny = mac_list(d["deny"], "deny")
        self.ignore_unknown = _bool(d, "ignore_unknown")
        self.max_offers_per_minute = _int(d, "max_offers_per_minute", 0, 10000)
        self.reply_size = reply_size(self)


def mac_list(items, field):
    """allow/deny: ["aa:bb:cc", "aa:bb:cc:dd:ee:ff"] as the bytes of
    dora.policy's entries (prefix length, then 6 bytes zero-padded)."""
    if not isinstance(items, list):
        _fail(field, "expected a list of MACs or prefixes like aa:bb:cc")
    out = bytearray()
    for i, text in enumerate(items):
        p = parse_prefix(text, "%s[%d]" % (field, i))
        out += bytes((len(p),)) + p + bytes(6 - len(p))
    return bytes(out)


def reply_size(cfg):
    """Bytes of each reply buffer: room for the longest reply this config
    builds (the pool's options with the largest class's and static host's),
    never less than what a client without option 57 takes, at most one
    Ethernet frame; a multiple of SEND_STEP."""
    most = 0
    for k in cfg.classes:
        if k.options and len(k.options) > most:
            most = len(k.options)
    host = 0
    for o in cfg.static_options:
        if o and len(o) > host:
            host = len(o)
    need = HEADER_LEN + _REPLY_EXTRA + len(cfg.options_blob) + most + host
    size = MAX_REPLY
    while size < need and size < MAX_MESSAGE:
        size += SEND_STEP
    return size if size < MAX_MESSAGE else MAX_MESSAGE


def _relays(items):
    """The trusted relays' addresses, 4 bytes each; None: trust any."""
    if items is None:
        return None
    if not isinstance(items, list):
        _fail("trusted_relays", "expected a list of relay addresses, or null to answer any relay")
    out = b""
    for i, text in enumerate(items):
        field = "trusted_relays[%d]" % i
        ip = parse_ip(text, field)
        if ip in (b"\0\0\0\0", b"\xff\xff\xff\xff"):
            _fail(field, "%s is not a relay's address" % text)
        out += ip
    return out


def _boot_options(item, field, given):
    """Options 66 and 67 of an item's next_server and boot_file (`given`:
    the item's other options, which may name its own 66)."""
    out = b""
    prefix = field + "." if field else ""
    ns = item.get("next_server")
    if ns is not None:
        parse_ip(ns, prefix + "next_server")
        if find_option(given, OPT_TFTP_SERVER) < 0:
            out += _tlv(OPT_TFTP_SERVER, ns.encode())
    bf = item.get("boot_file")
    if bf is not None:
        f = prefix + "boot_file"
        if not isinstance(bf, str) or not 0 < len(bf.encode()) < FILE_LEN:
            _fail(f, "expected a file name of 1 to %d bytes" % (FILE_LEN - 1))
        if find_option(given, OPT_BOOT_FILE) >= 0:
            _fail(f, "given twice: here and as option 67")
        out += _tlv(OPT_BOOT_FILE, bf.encode())
    return out


def options_blob(opts, field):
    """Extra options {"code": value} as concatenated TLVs (code, len, value)."""
    if not isinstance(opts, dict):
        _fail(field, 'expected an object like {"42": "192.168.4.1"}')
    blob = bytearray()
    for key in sorted(opts, key=lambda k: int(k) if str(k).isdigit() else 0):
        f = "%s.%s" % (field, key)
        if not str(key).isdigit() or not 1 <= int(key) <= 254:
            _fail(f, "option codes are numbers from 1 to 254")
        code = int(key)
        if code in _RESERVED:
            _fail(f, "option %d is set by dora itself or by its own field" % code)
        value = encode_option(code, opts[key], f)
        if len(value) > 255:
            _fail(f, "longer than 255 bytes")
        blob += _tlv(code, value)
    return bytes(blob)


def static_host(item, cfg, field):
    """(mac, slot, hostname or None, options blob) of one static host."""
    if not isinstance(item, dict):
        _fail(field, "expected an object with mac and address")
    for k in item:
        if k not in ("mac", "address", "hostname", "options", "next_server", "boot_file"):
            _fail("%s.%s" % (field, k), "unknown field")
    mac = parse_mac(item.get("mac"), field + ".mac")
    ip = ip_int(parse_ip(item.get("address"), field + ".address"))
    slot = ip - ip_int(cfg.pool_start)
    if not 0 <= slot < cfg.pool_size or slot == cfg.own_slot:
        _fail(field + ".address", "must be a pool address other than the server's")
    name = item.get("hostname")
    opts = options_blob(item.get("options", {}), field + ".options")
    opts += _boot_options(item, field, opts)
    if name is not None:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_HOSTNAME or not clean_name(name):
            _fail(field + ".hostname", "expected 1 to %d letters, digits or '-'" % MAX_HOSTNAME)
        # The client learns its configured name through option 12.
        opts = _tlv(OPT_HOSTNAME, name.encode()) + opts
    return mac, slot, name, opts


# Static hosts in the packet path: cfg.static is one bytearray of
# STATIC_REC-byte records, a host's MAC (6 bytes) then its pool slot (1 byte),
# scanned in place without allocating.
STATIC_REC = const(7)
_STATIC_SLOT = const(6)


def find_static(cfg, buf, off):
    """Index of the static host with the MAC at buf[off:off+6], or -1."""
    st = cfg.static
    for i in range(0, len(st), STATIC_REC):
        if same(st, i, buf, off, 6):
            return i // STATIC_REC
    return -1


def static_slot(cfg, k):
    """The pool slot of static host k."""
    return cfg.static[k * STATIC_REC + _STATIC_SLOT]


def static_slots(cfg):
    return [cfg.static[i + _STATIC_SLOT] for i in range(0, len(cfg.static), STATIC_REC)]


def static_index_of_slot(cfg, slot):
    """Index of the static host reserved on `slot`, or -1."""
    st = cfg.static
    for i in range(0, len(st), STATIC_REC):
        if st[i + _STATIC_SLOT] == slot:
            return i // STATIC_REC
    return -1


def add_static(cfg, mac, slot, name, opts, field="static"):
    if find_static(cfg, mac, 0) >= 0:
        _fail(field + ".mac", "reserved twice")
    if static_index_of_slot(cfg, slot) >= 0:
        _fail(field + ".address", "reserved twice")
    cfg.static += mac + bytes((slot,))
    cfg.static_options.append(opts or None)
    cfg.static_names.append(name)


def remove_static(cfg, mac):
    """Drop the static host with this MAC; its index, or -1."""
    k = find_static(cfg, mac, 0)
    if k >= 0:
        i = k * STATIC_REC
        cfg.static[i : i + STATIC_REC] = b""
        cfg.static_options.pop(k)
        cfg.static_names.pop(k)
    return k


def clean_name(text):
    for c in text:
        if not ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c == "-"):
            return False
    return True


class Klass:
    """A class of clients: matched by MAC prefix or vendor class (60)
    prefix; it may add options and confine its members to a sub-range
    [lo, hi] of pool slots."""

    def __init__(self, name, by_vendor, pattern, options, lo, hi):
        self.name = name
        self.by_vendor = by_vendor
        self.pattern = pattern
        self.options = options
        self.lo = lo
        self.hi = hi


def _classes(items, cfg):
    if not isinstance(items, list):
        _fail("classes", "expected a list")
    out = []
    start = ip_int(cfg.pool_start)
    for i, item in enumerate(items):
        field = "classes[%d]" % i
        if not isinstance(item, dict):
            _fail(field, "expected an object with name and mac_prefix or vendor_class")
        for k in item:
            if k not in ("name", "mac_prefix", "vendor_class", "options", "pool_start", "pool_end", "next_server", "boot_file"):
                _fail("%s.%s" % (field, k), "unknown field")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            _fail(field + ".name", "expected a non-empty string")
        if ("mac_prefix" in item) == ("vendor_class" in item):
            _fail(field, "give exactly one of mac_prefix and vendor_class")
        if "mac_prefix" in item:
            text = item["mac_prefix"]
            pattern = parse_prefix(text, field + ".mac_prefix")
            by_vendor = False
        else:
            v = item["vendor_class"]
            if not isinstance(v, str) or not 0 < len(v) <= 255:
                _fail(field + ".vendor_class", "expected a non-empty string (a prefix of option 60)")
            pattern = v.encode()
            by_vendor = True
        opts = options_blob(item.get("options", {}), field + ".options")
        opts += _boot_options(item, field, opts)
        lo, hi = 0, cfg.pool_size - 1
        if ("pool_start" in item) != ("pool_end" in item):
            _fail(field, "give both pool_start and pool_end, or neither")
        if "pool_start" in item:
            lo = ip_int(parse_ip(item["pool_start"], field + ".pool_start")) - start
            hi = ip_int(parse_ip(item["pool_end"], field + ".pool_end")) - start
            if not 0 <= lo < cfg.pool_size:
                _fail(field + ".pool_start", "must be inside the pool")
            if not lo <= hi < cfg.pool_size:
                _fail(field + ".pool_end", "must be inside the pool, not before pool_start")
        out.append(Klass(name, by_vendor, pattern, opts or None, lo, hi))
    return out


def parse(d):
    return Config(d)


def parse_servers(d):
    """A list of Configs: one per entry of "servers" (several pools or
    interfaces served by one process), else the single config."""
    if isinstance(d, dict) and "servers" in d:
        items = d["servers"]
        for k in d:
            if k != "servers":
                _fail(k, "not allowed beside servers (put it in each entry)")
        if not isinstance(items, list) or not items:
            _fail("servers", "expected a non-empty list of configs")
        out = []
        files = []
        for i, item in enumerate(items):
            try:
                c = Config(item)
            except ConfigError as e:
                raise ConfigError("servers[%d].%s" % (i, e))
            if c.lease_file and c.lease_file in files:
                _fail("servers[%d].lease_file" % i, "shared with another server")
            files.append(c.lease_file)
            out.append(c)
        # The runners share one set of reply buffers: size it for them all.
        size = max(c.reply_size for c in out)
        for c in out:
            c.reply_size = size
        return out
    return [Config(d)]


def load(path):
    """The Config in a JSON file (a single server; see load_servers)."""
    cfgs = load_servers(path)
    if len(cfgs) != 1:
        _fail("servers", "this entry point runs one server; use runner.main for several")
    return cfgs[0]


def load_servers(path):
    import json

    try:
        with open(path) as f:
            d = json.load(f)
    except OSError as e:
        raise ConfigError("config: cannot read %s (%s)" % (path, e))
    except ValueError as e:
        raise ConfigError("config: %s is not valid JSON (%s)" % (path, e))
    return parse_servers(d)

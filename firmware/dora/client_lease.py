# The lease as the application sees it (dora.client_runner hands it to
# apply() and to the listeners): text addresses, times in seconds relative to
# the grant, every option of the ACK in `options` ({code: bytes}) and the
# common ones decoded.  Made once per grant that changed something: never on
# the packet path.

from . import dhcp as D
from .fields import ip_text, printable

_OPT_MTU = 26
_OPT_NTP = 42
_OPT_CAPTIVE_PORTAL = 114  # RFC 8910


class Lease:
    def __init__(self, address, server, lease_time, opts, rapid=False):
        self.address = address
        self.server = server
        self.lease_time = lease_time
        self.rapid = rapid
        o = {}
        i = 0
        while i + 1 < len(opts):
            c = opts[i]
            n = opts[i + 1]
            if c not in o:
                o[c] = bytes(opts[i + 2 : i + 2 + n])
            i += 2 + n
        self.options = o
        self.netmask = _ips(o.get(D.OPT_SUBNET_MASK), 1) or "255.255.255.0"
        self.prefix_len = _prefix(o.get(D.OPT_SUBNET_MASK))
        self.routers = _ips(o.get(D.OPT_ROUTER))
        self.router = self.routers[0] if self.routers else None
        self.dns = _ips(o.get(D.OPT_DNS))
        self.ntp = _ips(o.get(_OPT_NTP))
        self.domain = _str(o.get(D.OPT_DOMAIN))
        self.hostname = _str(o.get(D.OPT_HOSTNAME))
        self.broadcast = _ips(o.get(D.OPT_BROADCAST), 1)
        self.captive_portal = _str(o.get(_OPT_CAPTIVE_PORTAL))
        self.mtu = _u32(o.get(_OPT_MTU))
        self.t1 = _u32(o.get(D.OPT_RENEWAL_TIME)) or lease_time // 2
        self.t2 = _u32(o.get(D.OPT_REBINDING_TIME)) or lease_time - lease_time // 8

    def __repr__(self):
        return "<Lease %s/%d from %s %ds router %s dns %s>" % (
            self.address, self.prefix_len, self.server, self.lease_time, self.router, ",".join(self.dns))


def _ips(v, single=0):
    if not v or len(v) % 4:
        return None if single else []
    out = [ip_text(v, i) for i in range(0, len(v), 4)]
    return out[0] if single else out


def _prefix(v):
    if not v or len(v) != 4:
        return 24
    n = 0
    for b in v:
        while b & 0x80:
            n += 1
            b = (b << 1) & 0xFF
    return n


def _str(v):
    return printable(v, 0, len(v)) if v else None


def _u32(v):
    return D.u32(v, 0) if v and len(v) == 4 else 0

# Inspection and control of the running server(s) from the REPL, without a
# restart (tools/dora_ctl.py runs these over `mpremote exec`):
#
#   import dora.control as ctl
#   ctl.show()                              print the lease table(s)
#   ctl.leases()                            [(address, client, state, left, hostname)]
#   ctl.revoke("192.168.4.17")              or a MAC: end that lease now
#   ctl.add_static("aa:bb:cc:dd:ee:ff", "192.168.4.40", hostname="cam1",
#                  options={"114": "http://192.168.4.1/"})
#   ctl.remove_static("aa:bb:cc:dd:ee:ff")
#
# Every Runner joins dora.runner.running when it opens and leaves when it stops;
# with several servers ("servers" config) a call goes to the one whose pool
# holds the address, or to all for a MAC.  Static hosts added here live
# until the next restart: the config file stays the source of truth.
# Nothing here runs in the packet path.

from . import admin as A
from . import config as C
from . import leases as L
from .fields import ConfigError, ip_text, parse_ip, parse_mac
from .runner import running as _runners


def runners():
    return list(_runners)


def _need():
    if not _runners:
        raise RuntimeError("dora is not running")
    return _runners


def leases():
    rows = []
    for r in _need():
        rows.extend(A.leases(r))
    return rows


def show():
    for r in _need():
        print(A.table_text(r))


def stats():
    return [A.stats_text(r) for r in _need()]


def _slot(runner, text):
    """Pool slot named by an address or a MAC in this runner, or -1."""
    if text.count(".") == 3:
        ip = parse_ip(text, "address")
        return runner.server.pool.slot_of(ip, 0)
    mac = parse_mac(text, "mac")
    key = bytearray(L.KEY_LEN)
    key[0:6] = mac
    return runner.server.table.find(L.KEY_MAC, key)


def revoke(mac_or_ip):
    """End a lease now (its renewal is then NAKed); True when one ended."""
    done = False
    for r in _need():
        slot = _slot(r, mac_or_ip)
        if slot >= 0 and A.revoke(r, slot):
            done = True
    return done


def _runner_for(ip):
    for r in _need():
        if r.server.pool.slot_of(ip, 0) >= 0:
            return r
    raise ConfigError("address: %s is in no pool served" % ip_text(ip))


def add_static(mac, address, hostname=None, options=None):
    """Reserve `address` for `mac` now.  A dynamic lease another client holds
    on that address is revoked; the host's own old lease elsewhere is too."""
    r = _runner_for(parse_ip(address, "address"))
    item = {"mac": mac, "address": address}
    if hostname is not None:
        item["hostname"] = hostname
    if options:
        item["options"] = options
    cfg = r.cfg
    m, slot, name, opts = C.static_host(item, cfg, "static")
    C.add_static(cfg, m, slot, name, opts)
    t = r.server.table
    key = bytearray(L.KEY_LEN)
    key[0:6] = m
    if not t.key_is(slot, L.KEY_MAC, key):
        A.revoke(r, slot)
        other = t.find(L.KEY_MAC, key)
        if other >= 0:
            A.revoke(r, other)
    r.server.reserve()
    r.log("static host added: %s %s" % (mac, address))
    return True


def remove_static(mac):
    """Drop a static host (its current lease runs on until it ends)."""
    m = parse_mac(mac, "mac")
    done = False
    for r in _need():
        if C.remove_static(r.cfg, m) >= 0:
            r.server.reserve()
            r.log("static host removed: %s" % mac)
            done = True
    return done

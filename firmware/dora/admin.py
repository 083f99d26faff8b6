# What a person asks of a running server, apart from serving: the lease
# listing, the log lines of events, revoking a lease, the expiry sweep, the
# status and totals lines.  dora.runner imports this module the first time
# it needs one of these (a log line, a listener, dora.control): a quiet
# server without listeners never loads it.  Nothing here is on the packet
# path; everything here may allocate.

from . import compat
from . import config as C
from . import dhcp as D
from . import leases as L
from . import server as S
from .fields import hex_text, ip_text, mac_text
from .store import reason as store_reason


def hostname(r, slot):
    """The name the client sent (option 12), else its static host name."""
    names = r.server.names
    name = names.get(slot) if names is not None else ""
    if not name:
        k = C.static_index_of_slot(r.cfg, slot)
        if k >= 0:
            return r.cfg.static_names[k] or ""
    return name


def describe_slot(r, slot):
    return "%s %s" % (r.server.pool.ip_text(slot), r.server.table.key_text(slot))


def describe(r, event, slot, rapid=False):
    """The log line of an event.  Without a slot (NAK, INFORM-ACK) it names
    the request just handled: the address it asked about and the client."""
    name = S.EVENT_NAMES[event]
    if slot < 0:
        return "%s %s" % (name, describe_request(r))
    line = "%s %s" % (name, describe_slot(r, slot))
    cfg = r.cfg
    if event in (S.EV_ACK, S.EV_RENEW, S.EV_OFFER):
        line += " %ds" % (cfg.lease_time if event != S.EV_OFFER else cfg.offer_hold)
    if event == S.EV_ACK and rapid:
        line += " rapid-commit"
    if event == S.EV_ACK or event == S.EV_RENEW:
        name = hostname(r, slot)
        if name:
            line += " " + name  # the client's option 12, sanitised
    return line


def describe_request(r):
    """The address the last request named (option 50, else ciaddr) and its
    client: the MAC, and the key the lease table would file it under when
    that is a client identifier."""
    srv = r.server
    msg = srv.msg
    ip = bytearray(4)
    if not msg.opt_ip(D.OPT_REQUESTED_IP, ip, 0):
        D.copy(ip, 0, msg.buf, D.OFF_CIADDR, 4)
    line = mac_text(msg.buf, D.OFF_CHADDR)
    if ip != b"\0\0\0\0":
        line = ip_text(ip) + " " + line
    if srv.kind == L.KEY_CLIENT_ID:
        line += " id:" + hex_text(srv.key, 0, L.KEY_LEN)
    return line


def _event(r, kind, slot, vendor=""):
    """A dora.events.LeaseEvent for `slot`."""
    from .events import LeaseEvent

    t = r.server.table
    mac = t.key_text(slot) if t.kind(slot) == L.KEY_MAC else ""
    return LeaseEvent(kind, slot, mac, r.server.pool.ip_text(slot), hostname(r, slot), vendor)


def server_event(r, event, slot, vendor):
    """The LeaseEvent of a dora.server event (EV_ACK, EV_RENEW, EV_RELEASE,
    EV_DECLINE) for `slot`."""
    from . import events as E

    if event == S.EV_ACK:
        kind = E.GRANTED
    elif event == S.EV_RENEW:
        kind = E.RENEWED
    elif event == S.EV_RELEASE:
        kind = E.RELEASED
    else:
        kind = E.DECLINED
    return _event(r, kind, slot, vendor)


def sweep(r, now):
    """Report leases that expired since the last sweep (housekeeping calls
    this; an expiry has no packet to trigger it)."""
    from .events import EXPIRED

    t = r.server.table
    for slot in range(t.capacity):
        if L.bit(r.bound, slot) and t.state(slot, now) != L.BOUND:
            L.clear_bit(r.bound, slot)
            # A record without a key was given up when its client moved to
            # another address (that move was reported): nothing expired.
            if t.kind(slot) != L.KEY_NONE:
                if r.verbose:
                    r.log("EXPIRED %s" % describe_slot(r, slot))
                if r.listeners:
                    r.deliver(_event(r, EXPIRED, slot))


def revoke(r, slot):
    """End the lease in `slot` now, dropping the client's affinity so that
    its next renewal is NAKed; on flash before this returns unless the lease
    file cannot be written now (then logged).  False: nothing to end."""
    from .events import REVOKED

    t = r.server.table
    now = r.clock.now()
    if t.state(slot, now) == L.FREE and t.kind(slot) == L.KEY_NONE:
        return False
    if r.listeners:
        r.deliver(_event(r, REVOKED, slot))
    r.log("REVOKED %s" % describe_slot(r, slot))
    t.forget(slot, now)
    L.clear_bit(r.bound, slot)
    if r.server.names is not None:
        r.server.names.clear(slot)
    if r.store:
        r.store.note(slot, 0)
        try:
            r.store.commit(now)
        except OSError as e:
            # Ended in RAM at once; on flash with the next write.
            r.log("the revocation waits for the next lease file write (%s)" % store_reason(e))
    return True


def leases(r):
    """[(address, key text, state, seconds left, hostname)] of every
    remembered slot."""
    now = r.clock.now()
    t = r.server.table
    rows = []
    for slot in range(t.capacity):
        s = t.state(slot, now)
        if s == L.FREE and t.kind(slot) == L.KEY_NONE:
            continue
        left = t.time(slot) - now if s != L.FREE else 0
        rows.append((r.server.pool.ip_text(slot), t.key_text(slot), L.STATE_NAMES[s], left, hostname(r, slot)))
    return rows


def table_text(r):
    lines = ["%-15s  %-23s  %-8s  %-8s  %s" % ("address", "client", "state", "left", "hostname")]
    for ip, key, state, left, name in leases(r):
        lines.append("%-15s  %-23s  %-8s  %-8s  %s" % (ip, key, state, "%ds" % left if left else "-", name or "-"))
    return "\n".join(lines)


def serving_text(r):
    cfg = r.cfg
    pool = r.server.pool
    return "serving %s port %d pool %s-%s (%d addresses), lease %ds, lease file %s" % (
        ip_text(cfg.address),
        cfg.server_port,
        pool.ip_text(0),
        pool.ip_text(cfg.pool_size - 1),
        cfg.pool_size,
        cfg.lease_time,
        cfg.lease_file,
    )


def status_text(r, now):
    """Lease counts and (MicroPython) heap after a collection."""
    t = r.server.table
    line = "bound %d, offered %d, declined %d, free %d" % (
        t.count(L.BOUND, now),
        t.count(L.OFFERED, now),
        t.count(L.DECLINED, now),
        t.count(L.FREE, now),
    )
    if compat.MICROPYTHON:
        import gc

        line += ", heap alloc %d free %d" % (gc.mem_alloc(), gc.mem_free())
    return line


def stats_text(r):
    s = r.server.stats
    line = (
        "received %d, offers %d, acks %d, renewals %d, naks %d, releases %d, declines %d, informs %d, "
        "malformed %d, ignored %d, exhausted %d, refused %d, rate-limited %d, journal-full %d, options cut %d, "
        "bad echoes %d, untrusted relays %d, errors %d"
    ) % (
        s.received,
        s.offers,
        s.acks,
        s.renewals,
        s.naks,
        s.releases,
        s.declines,
        s.informs,
        s.malformed,
        s.ignored,
        s.exhausted,
        s.refused,
        s.rate_limited,
        s.journal_full,
        s.options_cut,
        s.bad_echoes,
        s.untrusted_relays,
        r.errors,
    )
    line += ", unicasts withheld %d, broadcast instead %d" % (r.unicast_withheld, r.unicast_broadcast)
    if r.store:
        line += ", lease file writes %d (%d bytes, %d compactions)" % (
            r.store.writes,
            r.store.bytes_written,
            r.store.compactions,
        )
    return line

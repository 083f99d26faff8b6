# Lease events for applications: the hook for provisioning flows (push a
# config to a new device, light an LED, log to a console).  Both runners
# (dora.udp.Edge) take listeners the same way:
#
#   runner.on_event(fn)          fn(ev) is called for every lease event
#   q = runner.events()          an awaitable queue:  ev = await q.get()
#
# The server's events are LeaseEvents; the client's are ClientEvents
# (ev.kind, one of dora.client.EVENT_NAMES, and ev.lease).
#
# A server event's kind is one of GRANTED, RENEWED, RELEASED, DECLINED, EXPIRED, REVOKED;
# ev.mac, ev.address, ev.hostname and ev.vendor_class are strings ("" when
# unknown: a lease keyed by a client id has no MAC in the table, and an
# expiry has no packet, hence no vendor class).
#
# Events are built by the runner after the reply has left, never in the
# packet path: a LeaseEvent (a few small strings) is allocated only when a
# listener is registered (this module is only loaded then).  Expiry has no
# packet: the runner's housekeeping sweeps the table every few seconds and
# reports what ran out (dora.admin.sweep).

from .compat import asyncio

GRANTED = "granted"
RENEWED = "renewed"
RELEASED = "released"
DECLINED = "declined"
EXPIRED = "expired"
REVOKED = "revoked"


class LeaseEvent:
    def __init__(self, kind, slot, mac, address, hostname, vendor_class):
        self.kind = kind
        self.slot = slot
        self.mac = mac
        self.address = address
        self.hostname = hostname
        self.vendor_class = vendor_class

    def __repr__(self):
        return "<%s %s %s %s %s>" % (self.kind, self.address, self.mac, self.hostname or "-", self.vendor_class or "-")


class ClientEvent:
    """What happened to the client's lease: ev.kind ("bound", "renewed",
    "rebound", "expired", "nak", "declined", "released", "reboot-failed")
    and ev.lease (a dora.client_lease.Lease, or None)."""

    def __init__(self, kind, lease):
        self.kind = kind
        self.lease = lease

    def __repr__(self):
        return "<%s %r>" % (self.kind, self.lease)


class EventQueue:
    """A bounded queue of events for a task to await.  When the consumer
    falls behind, the oldest event is dropped (and counted in `lost`):
    the server never waits for the application."""

    def __init__(self, size=8):
        self.size = size
        self.items = []
        self.lost = 0
        self.flag = asyncio.Event()

    def __call__(self, ev):
        if len(self.items) >= self.size:
            self.items.pop(0)
            self.lost += 1
        self.items.append(ev)
        self.flag.set()

    async def get(self):
        while not self.items:
            self.flag.clear()
            await self.flag.wait()
        return self.items.pop(0)

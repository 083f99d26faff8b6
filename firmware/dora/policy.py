# Who may get an address: policies for isolated networks.
#
#   allow                 MACs or OUI prefixes ("aa:bb:cc") served; empty = everyone
#   deny                  MACs or OUI prefixes never served (checked first)
#   ignore_unknown        serve static hosts only
#   max_offers_per_minute OFFERs one MAC may get per minute (0 = no cap): a
#                         DISCOVER flood from one MAC cannot churn the pool
#
# Lists are compiled at start-up (dora.config.mac_list) into one bytes object
# of 7-byte entries (prefix length, 6 MAC bytes) and scanned in place; the offer counter is a
# fixed table: nothing here allocates per packet.

from .compat import const
from .dhcp import same

_ENTRY = const(7)
_RATE_SLOTS = const(32)  # MACs tracked at once by the offer cap
_RATE_REC = const(10)  # MAC (6), minute (2, wraps), count (2)


def matches(entries, buf, off):
    """True when the MAC at buf[off:off+6] matches an entry."""
    for i in range(0, len(entries), _ENTRY):
        if same(entries, i + 1, buf, off, entries[i]):
            return True
    return False


class Policy:
    def __init__(self, cfg):
        self.allow = cfg.allow
        self.deny = cfg.deny
        self.ignore_unknown = cfg.ignore_unknown
        self.cap = cfg.max_offers_per_minute
        self.rates = bytearray(_RATE_SLOTS * _RATE_REC) if self.cap else None

    def admits(self, buf, off, is_static):
        """May the client with MAC buf[off:off+6] be served at all?"""
        if self.deny and matches(self.deny, buf, off):
            return False
        if self.allow and not matches(self.allow, buf, off) and not is_static:
            return False
        if self.ignore_unknown and not is_static:
            return False
        return True

    def may_offer(self, buf, off, now):
        """Count an OFFER for this MAC; False once it had `cap` this minute."""
        if not self.cap:
            return True
        r = self.rates
        minute = (now // 60) & 0xFFFF
        victim = 0
        victim_age = -1
        for slot in range(_RATE_SLOTS):
            i = slot * _RATE_REC
            seen = (r[i + 6] << 8) | r[i + 7]
            if same(r, i, buf, off, 6):
                n = (r[i + 8] << 8) | r[i + 9]
                if seen != minute:
                    n = 0  # a new minute: the count starts again
                if n >= self.cap:
                    return False
                self._put(i, buf, off, minute, n + 1)
                return True
            age = (minute - seen) & 0xFFFF
            if age > victim_age:
                victim, victim_age = slot, age
        # Not tracked yet: take over the slot left alone the longest.
        self._put(victim * _RATE_REC, buf, off, minute, 1)
        return True

    def _put(self, i, buf, off, minute, count):
        r = self.rates
        for j in range(6):
            r[i + j] = buf[off + j]
        r[i + 6] = minute >> 8
        r[i + 7] = minute & 0xFF
        r[i + 8] = count >> 8
        r[i + 9] = count & 0xFF

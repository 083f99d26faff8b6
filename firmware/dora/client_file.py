# The client's lease file: what INIT-REBOOT asks for after a restart.
#
# Written when a binding changes (bound, rebound) and removed when it ends
# (expired, nak, declined, released); renewals write nothing.  Written to a
# temporary file, then renamed over the old one: a power cut leaves the old
# file or the new one, never a torn one.  The boards have no battery-backed
# clock, so the file holds no absolute times.  Format (big-endian):
#   "DCL" version(1) | address(4) | server(4) | lease_time(4) | n(2) |
#   options(n: the ACK's TLVs) | CRC-16/CCITT of all before (2)

from . import compat
from . import dhcp as D

_MAGIC = b"DCL"
_VERSION = 1
_HEAD = 18  # bytes before the options
_MOST = 1024  # bytes read at most: a longer file is not one of ours


def encode(c):
    """The file's bytes for the lease a dora.client.Client holds."""
    n = c.opts_len
    b = bytearray(_HEAD + n + 2)
    b[0:3] = _MAGIC
    b[3] = _VERSION
    D.copy(b, 4, c.addr, 0, 4)
    D.copy(b, 8, c.server, 0, 4)
    D.put_u32(b, 12, c.lease_time)
    b[16] = n >> 8
    b[17] = n & 0xFF
    D.copy(b, _HEAD, c.opts, 0, n)
    crc = D.crc16(b, 0, _HEAD + n)
    b[_HEAD + n] = crc >> 8
    b[_HEAD + n + 1] = crc & 0xFF
    return b


def decode(b):
    """(address, server, lease_time, options) from a file's bytes, or None
    when they are not a whole, intact lease file."""
    if len(b) < _HEAD + 2 or bytes(b[0:3]) != _MAGIC or b[3] != _VERSION:
        return None
    n = (b[16] << 8) | b[17]
    if len(b) != _HEAD + n + 2 or D.crc16(b, 0, _HEAD + n) != (b[_HEAD + n] << 8) | b[_HEAD + n + 1]:
        return None
    return bytes(b[4:8]), bytes(b[8:12]), D.u32(b, 12), bytes(b[_HEAD : _HEAD + n])


def read(path, log):
    """decode() of the file at `path`; None when there is none or it is
    damaged (logged: it is then ignored)."""
    try:
        with open(path, "rb") as f:
            b = f.read(_MOST)
    except OSError:
        return None
    got = decode(b)
    if got is None:
        log("lease file %s is not valid: ignored" % path)
    return got


def write(path, c):
    """Replace the file with the client's lease; raises OSError."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(encode(c))
        compat.fsync(f)
    compat.rename(tmp, path)


def remove(path):
    compat.remove(path)

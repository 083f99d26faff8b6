# Field helpers shared by the server's config, the client's config, the board
# code and dora.control: parsing the text forms a person writes (addresses,
# MACs, prefixes) into bytes, and bytes back into text for logs.  Nothing
# here runs in the packet path: every function may allocate.
#
# A parse error is a ConfigError whose text starts with the field's name:
# "pool_end: '192.168.4.300' is not an IPv4 address".


class ConfigError(ValueError):
    """A bad setting: "<field>: <what is wrong>"."""


def fail(field, what):
    raise ConfigError("%s: %s" % (field, what))


def parse_ip(text, field):
    """4 bytes of a dotted-quad address."""
    if not isinstance(text, str):
        fail(field, "expected an address like 192.168.4.1, got %r" % (text,))
    parts = text.split(".")
    if len(parts) == 4:
        out = bytearray(4)
        for i in range(4):
            p = parts[i]
            if not p.isdigit() or int(p) > 255:
                break
            out[i] = int(p)
        else:
            return bytes(out)
    fail(field, "%r is not an IPv4 address" % (text,))


def _hex_pairs(text):
    """Bytes of hex pairs separated by ':' or '-' ("aa:bb:cc"), or None."""
    if not isinstance(text, str):
        return None
    parts = text.replace("-", ":").split(":")
    try:
        out = bytes(int(p, 16) for p in parts if len(p) == 2)
    except ValueError:
        return None
    return out if len(out) == len(parts) <= 6 else None


def parse_mac(text, field):
    """6 bytes of a MAC address "aa:bb:cc:dd:ee:ff"."""
    b = _hex_pairs(text)
    if b is None or len(b) != 6:
        fail(field, "%r is not a MAC address like aa:bb:cc:dd:ee:ff" % (text,))
    return b


def parse_prefix(text, field):
    """1 to 6 bytes of a MAC or a MAC prefix ("aa:bb:cc", an OUI): the one
    syntax of allow, deny and classes' mac_prefix."""
    b = _hex_pairs(text)
    if not b:
        fail(field, "%r is not a MAC or prefix like aa:bb:cc" % (text,))
    return b


def ip_int(b):
    """The address in b[0:4] as an int (a heap int from 64.0.0.0 on a
    32-bit board: configuration arithmetic only)."""
    return (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]


def int_ip(v):
    """4 bytes of a 32-bit value, big-endian."""
    return bytes(((v >> 24) & 255, (v >> 16) & 255, (v >> 8) & 255, v & 255))


def ip_text(buf, off=0):
    """Dotted-quad text of the 4 bytes at buf[off]."""
    return "%d.%d.%d.%d" % (buf[off], buf[off + 1], buf[off + 2], buf[off + 3])


def mac_text(buf, off=0):
    return ":".join("%02x" % buf[off + j] for j in range(6))


def hex_text(buf, off, n):
    return "".join("%02x" % buf[off + j] for j in range(n))


def printable(buf, off, n):
    """Text of buf[off:off+n] with every byte outside ASCII 32-126 as '?'."""
    return "".join(chr(c) if 32 <= c < 127 else "?" for c in bytes(buf[off : off + n]))


def port(v, field):
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 65535:
        fail(field, "expected a port from 1 to 65535, got %r" % (v,))
    return v


def boolean(d, field):
    if not isinstance(d[field], bool):
        fail(field, "expected true or false")
    return d[field]

# Builds DHCP client messages for the tests (both interpreters).  Test code,
# not firmware: it allocates freely.

OPT_END = 255


def mac(i):
    """A locally administered MAC derived from an integer."""
    return bytes((0x02, 0x00, (i >> 24) & 255, (i >> 16) & 255, (i >> 8) & 255, i & 255))


def ip(text):
    return bytes(int(p) for p in text.split("."))


def request(
    msg_type,
    chaddr,
    xid=0x12345678,
    ciaddr=b"\0\0\0\0",
    giaddr=b"\0\0\0\0",
    options=(),
    flags=0,
    op=1,
    htype=1,
    hlen=6,
    cookie=b"\x63\x82\x53\x63",
    end=True,
    pad_to=300,
):
    """A BOOTREQUEST with option 53 = msg_type (unless msg_type is None)
    followed by `options`, a sequence of (code, bytes)."""
    b = bytearray(236)
    b[0] = op
    b[1] = htype
    b[2] = hlen
    b[4:8] = bytes(((xid >> 24) & 255, (xid >> 16) & 255, (xid >> 8) & 255, xid & 255))
    b[10] = (flags >> 8) & 255
    b[11] = flags & 255
    b[12:16] = ciaddr
    b[24:28] = giaddr
    b[28 : 28 + len(chaddr)] = chaddr
    b += cookie
    if msg_type is not None:
        b += bytes((53, 1, msg_type))
    for code, value in options:
        b += bytes((code, len(value))) + value
    if end:
        b.append(OPT_END)
    while len(b) < pad_to:
        b.append(0)
    return bytes(b)


def options(buf, n=None):
    """{code: bytes} of a message's options (first instance wins)."""
    n = len(buf) if n is None else n
    out = {}
    i = 240
    while i < n:
        c = buf[i]
        if c == 255:
            break
        if c == 0:
            i += 1
            continue
        ln = buf[i + 1]
        if c not in out:
            out[c] = bytes(buf[i + 2 : i + 2 + ln])
        i += 2 + ln
    return out


def yiaddr(buf):
    return "%d.%d.%d.%d" % (buf[16], buf[17], buf[18], buf[19])

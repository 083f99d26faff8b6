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
    """{code: bytes} of a message's options (first instance wins), read as
    a client does: `options`, then `file` and `sname` when option 52 says
    they carry options too (RFC 2131 4.1)."""
    n = len(buf) if n is None else n
    out = {}
    _scan(buf, 240, n, out)
    over = out.get(52)
    if over is not None and len(over) == 1:
        if over[0] & 1:
            _scan(buf, 108, 236, out)
        if over[0] & 2:
            _scan(buf, 44, 108, out)
    return out


def _scan(buf, i, end, out):
    while i < end:
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


def cstring(buf, off, size):
    """The NUL-terminated text in buf[off:off+size] (sname, file)."""
    b = bytes(buf[off : off + size])
    end = b.find(b"\0")
    return b if end < 0 else b[:end]


def yiaddr(buf):
    return "%d.%d.%d.%d" % (buf[16], buf[17], buf[18], buf[19])


def reply(
    msg_type,
    chaddr,
    xid,
    yiaddr=b"\0\0\0\0",
    server_id=b"\xc0\xa8\x04\x01",
    options=(),
    ciaddr=b"\0\0\0\0",
    flags=0,
    pad_to=300,
):
    """A BOOTREPLY (what a server sends a client): option 53 = msg_type, 54 =
    server_id (unless None), then `options`, a sequence of (code, bytes).
    `xid` is 4 bytes (the client's, as it sent them)."""
    b = bytearray(236)
    b[0] = 2
    b[1] = 1
    b[2] = 6
    b[4:8] = bytes(xid)
    b[10] = (flags >> 8) & 255
    b[11] = flags & 255
    b[12:16] = ciaddr
    b[16:20] = yiaddr
    b[28 : 28 + len(chaddr)] = chaddr
    b += b"\x63\x82\x53\x63"
    b += bytes((53, 1, msg_type))
    if server_id is not None:
        b += bytes((54, 4)) + server_id
    for code, value in options:
        b += bytes((code, len(value))) + value
    b.append(OPT_END)
    while len(b) < pad_to:
        b.append(0)
    return bytes(b)


def u32(v):
    return bytes(((v >> 24) & 255, (v >> 16) & 255, (v >> 8) & 255, v & 255))


def lease_options(lease=3600, t1=None, t2=None, mask="255.255.255.0", router="192.168.4.1"):
    """The options of a typical ACK or OFFER."""
    opts = [(51, u32(lease)), (1, ip(mask)), (3, ip(router)), (6, ip(router))]
    if t1 is not None:
        opts.append((58, u32(t1)))
    if t2 is not None:
        opts.append((59, u32(t2)))
    return opts

# Byte-block moves for the packet path, compiled to machine code by
# MicroPython's viper emitter (see dora.leases for the emitter and the
# .mpy rules).  A Python loop costs about a thousand cycles per byte on the
# RP2040's Cortex-M0+, so every per-byte loop of a reply (zeroing the
# header, copying options) lives here; on CPython the decorator and ptr8
# are no-ops and these run as Python.
#
# Viper does not check bounds: each function checks its ranges before it
# touches a byte and raises IndexError, as indexing would.  None of them
# allocates.  TLV blobs are runs of options (code, length, value), as
# config.options_blob.

from .compat import const, micropython, ptr8, ptr16

_MASK = const(1)  # the subnet mask: sent whether asked for or not
_PAD = const(0)
_END = const(255)
_HEADER = const(240)  # the fixed header and the magic cookie


@micropython.viper
def move(dst, doff: int, src, soff: int, n: int):
    """dst[doff:doff+n] = src[soff:soff+n], front to back."""
    if n <= 0:
        return
    if doff < 0 or soff < 0 or doff + n > int(len(dst)) or soff + n > int(len(src)):
        raise IndexError
    d = ptr8(dst)
    s = ptr8(src)
    i = 0
    while i < n:
        d[doff + i] = s[soff + i]
        i += 1


@micropython.viper
def fill(dst, off: int, n: int, value: int):
    """dst[off:off+n] = value, each byte."""
    if n <= 0:
        return
    if off < 0 or off + n > int(len(dst)):
        raise IndexError
    d = ptr8(dst)
    i = 0
    while i < n:
        d[off + i] = value
        i += 1


@micropython.viper
def equal(a, aoff: int, b, boff: int, n: int) -> bool:
    """a[aoff:aoff+n] == b[boff:boff+n]."""
    if n <= 0:
        return True
    if aoff < 0 or boff < 0 or aoff + n > int(len(a)) or boff + n > int(len(b)):
        raise IndexError
    x = ptr8(a)
    y = ptr8(b)
    i = 0
    while i < n:
        if x[aoff + i] != y[boff + i]:
            return False
        i += 1
    return True


@micropython.viper
def find(blob, code: int) -> int:
    """Offset of option `code` in a TLV blob, or -1 (a cut last option
    counts as absent)."""
    b = ptr8(blob)
    end = int(len(blob))
    i = 0
    while i + 1 < end:
        if int(b[i]) == code:
            return i
        i += 2 + int(b[i + 1])
    return -1


@micropython.viper
def pick(out, at: int, end: int, blob, req, roff: int, rlen: int, given1, given2) -> int:
    """Copy into out from `at` the options of `blob` the client asked for:
    the codes at req[roff:roff+rlen] (its option 55; rlen < 0: no list, all
    of them), the subnet mask always, but none whose code is in the blobs
    given1 or given2 (more specific values, written elsewhere).  Returns the
    offset after the last one, or -1 when they do not all fit below `end`
    (out is then written past `at` but nothing is counted as done)."""
    n = int(len(blob))
    if at < 0 or end > int(len(out)) or (rlen > 0 and (roff < 0 or roff + rlen > int(len(req)))):
        raise IndexError
    o = ptr8(out)
    b = ptr8(blob)
    r = ptr8(req)
    g1 = ptr8(given1)
    n1 = int(len(given1))
    g2 = ptr8(given2)
    n2 = int(len(given2))
    i = 0
    while i + 1 < n:
        code = int(b[i])
        size = 2 + int(b[i + 1])
        if i + size > n:
            break  # a cut last option: not sent
        wanted = code == _MASK or rlen < 0
        j = 0
        while not wanted and j < rlen:
            if int(r[roff + j]) == code:
                wanted = True
            j += 1
        # Not when a more specific level gives this code.
        j = 0
        while wanted and j + 1 < n1:
            if int(g1[j]) == code:
                wanted = False
            j += 2 + int(g1[j + 1])
        j = 0
        while wanted and j + 1 < n2:
            if int(g2[j]) == code:
                wanted = False
            j += 2 + int(g2[j + 1])
        if wanted:
            if at + size > end:
                return -1
            k = 0
            while k < size:
                o[at + k] = b[i + k]
                k += 1
            at += size
        i += size
    return at


@micropython.viper
def reply_header(out, req):
    """A BOOTREPLY's fixed header for the request `req` in out[0:240]: all
    zero but op, htype, hlen, xid, flags, giaddr, chaddr and the cookie."""
    if int(len(out)) < _HEADER or int(len(req)) < _HEADER:
        raise IndexError
    o = ptr8(out)
    r = ptr8(req)
    i = 0
    while i < _HEADER:
        o[i] = 0
        i += 1
    o[0] = 2  # BOOTREPLY
    o[1] = 1  # Ethernet
    o[2] = 6
    i = 4  # xid
    while i < 8:
        o[i] = r[i]
        i += 1
    o[10] = r[10]  # flags
    o[11] = r[11]
    i = 24  # giaddr, then chaddr
    while i < 44:
        o[i] = r[i]
        i += 1
    o[236] = 99  # the magic cookie
    o[237] = 130
    o[238] = 83
    o[239] = 99


@micropython.viper
def scan(buf, i: int, end: int, where, seen, nseen: int) -> int:
    """Index the options in buf[i:end] (dora.dhcp.Message): where[code] =
    offset of its value + 1, for the first instance of each code, noted in
    seen[nseen:] while there is room.  Returns the new nseen, or when an
    option runs past end -1 - the new nseen (what was noted must still be
    cleared).  A missing END is tolerated."""
    if i < 0 or end > int(len(buf)) or int(len(where)) < 256:
        raise IndexError
    b = ptr8(buf)
    w = ptr16(where)
    s = ptr8(seen)
    room = int(len(seen))
    while i < end:
        code = int(b[i])
        if code == _END:
            return nseen
        if code == _PAD:
            i += 1
            continue
        if i + 1 >= end:
            return -1 - nseen
        length = int(b[i + 1])
        if i + 2 + length > end:
            return -1 - nseen
        if int(w[code]) == 0 and nseen < room:
            w[code] = i + 3
            s[nseen] = code
            nseen += 1
        i += 2 + length
    return nseen


@micropython.viper
def unscan(where, seen, nseen: int):
    """Clear the codes scan() noted: where[seen[k]] = 0 for k < nseen."""
    if nseen > int(len(seen)) or int(len(where)) < 256:
        raise IndexError
    w = ptr16(where)
    s = ptr8(seen)
    k = 0
    while k < nseen:
        w[int(s[k])] = 0
        k += 1

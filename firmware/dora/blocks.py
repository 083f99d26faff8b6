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

from .compat import const, micropython, ptr8

_MASK = const(1)  # the subnet mask: sent whether asked for or not


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

# DHCPv4 message codec (RFC 2131 section 2, RFC 2132), shared by server and
# client.  No I/O, no clock, and no allocation after construction:
#
#   msg = Message()            # once, at start-up
#   if msg.parse(buf, n): ...  # buf may be bytes or bytearray; nothing copied
#   msg.opt(CODE)              # offset of the option's value in buf, or -1
#
# Writing goes straight into a caller-owned bytearray through Writer.
#
# Fixed header (offsets): op 0, htype 1, hlen 2, hops 3, xid 4, secs 8,
# flags 10, ciaddr 12, yiaddr 16, siaddr 20, giaddr 24, chaddr 28 (16 bytes),
# sname 44 (64), file 108 (128), magic cookie 236, options 240.

from array import array

from .compat import const, micropython, ptr8
from . import blocks as B

BOOTREQUEST = const(1)
BOOTREPLY = const(2)

DISCOVER = const(1)
OFFER = const(2)
REQUEST = const(3)
DECLINE = const(4)
ACK = const(5)
NAK = const(6)
RELEASE = const(7)
INFORM = const(8)

OPT_PAD = const(0)
OPT_SUBNET_MASK = const(1)
OPT_ROUTER = const(3)
OPT_DNS = const(6)
OPT_HOSTNAME = const(12)
OPT_DOMAIN = const(15)
OPT_BROADCAST = const(28)
OPT_REQUESTED_IP = const(50)
OPT_LEASE_TIME = const(51)
OPT_OVERLOAD = const(52)
OPT_MESSAGE_TYPE = const(53)
OPT_SERVER_ID = const(54)
OPT_PARAM_LIST = const(55)
OPT_MESSAGE = const(56)
OPT_MAX_SIZE = const(57)
OPT_RENEWAL_TIME = const(58)
OPT_REBINDING_TIME = const(59)
OPT_VENDOR_CLASS = const(60)
OPT_CLIENT_ID = const(61)
OPT_TFTP_SERVER = const(66)
OPT_BOOT_FILE = const(67)
OPT_RAPID_COMMIT = const(80)
OPT_RELAY_AGENT = const(82)
OPT_END = const(255)

OFF_OP = const(0)
OFF_HTYPE = const(1)
OFF_HLEN = const(2)
OFF_HOPS = const(3)
OFF_XID = const(4)
OFF_SECS = const(8)
OFF_FLAGS = const(10)
OFF_CIADDR = const(12)
OFF_YIADDR = const(16)
OFF_SIADDR = const(20)
OFF_GIADDR = const(24)
OFF_CHADDR = const(28)
OFF_SNAME = const(44)
OFF_FILE = const(108)
OFF_COOKIE = const(236)
OFF_OPTIONS = const(240)

HEADER_LEN = const(240)
MIN_LEN = const(300)  # BOOTP minimum; replies are padded up to it
FLAG_BROADCAST = const(0x80)  # high bit of the flags field, first byte
MAX_REPLY = const(576)  # IP datagram every client must accept (RFC 2131 2.)
IP_UDP_HEADERS = const(28)  # what option 57 counts besides the DHCP message
# Largest DHCP message dora receives or sends: one Ethernet frame's payload
# (1500) less the IP and UDP headers.
MAX_MESSAGE = const(1472)
# A read that every request of usual size fits in (clients send at most 576
# bytes unless they say otherwise), for a heap too fragmented to hand out
# MAX_MESSAGE bytes in one piece.
SHORT_READ = const(600)
SEND_STEP = const(32)  # the runner sends replies padded to a multiple of this
FILE_LEN = const(128)  # the file field

_COOKIE0 = const(99)
_COOKIE1 = const(130)
_COOKIE2 = const(83)
_COOKIE3 = const(99)

# Why parse() refused a buffer, for counters and logs.
OK = const(0)
ERR_SHORT = const(1)
ERR_HEADER = const(2)
ERR_COOKIE = const(3)
ERR_OPTIONS = const(4)
ERR_TYPE = const(5)

ERROR_NAMES = ("ok", "short", "header", "cookie", "options", "type")

_MAX_SEEN = const(64)  # distinct options remembered per message


class Message:
    """A parsed view of one DHCP message.

    The option index maps each code to the offset of its first occurrence
    (RFC 3396 concatenation is not supported: the first instance counts).
    It is reset per message by clearing only the codes that were set, so a
    parse costs O(options), not O(256)."""

    def __init__(self):
        self.buf = b""
        self.n = 0
        self.error = OK
        self.type = 0
        # code -> offset of its value + 1 (0 = absent); 512 bytes, not a
        # list of 256 ints (1-2 KB)
        self._where = array("H", bytes(512))
        # The same index, for the server's packet path to read an option's
        # offset without a call (where[code] - 1 is what opt(code) returns).
        self.where = self._where
        self._seen = bytearray(_MAX_SEEN)
        self._nseen = 0

    def parse(self, buf, n, op=BOOTREQUEST):
        """Index buf[:n]; True when it is a well-formed DHCP message of `op`."""
        B.unscan(self._where, self._seen, self._nseen)
        self._nseen = 0
        self.buf = buf
        self.n = n
        self.type = 0
        if n < HEADER_LEN + 4 or n > len(buf):
            return self._fail(ERR_SHORT)
        if buf[OFF_OP] != op or buf[OFF_HTYPE] != 1 or buf[OFF_HLEN] != 6:
            return self._fail(ERR_HEADER)
        if (
            buf[OFF_COOKIE] != _COOKIE0
            or buf[OFF_COOKIE + 1] != _COOKIE1
            or buf[OFF_COOKIE + 2] != _COOKIE2
            or buf[OFF_COOKIE + 3] != _COOKIE3
        ):
            return self._fail(ERR_COOKIE)
        # _scan(OFF_OPTIONS, n), opt() and opt_len() spelt out: a call costs
        # thousands of cycles on a microcontroller.
        where = self._where
        seen = B.scan(buf, OFF_OPTIONS, n, where, self._seen, 0)
        if seen < 0:
            self._nseen = -1 - seen  # cleared by the next parse all the same
            return self._fail(ERR_OPTIONS)
        self._nseen = seen
        overload = where[OPT_OVERLOAD] - 1
        if overload >= 0 and buf[overload - 1] == 1:
            # RFC 2132 9.3: file and/or sname carry more options.
            what = buf[overload]
            if what & 1 and not self._scan(OFF_FILE, OFF_COOKIE):
                return self._fail(ERR_OPTIONS)
            if what & 2 and not self._scan(OFF_SNAME, OFF_FILE):
                return self._fail(ERR_OPTIONS)
        t = where[OPT_MESSAGE_TYPE] - 1
        if t < 0 or buf[t - 1] != 1 or not 1 <= buf[t] <= 8:
            return self._fail(ERR_TYPE)
        self.type = buf[t]
        self.error = OK
        return True

    def _fail(self, why):
        self.error = why
        return False

    def _scan(self, i, end):
        # In viper (dora.blocks): a Python loop per option costs too much
        # on a microcontroller.  A missing END is tolerated (some clients
        # end with padding only).
        n = B.scan(self.buf, i, end, self._where, self._seen, self._nseen)
        if n < 0:
            self._nseen = -1 - n  # cleared by the next parse all the same
            return False
        self._nseen = n
        return True

    def opt(self, code):
        """Offset of option `code`'s value in buf, or -1 when absent."""
        return self._where[code] - 1

    def opt_len(self, code):
        w = self._where[code]
        return self.buf[w - 2] if w else -1

    def opt_ip(self, code, out, off):
        """Copy a 4-byte option into out[off:off+4]; False if absent/wrong."""
        w = self._where[code] - 1
        if w < 0 or self.buf[w - 1] != 4:
            return False
        B.move(out, off, self.buf, w, 4)
        return True

    def opt_u16(self, code, default):
        w = self._where[code] - 1
        if w < 0 or self.buf[w - 1] != 2:
            return default
        return (self.buf[w] << 8) | self.buf[w + 1]

    def wants(self, code):
        """True when the parameter request list (55) asks for `code`, or when
        the client sent no list at all."""
        w = self._where[OPT_PARAM_LIST] - 1
        if w < 0:
            return True
        buf = self.buf
        for i in range(w, w + buf[w - 1]):
            if buf[i] == code:
                return True
        return False

    def max_reply(self, cap):
        """Largest DHCP message this client accepts, at most `cap` (our
        reply buffer) and one Ethernet frame.  Option 57 counts the IP and
        UDP headers and is never below 576 (RFC 2132 9.10); without it, 576
        (RFC 2131 2.)."""
        w = self._where[OPT_MAX_SIZE] - 1
        size = MAX_REPLY
        if w >= 0 and self.buf[w - 1] == 2:  # as opt_u16(), without the call
            size = (self.buf[w] << 8) | self.buf[w + 1]
        if size < MAX_REPLY:
            size = MAX_REPLY
        size -= IP_UDP_HEADERS
        if size > MAX_MESSAGE:
            size = MAX_MESSAGE
        return cap if size > cap else size

    def valid_client_id(self):
        """Option 61 present with the 2 bytes or more RFC 2132 9.14 asks."""
        return self.opt_len(OPT_CLIENT_ID) >= 2

    def valid_relay_info(self):
        """Option 82 present and made of whole sub-options, each with a
        value (RFC 3046 2.0): anything else is not worth echoing."""
        w = self.opt(OPT_RELAY_AGENT)
        if w < 0:
            return False
        buf = self.buf
        end = w + buf[w - 1]
        if end - w < 3:
            return False
        while w < end:
            if w + 2 > end or buf[w + 1] == 0:
                return False
            w += 2 + buf[w + 1]
        return w == end

    def ip_is(self, off, ip, ioff):
        """True when the 4 bytes at buf[off] equal ip[ioff:ioff+4]."""
        buf = self.buf
        return (
            buf[off] == ip[ioff]
            and buf[off + 1] == ip[ioff + 1]
            and buf[off + 2] == ip[ioff + 2]
            and buf[off + 3] == ip[ioff + 3]
        )

    def is_zero(self, off):
        buf = self.buf
        return buf[off] == 0 and buf[off + 1] == 0 and buf[off + 2] == 0 and buf[off + 3] == 0


# Byte-block moves without allocating (a slice would), in viper: a Python
# loop per byte costs too much on a microcontroller (see dora.blocks).
copy = B.move  # copy(dst, doff, src, soff, n): dst[doff:doff+n] = src[soff:soff+n]
same = B.equal  # same(a, aoff, b, boff, n): a[aoff:aoff+n] == b[boff:boff+n]


def zero(dst, doff, n):
    B.fill(dst, doff, n, 0)


@micropython.viper
def crc16(buf, off, n) -> int:
    """CRC-16/CCITT-FALSE of buf[off:off+n], bit by bit (no table in RAM):
    the check of the server's lease records and of the client's lease file.
    Viper (see dora.leases): 19 -> 0.9 us per record on the unix port.
    Viper does not check bounds, so this does, before reading."""
    start = int(off)
    end = start + int(n)
    if start < 0 or end > int(len(buf)):
        raise IndexError
    b = ptr8(buf)
    crc = 0xFFFF
    i = start
    while i < end:
        crc ^= int(b[i]) << 8
        k = 0
        while k < 8:
            if crc & 0x8000:
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
            k += 1
        i += 1
    return crc


def u32(src, off):
    """The big-endian 32-bit value at src[off:off+4] (a heap int from 2**30
    on a 32-bit board: callers on the packet path cap it first)."""
    return (src[off] << 24) | (src[off + 1] << 16) | (src[off + 2] << 8) | src[off + 3]


def put_u32(dst, off, value):
    dst[off] = (value >> 24) & 0xFF
    dst[off + 1] = (value >> 16) & 0xFF
    dst[off + 2] = (value >> 8) & 0xFF
    dst[off + 3] = value & 0xFF


class Writer:
    """Builds one message in a caller-owned bytearray.

    start() writes the fixed header; byte()/u16()/option()/tlv()
    append options while they fit under the limit, leaving room for END;
    finish() ends and pads, returning the length.

    With `overload` (RFC 2132 9.3: 1 = file, 2 = sname, 3 = both), an option
    that does not fit in the options field goes into `file`, then `sname`
    (or `sname` first with sname_first), and finish() adds option 52; three
    bytes of the options field are kept for it.  An option that fits
    nowhere is left out whole: counted in `skipped`, its code kept in `cut`
    (the first len(cut) of them)."""

    def __init__(self):
        self.buf = None
        self.i = 0
        self.limit = 0
        self.skipped = 0
        self.cut = bytearray(8)
        self.overload = 0  # where options may spill (1 file, 2 sname)
        self.spilled = 0  # where they did
        self.sname_first = False
        self.fi = OFF_FILE  # next free byte in file
        self.si = OFF_SNAME  # next free byte in sname

    def start(self, buf, op, limit, overload=0, sname_first=False):
        zero(buf, 0, HEADER_LEN)
        buf[OFF_OP] = op
        buf[OFF_HTYPE] = 1
        buf[OFF_HLEN] = 6
        buf[OFF_COOKIE] = _COOKIE0
        buf[OFF_COOKIE + 1] = _COOKIE1
        buf[OFF_COOKIE + 2] = _COOKIE2
        buf[OFF_COOKIE + 3] = _COOKIE3
        self.begin(buf, limit, overload, sname_first)

    def begin(self, buf, limit, overload=0, sname_first=False, head=None):
        """As start(), for a header the caller wrote (dora.blocks.reply_header);
        then the options of the TLV blob `head`, if given (as block())."""
        self.buf = buf
        self.limit = limit if limit <= len(buf) else len(buf)
        self.i = OFF_OPTIONS
        self.skipped = 0
        self.overload = overload
        self.spilled = 0
        self.sname_first = sname_first
        self.fi = OFF_FILE
        self.si = OFF_SNAME
        if head is not None:
            n = len(head)
            if OFF_OPTIONS + n <= self.limit - (4 if overload else 1):
                B.move(buf, OFF_OPTIONS, head, 0, n)
                self.i = OFF_OPTIONS + n
            else:
                self.block(head)

    def _room(self, code, length):
        """Offset where an option with `length` value bytes goes, or -1
        (then counted as left out)."""
        need = 2 + length
        keep = 4 if self.overload else 1  # END, and option 52
        if length <= 255 and self.i + need + keep <= self.limit:
            at = self.i
            self.i += need
            return at
        at = -1
        if length <= 255:
            if self.sname_first:
                at = self._in_sname(need)
                if at < 0:
                    at = self._in_file(need)
            else:
                at = self._in_file(need)
                if at < 0:
                    at = self._in_sname(need)
        if at < 0:
            if self.skipped < len(self.cut):
                self.cut[self.skipped] = code
            self.skipped += 1
        return at

    def _in_file(self, need):
        # +1: each field that carries options ends with END.
        if self.overload & 1 and self.fi + need + 1 <= OFF_COOKIE:
            at = self.fi
            self.fi += need
            self.spilled |= 1
            return at
        return -1

    def _in_sname(self, need):
        if self.overload & 2 and self.si + need + 1 <= OFF_FILE:
            at = self.si
            self.si += need
            self.spilled |= 2
            return at
        return -1

    def byte(self, code, value):
        at = self._room(code, 1)
        if at >= 0:
            b = self.buf
            b[at] = code
            b[at + 1] = 1
            b[at + 2] = value

    def u16(self, code, value):
        at = self._room(code, 2)
        if at >= 0:
            b = self.buf
            b[at] = code
            b[at + 1] = 2
            b[at + 2] = (value >> 8) & 0xFF
            b[at + 3] = value & 0xFF

    def option(self, code, src, off, length):
        """Append option `code` whose value is src[off:off+length]."""
        at = self._room(code, length)
        if at < 0:
            return False
        b = self.buf
        b[at] = code
        b[at + 1] = length
        copy(b, at + 2, src, off, length)
        return True

    def tlv(self, src, off):
        """Append the whole option (code, length, value) found at src[off]."""
        return self.option(src[off], src, off + 2, src[off + 1])

    def end(self):
        """Where the options field's options must end: room is kept for
        END, and for option 52 when options may spill."""
        return self.limit - (4 if self.overload else 1)

    def block(self, src):
        """Append the options of the TLV blob `src`, pre-encoded: in one
        copy when they fit in the options field, else one by one (then
        they may spill into file and sname)."""
        n = len(src)
        at = self.i
        if at + n <= self.end():
            B.move(self.buf, at, src, 0, n)
            self.i = at + n
            return
        i = 0
        while i < n:
            self.tlv(src, i)
            i += 2 + src[i + 1]

    def file_free(self):
        """True when no option went into the file field."""
        return not self.spilled & 1

    def finish(self):
        b = self.buf
        i = self.i
        if self.spilled:
            b[i] = OPT_OVERLOAD
            b[i + 1] = 1
            b[i + 2] = self.spilled
            i += 3
            if self.spilled & 1:
                b[self.fi] = OPT_END
            if self.spilled & 2:
                b[self.si] = OPT_END
        b[i] = OPT_END
        end = i + 1
        self.i = end
        if end < MIN_LEN and MIN_LEN <= len(b):
            zero(b, end, MIN_LEN - end)
            end = MIN_LEN
        return end


def find_option(blob, code):
    """Offset of option `code` in a TLV blob of options (None: no blob), or -1."""
    if blob is None:
        return -1
    return B.find(blob, code)

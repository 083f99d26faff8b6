# The one place where MicroPython and CPython differ.  Every other dora module
# imports what it needs from here and never asks which interpreter it runs on.
#
# Branches are chosen once, at import time, with try/except ImportError.
#
# `socket` is imported by the first function that needs it, not here: a
# board image without it (plain RPI_PICO) still imports every core module.

import sys
import time

try:  # MicroPython
    import micropython
    from micropython import const

    # Inside a @micropython.viper function the compiler reads ptr8(buf) as a
    # cast to a byte pointer whatever this name holds; it only has to exist.
    ptr8 = None
    ptr16 = None
    heap_lock = micropython.heap_lock
    heap_unlock = micropython.heap_unlock
    MICROPYTHON = True
except ImportError:  # CPython

    def const(value):
        return value

    class micropython:  # noqa: N801 - stands in for the module's decorators
        """The code emitters' decorators, as no-ops: the function stays
        Python.  The MicroPython compiler recognises `@micropython.viper` by
        its spelling, so modules write it just so with this name imported."""

        @staticmethod
        def viper(fn):
            return fn

    def ptr8(buf):
        """viper's byte-pointer cast: on CPython, the buffer itself."""
        return buf

    def ptr16(buf):
        """viper's 16-bit-pointer cast: on CPython, the buffer (an array of
        "H") itself."""
        return buf

    def heap_lock():
        """No heap to lock on CPython."""

    def heap_unlock():
        return 0

    MICROPYTHON = False

try:  # both interpreters: MicroPython's is frozen into the firmware
    import asyncio
except ImportError:  # pragma: no cover - the unix port lost its frozen entry
    raise ImportError("no asyncio module (MicroPython unix port: keep the literal '.frozen' entry in MICROPYPATH)")

import errno

EAGAIN = errno.EAGAIN
ETIMEDOUT = errno.ETIMEDOUT

# Unicast replies the server sends in a burst, then per second.  Each may
# wait in the network stack for ARP: on Linux about 3 s, charged to the
# socket's send buffer (208 KB by default, about 90 replies); on lwIP in its
# 8 KB heap, one per ARP entry.  See docs/contract.md, "Bounded sends".
HOST = sys.platform in ("linux", "darwin")  # the unix port or CPython on a desktop
UNICAST_BURST, UNICAST_RATE = (16, 8) if HOST else (2, 1)

# One receive round of the server reads at most ROUND_READS datagrams and
# holds at most RECV_BATCH ACKs (one reply buffer each) for one commit.  A
# board's lwIP socket queues only a few datagrams, so a round of 4 empties it.
# A host's kernel queues hundreds: there a round reads while datagrams wait,
# so that under load one fsync covers many ACKs and the loop's wake-up is
# paid once for many datagrams (`make bench` measures it); the reply buffers
# are the price, paid on the host only.
RECV_BATCH = 16 if HOST else 4
ROUND_READS = 64 if HOST else 4
# What the kernel may queue for a socket of ours while a round syncs the
# lease file.  Linux caps SO_RCVBUF at net.core.rmem_max (208 KB unless the
# system raised it); SO_RCVBUFFORCE passes the cap for a process allowed to
# administer the network, as a server on port 67 usually is.
RCVBUF = 1 << 20

# Linux's option numbers: the unix port has no constants for them.
_SO_RCVBUF = 8
_SO_BINDTODEVICE = 25
_SO_RCVBUFFORCE = 33

# "Never", as a time in seconds since boot: the largest small int on a 32-bit
# board (2**30 - 1), for lease expiries (dora.leases) and the client's
# deadlines (dora.client).
FOREVER = const(0x3FFFFFFF)
# The clock's last second: one short of FOREVER, so that an expiry of FOREVER
# never comes.  2**30 s is 34 years of uptime (docs/time.md).
CLOCK_END = const(0x3FFFFFFE)


class Clock:
    """Whole seconds since this clock was made, never wrapping.

    The boards have no battery-backed RTC, so dora measures time from boot
    only.  On MicroPython ticks_ms() wraps (2**30 ms on the unix port), so the
    elapsed milliseconds are folded into seconds at every call; the running
    values stay small ints and now() allocates nothing.  After CLOCK_END
    seconds (34 years) the clock stops there rather than grow into heap
    ints: nothing expires from then on (docs/time.md)."""

    def __init__(self):
        self._last = _ticks()
        self._seconds = 0
        self._ms = 0

    def now(self):
        t = _ticks()
        self._ms += _ticks_diff(t, self._last)
        self._last = t
        if self._ms >= 1000:
            add = self._ms // 1000
            self._ms %= 1000
            if add > CLOCK_END - self._seconds:
                self._seconds = CLOCK_END
            else:
                self._seconds += add
        return self._seconds

    def ms_until(self, when, cap=60000):
        """Milliseconds from now until second `when` of this clock (0 when
        due), at most `cap`: for sleeping until a deadline (the client)."""
        now = self.now()
        if when - now > cap // 1000 + 1:
            return cap
        ms = (when - now) * 1000 - self._ms
        return 0 if ms < 0 else (cap if ms > cap else ms)


if MICROPYTHON:
    _ticks = time.ticks_ms
    _ticks_diff = time.ticks_diff
    sleep_ms = asyncio.sleep_ms
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff

else:

    def _ticks():
        return int(time.monotonic() * 1000)

    def _ticks_diff(a, b):
        return a - b

    ticks_ms = _ticks
    ticks_diff = _ticks_diff

    def sleep_ms(ms):
        return asyncio.sleep(ms / 1000)


_socket = None  # the socket module, once _sockets() has imported it
_raw_sockaddr = False  # its addresses are raw sockaddr bytes (the unix port)


def _sockets():
    """The socket module, imported on first use."""
    global _socket, _raw_sockaddr
    if _socket is None:
        import socket

        _raw_sockaddr = _detect_raw_sockaddr(socket)
        _socket = socket
    return _socket


def sockaddr(ip, port):
    """A socket address for `ip` (dotted text) and `port`, in the form this
    interpreter's sendto/bind take: raw sockaddr bytes on the unix port, a
    tuple on CPython and on the lwIP boards."""
    socket = _sockets()
    if _raw_sockaddr:
        return socket.getaddrinfo(ip, port)[0][-1]
    return (ip, port)


def sockaddr_ip(addr, out, off):
    """Write the IPv4 address of a received peer address into out[off:off+4].

    Used for logging and to reuse the peer address for replies; allocates on
    the lwIP boards and CPython (text parsing), not on the unix port."""
    if _socket is None:
        _sockets()
    if _raw_sockaddr:
        for i in range(4):
            out[off + i] = addr[4 + i]
        return
    parts = addr[0].split(".")
    for i in range(4):
        out[off + i] = int(parts[i])


def sockaddr_port(addr):
    if _socket is None:
        _sockets()
    if _raw_sockaddr:
        return (addr[2] << 8) | addr[3]
    return addr[1]


def _detect_raw_sockaddr(socket):
    # The unix port's getaddrinfo returns raw sockaddr bytes; lwIP and CPython
    # return (host, port) tuples.
    try:
        return not isinstance(socket.getaddrinfo("127.0.0.1", 1)[0][-1], tuple)
    except Exception:
        return False


class PortInUse(OSError):
    """udp_socket's port is taken: str() is one line that says so."""


def udp_socket(port, ifname=None, ip="0.0.0.0"):
    """A non-blocking UDP socket bound to ip:port that may send broadcasts.

    `ifname` pins the socket to one interface where the platform can
    (Linux and ESP32): a socket bound to 0.0.0.0 then receives the
    broadcasts of that interface only, and its broadcasts leave by it.

    No SO_REUSEADDR: with it a second server on the same port binds too and
    both answer every request.  Sockets pinned to different interfaces share
    a port without it (Linux).  A taken port raises PortInUse."""
    socket = _sockets()
    # Linux and lwIP disagree on option numbers; the MicroPython unix port
    # exposes Linux's values, the board ports lwIP's (SO_BROADCAST 0x20 there).
    sol = getattr(socket, "SOL_SOCKET", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(sol, getattr(socket, "SO_BROADCAST", 6), 1)
        if ifname:
            bind_to_device(s, ifname)
        if sys.platform == "linux":
            _receive_queue(s, sol, socket)
        try:
            s.bind(sockaddr(ip, port))
        except OSError as e:
            if _errno_of(e) != errno.EADDRINUSE:
                raise
            on = "%s (%s)" % (ip, ifname) if ifname else ip
            raise PortInUse("UDP port %d on %s is already in use: is another DHCP server or client running there?" % (port, on)) from None
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


def _receive_queue(s, sol, socket):
    try:
        s.setsockopt(sol, getattr(socket, "SO_RCVBUFFORCE", _SO_RCVBUFFORCE), RCVBUF)
    except OSError:  # not allowed: up to the system's cap
        s.setsockopt(sol, getattr(socket, "SO_RCVBUF", _SO_RCVBUF), RCVBUF)


def _errno_of(e):
    return e.errno if getattr(e, "errno", None) is not None else (e.args[0] if e.args else None)


def bind_to_device(s, ifname):
    socket = _sockets()
    opt = getattr(socket, "SO_BINDTODEVICE", _SO_BINDTODEVICE)
    name = ifname.encode() if isinstance(ifname, str) else ifname
    s.setsockopt(getattr(socket, "SOL_SOCKET", 1), opt, name)


if MICROPYTHON:
    _io_queue = asyncio.core._io_queue

    async def readable(sock):
        # MicroPython's asyncio has no datagram API; its own stream code waits
        # on a socket this way (docs/drivers.md, "Waiting on a socket").
        yield _io_queue.queue_read(sock)

else:

    async def readable(sock):
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        fd = sock.fileno()
        loop.add_reader(fd, _wake, fut)
        try:
            await fut
        finally:
            loop.remove_reader(fd)

    def _wake(fut):
        if not fut.done():
            fut.set_result(None)


def pace_gc(gc):
    """Collect now, and from now on each time a quarter of what is then free
    has been allocated: collections stay short, and garbage never fills the
    heap first.  (MicroPython counts the bytes allocated since the last
    collection against gc.threshold; CPython has no such setting.)  `gc`:
    the module, or what a benchmark puts in its place."""
    gc.collect()
    if MICROPYTHON:
        gc.threshold(gc.mem_free() // 4)


def fsync(f):
    """Make what was written to `f` durable.

    MicroPython: flush() reaches the filesystem driver (littlefs commits the
    file on it; the unix port hands it to the OS).  CPython: flush + fsync."""
    f.flush()
    if not MICROPYTHON:
        import os

        os.fsync(f.fileno())


def file_size(path):
    import os

    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def rename(src, dst):
    import os

    os.rename(src, dst)


def remove(path):
    import os

    try:
        os.remove(path)
    except OSError:
        pass

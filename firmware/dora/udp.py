# The UDP edge both runners stand on (dora.runner for the server,
# dora.client_runner for the client): the socket's life, the receive loop and
# its error policy, receiving and sending with one failure rule, and the
# application's listeners.
#
# One contract for both roles:
#   open(port, interface, ip)  bind the socket (compat.udp_socket)
#   receive(self_round)        a task: wait until readable, then call the
#                              runner's round; a MemoryError collects and goes
#                              on, any other exception is counted and logged:
#                              the task never dies, so the runner never goes deaf
#   recv(size)                 one datagram, or None when there is none
#                              (EAGAIN, ETIMEDOUT) or the read failed (counted)
#   send(buf, addr)            False when the stack refused it (counted; the
#                              caller logs what was lost)
#   on_event(fn) / events()    listeners: fn(ev), ev an object with .kind
#   log(line)                  status and error lines: always
#   verbose                    the config's "log": per-event lines only when
#                              true (tested before formatting one: a line
#                              nobody prints must cost nothing)
#   stop()                     closes at once; the receive task returns

import gc

from . import compat
from .compat import asyncio
from . import dhcp as D


class Edge:
    def __init__(self, log, verbose):
        self.log = log
        self.verbose = verbose  # the config's "log": per-event lines
        self.sock = None
        self.errors = 0
        self.listeners = []
        self._task = None  # the receive task, cancelled by stop()
        self.send_error = None  # the last error send() met

    # -- the socket ------------------------------------------------------
    def open(self, port, interface, ip):
        self.sock = compat.udp_socket(port, interface, ip)
        return self.sock

    def close(self):
        """Close the socket now; a receive task waiting on it returns."""
        task = self._task
        self._task = None
        if task is not None and task is not _current():
            task.cancel()
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    async def receive(self, on_readable):
        """Call on_readable() each time the socket has a datagram, until
        close()."""
        self._task = _current()
        sock = self.sock
        while self.sock is sock and sock is not None:
            try:
                await compat.readable(sock)
            except asyncio.CancelledError:
                if self.sock is not sock:
                    return  # closed by stop(): done
                raise
            if self.sock is not sock:
                return
            try:
                on_readable()
            except Exception as e:  # keep receiving whatever happened
                self.survive(e, "error in receive round")

    def survive(self, e, what):
        """The one rule for an exception a loop of ours caught and goes on
        after: counted; a MemoryError collects (formatting a line could fail
        again), any other is logged as `what: error`."""
        self.errors += 1
        if isinstance(e, MemoryError):
            gc.collect()
        else:
            self.log("%s: %r" % (what, e))

    def recv(self, size):
        """(data, peer) of one datagram of up to `size` bytes, or None.
        recvfrom(n) allocates n bytes first: when a fragmented heap has no
        such piece, D.SHORT_READ bytes are read instead, so that requests
        of usual size still get through (a longer one arrives cut)."""
        try:
            try:
                return self.sock.recvfrom(size)
            except MemoryError:
                return self.sock.recvfrom(D.SHORT_READ)
        except OSError as e:
            if e.args[0] not in (compat.EAGAIN, compat.ETIMEDOUT):
                self.errors += 1
            return None

    def send(self, buf, addr):
        """sendto; False when the stack refused it (no route yet, interface
        down, buffers full): counted, the error kept in `send_error` for
        the caller's log line, which names what was lost."""
        try:
            self.sock.sendto(buf, addr)
            return True
        except OSError as e:
            self.errors += 1
            self.send_error = e
            return False

    # -- the application's listeners ----------------------------------------
    def on_event(self, fn):
        """Call fn(ev) for each event; it runs after the message that caused
        it has left, off the packet path; an exception in fn is logged and
        counted and stops nothing."""
        self.listeners.append(fn)
        return fn

    def events(self, size=8):
        """An awaitable queue of the events: `ev = await q.get()`."""
        from .events import EventQueue

        q = EventQueue(size)
        self.listeners.append(q)
        return q

    def deliver(self, ev):
        for fn in self.listeners:
            try:
                fn(ev)
            except Exception as e:  # an application bug must not stop the runner
                self.survive(e, "event listener failed")


def _current():
    try:
        return asyncio.current_task()
    except RuntimeError:  # CPython: no running loop (stop() from outside)
        return None

# dora's UDP socket: no SO_REUSEADDR, so a second server on a port already
# taken fails at start-up with one clear line instead of both answering.

import os
import socket
import sys

from dora import compat
from dora.compat import asyncio
from dora.udp import Edge

import util


def test_a_taken_port_fails_with_one_clear_line():
    port = util.loopback_ports()[0] + 2
    first = compat.udp_socket(port, ip="127.0.0.1")
    try:
        e = util.raises(compat.PortInUse, compat.udp_socket, port, None, "127.0.0.1")
        assert isinstance(e, OSError)
        text = str(e)
        assert text == "UDP port %d on 127.0.0.1 is already in use: is another DHCP server or client running there?" % port, text
        # The wildcard address overlaps 127.0.0.1 too.
        util.raises(compat.PortInUse, compat.udp_socket, port)
    finally:
        first.close()
    # Closed: the port is free again at once (UDP has no TIME_WAIT).
    compat.udp_socket(port, ip="127.0.0.1").close()


def test_the_receive_loop_survives_what_a_round_raises():
    # The edge's one error rule: a round that raises is counted and the loop
    # goes on; a MemoryError collects without a line (formatting one could
    # fail again), anything else is logged with what it was.
    port = util.loopback_ports()[0] + 3
    lines = []
    edge = Edge(lines.append, False)
    edge.open(port, None, "127.0.0.1")
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raised = [ValueError("bad round"), MemoryError()]
    got = []

    def a_round():
        got.append(edge.recv(64)[0])
        if raised:
            raise raised.pop(0)
        edge.close()  # the third datagram: done

    async def main():
        task = asyncio.create_task(edge.receive(a_round))
        for i in range(3):
            tx.sendto(bytes([i]), socket.getaddrinfo("127.0.0.1", port)[0][-1])
            await compat.sleep_ms(20)
        for _ in range(100):  # bounded: the loop ends when round() closes it
            if edge.sock is None:
                break
            await compat.sleep_ms(10)
        task.cancel()

    try:
        asyncio.run(main())
    finally:
        tx.close()
        edge.close()
    assert got == [b"\x00", b"\x01", b"\x02"], got
    assert edge.errors == 2 and len(lines) == 1, (edge.errors, lines)
    assert lines[0].startswith("error in receive round: ValueError(") and "bad round" in lines[0], lines


def test_on_linux_the_socket_queues_what_arrives_during_a_sync():
    # A round that syncs the lease file stalls the loop: the kernel must
    # queue what arrives meanwhile (a bigger queue than its default).
    if not hasattr(socket.socket, "getsockopt"):
        util.skip("this port's sockets have no getsockopt")
    if sys.platform != "linux":
        util.skip("Linux only")
    with open("/proc/sys/net/core/rmem_max") as f:
        most = int(f.read())
    if os.geteuid() == 0:
        most = compat.RCVBUF  # root passes the system's cap (SO_RCVBUFFORCE)
    s = compat.udp_socket(util.loopback_ports()[0] + 4, ip="127.0.0.1")
    try:
        # Linux reports twice what was asked (its bookkeeping), up to rmem_max.
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 2 * min(compat.RCVBUF, most)
    finally:
        s.close()

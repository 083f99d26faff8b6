# dora's UDP socket: no SO_REUSEADDR, so a second server on a port already
# taken fails at start-up with one clear line instead of both answering.

from dora import compat

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

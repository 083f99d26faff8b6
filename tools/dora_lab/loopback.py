"""dora's server over loopback, on high ports: no root, no namespace.

Loopback has no broadcast domain: the server answers on 127.0.0.1 (its
"broadcast" address) and stands at 127.0.4.1, the address clients name as
the server (option 54) and send renewals to.
"""

import socket

SERVER_ADDRESS = "127.0.4.1"


def free_port():
    """A UDP port nobody holds now, with the next one below 65000 too (the
    client port is server port + 1)."""
    for _ in range(20):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port < 65000:
            return port
    raise RuntimeError("no free UDP port below 65000 in 20 tries")


def server_config(server_port, lease_file, **fields):
    """A server config for loopback; `fields` override or add to it."""
    cfg = {
        "address": SERVER_ADDRESS,
        "netmask": "255.255.255.0",
        "pool_start": "127.0.4.16",
        "pool_end": "127.0.4.250",
        "lease_time": 3600,
        "broadcast": "127.0.0.1",
        "bind_address": "127.0.0.1",
        "server_port": server_port,
        "client_port": server_port + 1,
        "lease_file": lease_file,
    }
    cfg.update(fields)
    return cfg

# HOST-ONLY FAKE of dora's C module dora_hook (boards/usercmod): stops the
# fake firmware's built-in DHCP server on the AP (network.py) and records
# it.  Never on a board.

import network
from network import CALLS


def stop_builtin_dhcp():
    stopped = network.stop_builtin_dhcp()
    CALLS.append(("dora_hook.stop_builtin_dhcp", None))
    return stopped

# HOST-ONLY FAKE of dora's C module dora_hook (boards/usercmod): records that
# the built-in DHCP server was stopped.  Never on a board.

from network import CALLS


def stop_builtin_dhcp():
    CALLS.append(("dora_hook.stop_builtin_dhcp", None))
    return True

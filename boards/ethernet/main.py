# main.py for an Ethernet router: ESP32 + LAN8720 (network.LAN) or RP2040 +
# W5500 (network.WIZNET5K), on STOCK MicroPython firmware: Ethernet has no
# built-in DHCP server, so no C hook is needed (dora_hook=None).  Copy dora's
# .mpy files with `make deploy BOARD=ethernet PORT=...`.
import dora_board
import machine
import network

try:
    dora_board.run(network, machine, None, "ethernet")
except dora_board.BoardError as e:  # a config error: say which field, no traceback
    print("dora: bad board config:", e)

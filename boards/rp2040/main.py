# main.py for a Raspberry Pi Pico W access point running dora (firmware built
# with boards/rp2040/manifest.py and the dora_hook C module:
# `make firmware BOARD=rp2040`).  The board config is /board.json on the flash.
import dora_board
import dora_hook
import machine
import network

try:
    dora_board.run(network, machine, dora_hook, "rp2")
except dora_board.BoardError as e:  # a config error: say which field, no traceback
    print("dora: bad board config:", e)

# main.py for an ESP32 soft-AP router running dora (firmware built with
# boards/esp32/manifest.py and the dora_hook C module: `make firmware BOARD=esp32`).
# The board config is /board.json on the flash (see boards/esp32/board.json).
import dora_board
import dora_hook
import machine
import network

try:
    dora_board.run(network, machine, dora_hook, "esp32")
except dora_board.BoardError as e:  # a config error: say which field, no traceback
    print("dora: bad board config:", e)

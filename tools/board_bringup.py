#!/usr/bin/env python3
"""The Pico W bring-up on the emulated board, against the firmware's own
`network` and `machine` modules: boards/rp2040/main.py with
boards/rp2040/board.json, as a user deploys them (both files on the board's
file system), the dora package frozen in the image.

    board_bringup.py --image firmware.elf --bootrom rp2040-bootrom.bin

The board file system is a RAM littlefs mounted at / (the emulator does not
model flash writes), holding board.json, main.py and this tree's
dora_board.py; the lease file goes there too.  main.py runs until dora
reports that it serves, or until it stops; then it is interrupted and the
driver is asked what it was told.  While it serves, the emulator counts
whether the watchdog (board.json's watchdog_ms) ever runs out.  Prints the board's output and a JSON
summary; exit status 1 unless dora came up serving.

What the emulator cannot do: it has no CYW43 radio.  The firmware's
WLAN.active(True) finds no chip, prints "[CYW43] Failed to start CYW43" and
carries on with lwIP's interface up, so config(), active(), ifconfig()
and the socket bind all run in the real driver; no frame goes on air.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from board_repl import EmulatedBoard  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVING = "dora: serving "
RAM_BLOCKS = 96
# Simulated seconds dora keeps serving before the interrupt: longer than
# board.json's 8 s watchdog, so a board that stopped feeding it would be
# seen (the emulator counts the watchdog running out).
SERVE_SECONDS = 12

PREPARE = """
import sys
mount('/', %d)
"""

START = """
import sys
sys.path[:] = ['/', '.frozen']
import dora, dora_board
print('dora from', dora.__file__, '; dora_board from', dora_board.__file__)
exec(open('/main.py').read())
"""

# Asked of the real driver afterwards: what the bring-up set on the AP.
INSPECT = """
import json, network
ap = network.WLAN(network.AP_IF)
state = {'active': ap.active(), 'ifconfig': list(ap.ifconfig()),
         'SEC_WPA_WPA2': network.WLAN.SEC_WPA_WPA2}
for key in ("ssid", "security"):
    try:
        state[key] = ap.config(key)
    except Exception as e:
        state[key] = 'not readable: %r' % (e,)
print(json.dumps(state))
"""


def bring_up(image, bootrom, timeout=300):
    """Returns {'output', 'error', 'serving', 'ap', 'emulator'}."""
    with EmulatedBoard(image, bootrom) as board:
        board.exec(open(os.path.join(ROOT, "tools", "dora_lab", "ramdisk.py")).read())
        board.exec(PREPARE % RAM_BLOCKS)
        for src, dst in (
            ("boards/rp2040/board.json", "/board.json"),
            ("boards/rp2040/main.py", "/main.py"),
            ("boards/common/dora_board.py", "/dora_board.py"),
        ):
            with open(os.path.join(ROOT, src), "rb") as f:
                board.put(dst, f.read())
        served = {}

        def keep_serving():
            start = board.stats()
            deadline = time.monotonic() + timeout
            now = start
            while now["sim_seconds"] < start["sim_seconds"] + SERVE_SECONDS and time.monotonic() < deadline:
                time.sleep(1)
                now = board.stats()
            served["seconds"] = now["sim_seconds"] - start["sim_seconds"]
            served["watchdog_triggers"] = now["watchdog_triggers"] - start["watchdog_triggers"]

        out, err = board.run_until(START, SERVING, timeout, keep_serving)
        ap = json.loads(board.exec(INSPECT).strip().splitlines()[-1])
        stats = board.stats()
    return {"output": out, "error": err, "serving": SERVING in out, "served": served, "ap": ap, "emulator": stats}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", required=True)
    ap.add_argument("--bootrom", required=True)
    a = ap.parse_args()
    r = bring_up(a.image, a.bootrom)
    sys.stdout.write(r["output"])
    sys.stdout.write(r["error"])
    print(json.dumps({"serving": r["serving"], "served": r["served"], "ap": r["ap"], "emulator": r["emulator"]}))
    return 0 if r["serving"] else 1


if __name__ == "__main__":
    sys.exit(main())

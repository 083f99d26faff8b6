# dora on the Pico W image in an emulated RP2040 (rp2040js): the core test
# files run on the board (armv6m, 31-bit small ints, the port's heap_lock and
# littlefs, dora frozen in the image), and boards/rp2040/main.py brings the
# board up against the firmware's own network and machine modules.
#
# `make test-emulated` runs this file with the image, the RP2040 bootrom and
# the image's mpy-cross named in DORA_PICOW_IMAGE, RP2040_BOOTROM and
# DORA_MPY_CROSS; without them every test here skips with one line.

import json
import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

IMAGE = os.environ.get("DORA_PICOW_IMAGE", "")
BOOTROM = os.environ.get("RP2040_BOOTROM", "")
MPY_CROSS = os.environ.get("DORA_MPY_CROSS", "")
NODE_MODULE = os.path.join(ROOT, "tools", "emu", "node_modules", "rp2040js")


def _missing():
    if not (IMAGE and BOOTROM and MPY_CROSS):
        return "run by `make test-emulated` (needs DORA_PICOW_IMAGE, RP2040_BOOTROM, DORA_MPY_CROSS)"
    for path in (IMAGE, BOOTROM, MPY_CROSS, NODE_MODULE):
        if not os.path.exists(path):
            return "missing %s" % path
    if not shutil.which("node"):
        return "needs node"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")

CORE_MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "host_tests", "core")) if f.startswith("test_") and f.endswith(".py"))


@pytest.fixture(scope="module")
def board_run():
    import board_tests

    lines = []
    totals = board_tests.run(IMAGE, BOOTROM, MPY_CROSS, log=lines.append)
    totals["log"] = lines
    emu = totals.get("emulator") or {}
    print(
        "\nemulated rp2040: %d passed, %d failed, %d skipped in %.0f s wall (%.1f s simulated, %d cycles, %d boots)"
        % (totals["passed"], totals["failed"], totals["skipped"], totals["wall_seconds"], emu.get("sim_seconds", 0), emu.get("cycles", 0), totals["boots"])
    )
    return totals


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_passes_on_the_emulated_board(board_run, module):
    got = board_run["modules"].get(module)
    mine = [line for line in board_run["log"] if module in line]
    assert got is not None, "no result from the board for %s:\n%s" % (module, "\n".join(board_run["log"][-30:]))
    assert got["failed"] == 0, "\n".join(mine)
    assert got["passed"] + got["skipped"] > 0


def test_bringup_serves_against_the_real_wlan_driver():
    import board_bringup

    r = board_bringup.bring_up(IMAGE, BOOTROM)
    log = r["output"] + r["error"]
    # Interrupted by the driver once serving: a KeyboardInterrupt is the only
    # traceback allowed; a rejected WLAN.config key shows here as ValueError.
    assert r["serving"], log
    assert "Error" not in r["error"].replace("KeyboardInterrupt", ""), log
    board = json.load(open(os.path.join(ROOT, "boards", "rp2040", "board.json")))["ap"]
    ap = r["ap"]
    assert ap["active"] is True, ap
    assert ap["ssid"] == board["ssid"], ap
    assert ap["security"] == ap["SEC_WPA_WPA2"], ap
    assert ap["ifconfig"][:2] == [board["address"], board["netmask"]], ap
    assert "AP %s up at %s" % (board["ssid"], board["address"]) in r["output"], log
    # Served past the watchdog's timeout without letting it run out.
    assert r["served"]["seconds"] >= board_bringup.SERVE_SECONDS, r["served"]
    assert r["served"]["watchdog_triggers"] == 0, r["served"]

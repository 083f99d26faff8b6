# Power cuts at byte offsets of every write of a 1,000-operation workload,
# and torn renames: recovery yields every acknowledged binding and invents
# nothing, and the server starts.  `make fuzz` tries every single step.

import os

import powercut
import util

OPS = int(os.getenv("DORA_POWERCUT_OPS") or 1000)
# Every single step on CPython (about 10 s); every 8th write whole (and the
# edges of all the others) on the slower MicroPython run.
EVERY = int(os.getenv("DORA_POWERCUT_EVERY") or (8 if util.MICROPYTHON else 1))


def test_power_cut_at_byte_offsets_of_a_thousand_operations():
    flash, checkpoints, ever = powercut.workload(OPS)
    points = powercut.sampled_points(flash, EVERY)
    renames = sum(1 for e in flash.journal if e[0] == "r")
    assert renames >= 3  # compactions happened, so renames were torn too
    n = powercut.check_cuts(flash, checkpoints, ever, points)
    print("power cuts: %d points of %d steps (%d renames)" % (n, flash.steps(), renames))
    assert n == len(points) and n > 2000
    if EVERY == 1:
        assert n == flash.steps() + 1  # every cut point there is


def test_the_checker_catches_a_lost_binding():
    # The checker itself can fail: claim one more acknowledged binding than
    # the flash holds, and recovery must be found wanting.
    flash, checkpoints, ever = powercut.workload(60)
    step, acked = checkpoints[-1]
    free = [slot for slot in range(16) if slot not in acked][0]
    acked = dict(acked)
    acked[free] = b"\x01" + bytes(8)
    try:
        powercut.check_cuts(flash, [(step, acked)], ever, [flash.steps()])
    except AssertionError as e:
        assert "lost the binding" in str(e)
        return
    raise AssertionError("a missing binding went unnoticed")

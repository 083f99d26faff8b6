# Runs on the board: host_tests/mp_runner.py's rules for one test module at a
# time (every module-level test_* is called; util.SkipTest is a skip, any
# other exception a failure).  tools/board_tests.py sends this file to the
# REPL, copies a module's .mpy to the RAM file system and calls run(name).
# The module is dropped after its run so that the next one has the heap.

import gc
import os
import sys

from testrun import run_tests


def _tidy():
    """What one module's tests leave behind must not shrink the next one's
    heap or file system: runners a test opened and did not stop stay listed
    for dora.control, and lease files stay on the RAM disk."""
    runner = sys.modules.get("dora.runner")
    if runner is not None:
        del runner.running[:]
    scratch = "/ram/dora-test-mp"  # util.tmp_path's folder on the board
    try:
        for f in os.listdir(scratch):
            os.remove(scratch + "/" + f)
    except OSError:
        pass


def run(name):
    try:
        mod = __import__(name)
    except Exception as e:
        print("FAIL %s (import): %r" % (name, e))
        sys.print_exception(e)
        print("RESULT %s 0 1 0 %d" % (name, gc.mem_free()))
        return
    passed, failed, skipped = run_tests(mod, name, announce=True)
    for m in list(sys.modules):
        if m.startswith("test_"):
            del sys.modules[m]
    mod = None
    _tidy()
    gc.collect()
    print("RESULT %s %d %d %d %d" % (name, passed, failed, skipped, gc.mem_free()))

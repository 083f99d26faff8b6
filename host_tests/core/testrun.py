# The rule both MicroPython test runners follow (host_tests/mp_runner.py on
# the unix port, host_tests/emulated/board_runner.py on the board): every
# module-level test_* function is called; util.SkipTest is a skip, any other
# exception a failure.

import gc
import sys

import util


def run_tests(mod, name, announce=False):
    """(passed, failed, skipped) of the test_* functions of `mod`; a line per
    failure and skip; with announce, a RUN line before each test (it names
    the culprit if the board hangs)."""
    passed = failed = skipped = 0
    for t in sorted(k for k in dir(mod) if k.startswith("test_")):
        fn = getattr(mod, t)
        if not callable(fn):
            continue
        if announce:
            print("RUN %s.%s" % (name, t))
        try:
            fn()
            passed += 1
        except util.SkipTest as e:
            skipped += 1
            print("SKIP %s.%s: %s" % (name, t, e))
        except Exception as e:
            failed += 1
            print("FAIL %s.%s: %r" % (name, t, e))
            sys.print_exception(e)
        # A test that failed while measuring must not leave gc off.
        gc.enable()
        gc.collect()
    return passed, failed, skipped

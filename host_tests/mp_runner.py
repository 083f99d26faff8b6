# Runs host_tests/core/test_*.py on the MicroPython unix port, the same files
# pytest runs on CPython: every module-level test_* function is called, an
# AssertionError or any other exception is a failure, util.SkipTest a skip.
#
#   MICROPYPATH=firmware:host_tests/core:tools/dora_lab:.frozen micropython host_tests/mp_runner.py [module ...]
#
# Prints one line per failure with its traceback and closes with the line
# "N passed, N failed, N skipped".  Exit status 1 when anything failed.

import os
import sys

from testrun import run_tests


def modules(argv):
    if len(argv) > 1:
        return [a.split("/")[-1].replace(".py", "") for a in argv[1:]]
    here = "host_tests/core"
    return sorted(f[:-3] for f in os.listdir(here) if f.startswith("test_") and f.endswith(".py"))


def main():
    passed = failed = skipped = 0
    for name in modules(sys.argv):
        try:
            mod = __import__(name)
        except Exception as e:
            print("FAIL %s (import): %r" % (name, e))
            sys.print_exception(e)
            failed += 1
            continue
        p, f, s = run_tests(mod, name)
        passed += p
        failed += f
        skipped += s
    print("micropython: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    sys.exit(1 if failed else 0)


main()

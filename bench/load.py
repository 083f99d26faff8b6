"""How busy the machine is: the load average the bench runs under, and
whether it is quiet enough for figures that get published (the README's)."""

import os
import time

# The 1-minute load average per CPU above which the machine is not quiet:
# other work then competes with the servers and with loadgen for the CPUs.
QUIET_PER_CPU = 0.25


def snapshot():
    """{"load1", "load5", "nproc"} now."""
    one, five, _ = os.getloadavg()
    return {"load1": round(one, 2), "load5": round(five, 2), "nproc": os.cpu_count() or 1}


def limit(nproc=None):
    return QUIET_PER_CPU * (nproc or os.cpu_count() or 1)


def quiet(snap, max_load=None):
    """None when `snap` is quiet, else one line saying why not."""
    top = limit(snap["nproc"]) if max_load is None else max_load
    if snap["load1"] <= top:
        return None
    return "1-minute load average %.2f is above %.2f (%d CPUs)" % (snap["load1"], top, snap["nproc"])


def wait_quiet(max_load=None, wait_s=300, step_s=15, say=print):
    """Wait (at most wait_s) for a quiet machine; the last snapshot and None,
    or the snapshot and why it is not quiet."""
    end = time.monotonic() + wait_s
    while True:
        snap = snapshot()
        why = quiet(snap, max_load)
        if why is None or time.monotonic() >= end:
            return snap, why
        say("waiting for a quiet machine: %s" % why)
        time.sleep(step_s)


def describe(start, end):
    return "1-min %.2f / 5-min %.2f at the start, 1-min %.2f / 5-min %.2f at the end, %d CPUs" % (
        start["load1"], start["load5"], end["load1"], end["load5"], start["nproc"])

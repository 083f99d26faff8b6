"""A DISCOVER flood with random MACs (dhcpig / dhcpstarv style) against dora
on the MicroPython unix port, in network namespaces (root; netns.Lab).

Station 0 runs busybox udhcpc and is bound before the flood; station 1
floods raw DISCOVERs from random MACs (tools/loadgen.py --flood: bounded count
and time); station 2 arrives after the flood.  With a short offer_hold:

  - the flood exhausts the pool while it lasts (POOL EXHAUSTED),
  - station 0 keeps renewing its address through the flood,
  - the flood's offers expire and the pool frees,
  - station 2 is served once the flood stops,
  - the heap (status lines, gc.mem_alloc after a collection) stays flat.
"""

import os
import re
import sys
import time

from dora_lab.netns import Dora, Lab, Udhcpc, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLOOD_COUNT = int(os.getenv("DORA_FLOOD_COUNT") or 3000)
FLOOD_SECONDS = 8


def heap_of(lines):
    out = []
    for ln in lines:
        m = re.search(r"status: .*heap alloc (\d+)", ln)
        if m:
            out.append(int(m.group(1)))
    return out


def free_of(line):
    m = re.search(r"free (\d+)", line)
    return int(m.group(1)) if m else -1


def test_discover_flood_exhausts_nothing_for_long(need, tmp_path):
    need("udhcpc")
    work = str(tmp_path)
    with Lab(stations=3) as lab:
        dora = Dora(lab, work, capture=False, pool_end="192.168.4.47", lease_time=20,
                    offer_hold=2, status_seconds=1).start()
        bound = Udhcpc(lab.station(0), work)
        bound.start()
        first = bound.wait_address(20)
        assert first, bound.lines[-5:]
        time.sleep(3)
        heap_before = heap_of(dora.lines)
        mark = dora.mark()
        t0 = time.monotonic()
        res = lab.station(1).run([sys.executable, os.path.join(ROOT, "tools", "loadgen.py"), "eth0", "--flood",
                                  "--count", str(FLOOD_COUNT), "--seconds", str(FLOOD_SECONDS), "--seed", "7"],
                                 timeout=FLOOD_SECONDS + 20)
        flood_secs = time.monotonic() - t0
        sent = int(re.search(r"sent (\d+)", res.stdout).group(1))
        assert sent >= FLOOD_COUNT // 2, res.stdout + res.stderr
        during = dora.lines[mark:]
        offers = sum(1 for ln in during if " OFFER " in ln or ln.startswith("dora: OFFER"))
        exhausted = sum(1 for ln in during if "POOL EXHAUSTED" in ln)
        # The flood's offers run out after offer_hold: the pool frees.
        after = dora.mark()
        freed = wait_for(lambda: [ln for ln in dora.lines[after:] if "status:" in ln and free_of(ln) >= 25], 10)
        assert freed, [ln for ln in dora.lines[after:] if "status:" in ln][-3:]
        # A newcomer is served once the flood has stopped.
        newcomer = Udhcpc(lab.station(2), work)
        newcomer.start()
        got = newcomer.wait_address(20)
        assert got, newcomer.lines[-5:]
        # The bound station kept its address, renewing through the flood
        # (lease 20 s: T1 every 10 s).
        time.sleep(12)
        assert bound.sta.address() == first
        renewals = [ln for ln in dora.lines[mark:] if re.search(r"(ACK|RENEW) %s " % first.split("/")[0], ln)]
        assert renewals, "station 0 never renewed after the flood began"
        heap_after = heap_of(dora.lines[after:])
        totals = dora.stop()
    print("flood: %d DISCOVERs in %.1f s -> %d offers, %d exhausted; heap before %s, after %s; %s"
          % (sent, flood_secs, offers, exhausted, heap_before[-3:], heap_after[-3:], totals))
    assert offers >= 30 and exhausted > 0, (offers, exhausted)
    assert heap_before and heap_after
    # Flat: the largest heap after the flood within 4 KB of the largest before.
    assert max(heap_after) <= max(heap_before) + 4096, (heap_before, heap_after)
    assert totals and " errors 0" in totals, totals

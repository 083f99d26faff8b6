"""Unicast replies to hosts nobody holds must not clog dora's other replies
(dora on the MicroPython unix port, in network namespaces; root).

Station 1 runs full DORA exchanges (tools/loadgen.py: broadcast replies; like
a real client, it sends a message again after 0.5 s without an answer, and
gives up 2 s after the DISCOVER) for 6 s.  One second in, station 0
sends 400 DHCPINFORMs within 50 ms from one MAC, each naming in ciaddr an
address of the subnet that nobody holds.  Answering each by unicast leaves
a datagram waiting on ARP in the kernel for about 3 s, charged to dora's
socket; unbounded, they fill its send buffer and every sendto, broadcasts
included, fails with EAGAIN until ARP gives up.

Checked: every DORA completes, no send fails, and dora sends only a bounded
number of unicasts for the storm.  Two storms: from a station address of
its own (the named hosts are third parties), and spoofed (each INFORM from
the address it names, so that it looks like the host's own request).

The figures (DORAs done, send failures, replies to the storm, latency)
are printed; `pytest -s` shows them.
"""

import json
import os
import re
import sys
import threading
import time

import pytest

from netns import Dora, Lab, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOADGEN = os.path.join(ROOT, "tools", "loadgen.py")
STORM = 400
DORA_SECONDS = 6


class LineClock:
    """When each of dora's log lines arrived (to within 10 ms): dora's lines
    carry no time, so a thread notes how many there are every 10 ms."""

    def __init__(self, dora):
        self.dora = dora
        self.samples = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            self.samples.append((time.monotonic(), len(self.dora.lines)))
            time.sleep(0.01)

    def stop(self):
        self.running = False
        self.thread.join(2)

    def time_of(self, index):
        for t, n in self.samples:
            if n > index:
                return t
        return None


@pytest.mark.parametrize("spoof", [False, True], ids=["third-party", "spoofed-source"])
def test_informs_naming_absent_hosts_do_not_clog_the_replies(need, tmp_path, spoof):
    need()
    work = str(tmp_path)
    with Lab(stations=2) as lab:
        dora = Dora(lab, work, capture=False, lease_time=60).start()
        mark = dora.mark()
        clock = LineClock(dora)
        t0 = time.monotonic()
        load = lab.station(1).spawn([sys.executable, LOADGEN, "eth0", "--rate", "25", "--count", "150",
                                     "--seconds", str(DORA_SECONDS), "--timeout", "2", "--retransmit", "0.5",
                                     "--seed", "3", "--json"])
        time.sleep(1)
        storm = lab.station(0).run([sys.executable, LOADGEN, "eth0", "--informs", str(STORM), "--spread-ms", "50",
                                    "--seed", "5"] + (["--spoof"] if spoof else []), timeout=30)
        out, _ = load.communicate(timeout=DORA_SECONDS + 20)
        elapsed = time.monotonic() - t0
        res = json.loads(out.strip().splitlines()[-1])
        # ARP gives up on the storm's addresses about 3 s after it: any
        # failure it causes has shown by then.
        wait_for(lambda: False, 3)
        lines = dora.lines[mark:]
        clock.stop()
        totals = dora.stop()
    fails = [mark + i for i, ln in enumerate(lines) if "send failed" in ln]
    failed = len(fails)
    span = clock.time_of(fails[-1]) - clock.time_of(fails[0]) if fails else 0.0
    informs = sum(1 for ln in lines if ln.startswith("dora: INFORM-ACK"))
    limited = re.search(r"unicasts withheld (\d+)", totals or "")
    print("\nclog (%s): storm %s; DORAs %d/%d done (%d timeouts, %d NAKs, %d retransmissions), p99 %.0f ms, "
          "max %.0f ms, in %.1f s; send failures %d over %.1f s; INFORM replies sent %d; %s"
          % ("spoofed" if spoof else "third-party", storm.stdout.strip(), res["done"], res["started"],
             res["timeouts"], res["naks"], res["retransmits"], res["p99_ms"] or 0, res["max_ms"] or 0, elapsed,
             failed, span, informs, totals))
    assert "sent %d INFORMs" % STORM in storm.stdout, storm.stdout + storm.stderr
    assert res["started"] >= 100, res
    assert failed == 0, [ln for ln in lines if "send failed" in ln][:3]
    assert res["done"] == res["started"], res
    # Bounded: a handful of the storm's 400 unicasts leave, the rest are
    # withheld and counted.
    assert informs <= 40, informs
    assert limited and int(limited.group(1)) >= STORM - 40, totals

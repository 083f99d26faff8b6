# The lease file is lost while dora is down (a new flash, a wiped board):
# the stations keep renewing the addresses they hold, and dora, authoritative,
# must grant each one its own address again, NAK nobody and renumber nobody
# (dnsmasq does the same).  Real clients (udhcpc, dhclient, dhcpcd) in
# network namespaces of ours; dora on the MicroPython unix port.
#
# Timers: lease 20 s, so every client renews (RENEWING, unicast) at T1 = 10 s.

import os
import re
import time

import pytest

from dora_lab.netns import CLIENTS, Dora, Lab, wait_for

pytestmark = pytest.mark.system

KINDS = ["udhcpc", "dhclient", "dhcpcd"]
STATIONS = int(os.getenv("DORA_STATIONS", "9"))  # the fault was seen with 30
LEASE = 20
T1 = LEASE // 2


def ip_of(addr):
    return addr.split("/")[0] if addr else None


def test_a_lost_lease_file_renumbers_no_station(need, tmp_path):
    need("udhcpc", "dhclient", "dhcpcd")
    work = str(tmp_path)
    with Lab(stations=STATIONS) as lab:
        dora = Dora(lab, work, capture=False, lease_time=LEASE).start()
        clients = [CLIENTS[KINDS[i % 3]](lab.station(i), work) for i in range(STATIONS)]
        for c in clients:
            c.start()
        before = [ip_of(c.wait_address(30)) for c in clients]
        assert None not in before, [(c.name, c.lines[-5:]) for c in clients]
        dora.kill()  # down...
        os.remove(dora.lease_file)  # ...and its lease file is gone
        dora.start()
        mark = dora.mark()
        assert dora.find(r"none yet, starting empty", 0), dora.lines
        # Every station renews at T1 (at most 10 s from now): wait for all.
        t0 = time.monotonic()

        def all_granted():
            return all(dora.find(r"^dora: (ACK|RENEW) %s " % re.escape(ip), mark) for ip in before)

        granted = wait_for(all_granted, T1 + 12)
        seconds = time.monotonic() - t0
        naks = dora.find(r"^dora: NAK", mark)
        after = [ip_of(c.sta.address()) for c in clients]
        for c in clients:
            c.stop()
        dora.stop()
    renumbered = [(c.name, b, a) for c, b, a in zip(clients, before, after) if a != b]
    print("lost lease file: %d stations, %d NAK(s), %d renumbered, all renewed within %.1f s"
          % (STATIONS, len(naks), len(renumbered), seconds))
    assert not naks, naks
    assert not renumbered, renumbered
    assert granted, "not every station was granted its address: %s" % dora.lines[mark:]


def test_a_station_that_starts_sending_a_client_id_keeps_its_address(need, tmp_path):
    # First a client keyed by chaddr (dhclient sends no option 61), then, on
    # the same interface, dhcpcd with an RFC 4361 client id (IAID + DUID), as
    # a boot loader and then the OS would: the same address, one lease.
    need("dhclient", "dhcpcd")
    work = str(tmp_path)
    with Lab(stations=2) as lab:
        dora = Dora(lab, work, capture=False, lease_time=120).start()
        other = CLIENTS["udhcpc"](lab.station(1), work)
        other.start()
        assert other.wait_address(30)
        first = CLIENTS["dhclient"](lab.station(0), work)
        first.start()
        x = ip_of(first.wait_address(30))
        assert x, first.lines[-5:]
        first.stop()  # no RELEASE: the boot loader hands over
        lab.station(0).flush()
        mark = dora.mark()
        second = CLIENTS["dhcpcd"](lab.station(0), work)
        second.start()
        y = ip_of(second.wait_address(30))
        bound = [r for r in dora.stored_leases() if r[2] == "bound"]
        second.stop()
        other.stop()
        dora.stop()
    assert y == x, "dhcpcd got %s, dhclient had %s: %s" % (y, x, dora.lines[mark:])
    assert [r[0] for r in bound].count(x) == 1 and len(bound) == 2, bound

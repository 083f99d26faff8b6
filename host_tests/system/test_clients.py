# dora's server, on the MicroPython unix port in an access-point namespace,
# with the real DHCP clients of Debian in station namespaces: the whole life
# cycle of each (DORA, renewal at T1, release, rebinding, INIT-REBOOT, server
# restart), ten mixed stations at once, and dhcpcd's ARP-probe DECLINE.

import os
import re
import subprocess
import time

import pytest

import netlab
from realnet import CLIENTS, TOOLS, Dhclient, Dhcpcd, Dora, Udhcpc, need, wait_for


@pytest.fixture
def lab(tmp_path):
    need("ip")
    with netlab.Lab(stations=4) as lab:
        lab.workdir = str(tmp_path)
        yield lab


def mac_line(event, mac):
    return r"%s \S+ %s" % (event, re.escape(mac))


@pytest.mark.parametrize("kind", ["udhcpc", "dhclient", "dhcpcd"])
def test_life_cycle(lab, kind):
    """DORA, renewal at T1 without a flash write, release, and the same
    address back afterwards."""
    need(TOOLS[kind])
    dora = Dora(lab, lab.workdir)
    c = CLIENTS[kind](lab, 0, lab.workdir)
    c.start()
    addr = c.address()
    assert addr and addr.startswith("192.168.4.") and addr.endswith("/24"), (addr, c.lines)
    ip = addr.split("/")[0]
    assert dora.wait_line(r"ACK %s %s" % (re.escape(ip), re.escape(c.mac)), 5), dora.lines
    # The client saw the router and DNS server dora handed out.
    hook = wait_for(lambda: [ln for ln in c.lines if "192.168.4.1" in ln and ("router" in ln)], 5)
    assert hook, c.lines
    size = dora.lease_file_size()

    mark = dora.mark()
    assert dora.wait_line(mac_line("RENEW", c.mac), 15, mark), dora.lines  # T1 = 10 s
    assert c.sta.address().split("/")[0] == ip
    assert dora.lease_file_size() == size  # a renewal writes nothing

    mark = dora.mark()
    c.release()
    assert dora.wait_line(mac_line("RELEASE", c.mac), 10, mark), dora.lines
    c.stop()
    c.sta.run(["ip", "addr", "flush", "dev", "eth0"])
    c.start()
    again = c.address()
    assert again and again.split("/")[0] == ip, (again, ip)
    c.stop()
    dora.stop()


@pytest.mark.parametrize("kind", ["dhclient", "dhcpcd"])
def test_client_restart_does_init_reboot_and_keeps_address(lab, kind):
    need(TOOLS[kind])
    dora = Dora(lab, lab.workdir, lease_time=120)
    c = CLIENTS[kind](lab, 0, lab.workdir)
    c.start()
    ip = c.address().split("/")[0]
    c.stop()
    c.sta.run(["ip", "addr", "flush", "dev", "eth0"])
    mark = dora.mark()
    c.start()
    assert c.address().split("/")[0] == ip
    # INIT-REBOOT: a REQUEST straight away, no DISCOVER, so no OFFER.
    assert dora.wait_line(r"(ACK|RENEW) %s %s" % (re.escape(ip), re.escape(c.mac)), 5, mark)
    assert not [ln for ln in dora.lines[mark:] if "OFFER" in ln and c.mac in ln], dora.lines[mark:]
    c.stop()
    dora.stop()


def test_wrong_stored_address_is_naked_and_client_recovers(lab):
    need("dhclient")
    dora = Dora(lab, lab.workdir, lease_time=120)
    c = Dhclient(lab, 0, lab.workdir)
    c.start()
    ip = c.address().split("/")[0]
    c.stop()
    c.sta.run(["ip", "addr", "flush", "dev", "eth0"])
    # The stored lease now names an address of another network.
    with open(c.lease_file()) as f:
        text = f.read()
    with open(c.lease_file(), "w") as f:
        f.write(text.replace(ip, "10.99.0.7"))
    mark = dora.mark()
    c.start()
    got = c.address(30)
    assert dora.wait_line(r"NAK", 20, mark), dora.lines[mark:]
    assert got and got.split("/")[0] == ip  # back through DISCOVER, same address
    c.stop()
    dora.stop()


def test_rebinding_when_server_was_away_at_t1(lab):
    """The server is down at T1, so the unicast renewal goes unanswered and
    the client falls back to REBINDING (broadcast, ciaddr set); the server
    comes back and that broadcast is answered: same address kept."""
    need("udhcpc", "tshark")
    dora = Dora(lab, lab.workdir, lease_time=40)
    c = Udhcpc(lab, 0, lab.workdir)
    c.start()
    ip = c.address().split("/")[0]
    dora.kill()
    # Capture broadcast requests that carry a ciaddr: rebinding (BOOTP
    # ciaddr is 12 bytes into the payload, after the 8-byte UDP header).
    cap = lab.ap.spawn(["tshark", "-n", "-l", "-i", "br0", "-c", "1", "-a", "duration:40",
                        "-f", "udp dst port 67 and dst host 255.255.255.255 and udp[20:4] != 0"],
                       stderr=subprocess.DEVNULL)
    # busybox udhcpc broadcasts right after its unicast renewal fails.
    assert wait_for(lambda: [ln for ln in c.lines if "broadcasting renew" in ln], 35), c.lines
    dora.start()
    mark = dora.mark()
    assert dora.wait_line(mac_line("RENEW", c.mac), 15, mark), (dora.lines[mark:], c.lines)
    assert cap.wait(10) == 0 and ip in cap.stdout.read()
    assert c.sta.address().split("/")[0] == ip
    assert not [ln for ln in c.lines if "lease lost" in ln], c.lines
    c.stop()
    dora.stop()


def test_server_restart_mid_lease_keeps_every_binding(lab):
    need("udhcpc", "dhclient", "dhcpcd")
    dora = Dora(lab, lab.workdir, lease_time=24)
    clients = [Udhcpc(lab, 0, lab.workdir), Dhclient(lab, 1, lab.workdir), Dhcpcd(lab, 2, lab.workdir)]
    for c in clients:
        c.start()
    before = [c.address().split("/")[0] for c in clients]
    assert len(set(before)) == 3
    dora.kill()  # power cut
    dora.start()
    assert dora.wait_line("3 lease\\(s\\) restored", 1), dora.lines
    mark = dora.mark()
    for c in clients:
        assert dora.wait_line(mac_line("RENEW", c.mac), 20, mark), (c.name, dora.lines[mark:])
    assert [c.sta.address().split("/")[0] for c in clients] == before
    for c in clients:
        c.stop()
    dora.stop()


def test_ten_mixed_stations_get_distinct_addresses(lab, tmp_path):
    need("udhcpc", "dhclient", "dhcpcd")
    for _ in range(6):
        lab.add_station()
    dora = Dora(lab, lab.workdir, lease_time=120)
    kinds = [Udhcpc, Dhclient, Dhcpcd]
    clients = [kinds[i % 3](lab, i, lab.workdir) for i in range(10)]
    for c in clients:
        c.start()
    got = [c.address(30) for c in clients]
    assert None not in got, [(c.name, c.lines[-3:]) for c in clients]
    assert len(set(got)) == 10
    offers = [ln.split()[2] for ln in dora.lines if " OFFER " in ln]
    # No address was offered to two different clients.
    owners = {}
    for ln in dora.lines:
        m = re.search(r"OFFER (\S+) (\S+)", ln)
        if m:
            owners.setdefault(m.group(1), set()).add(m.group(2))
    assert all(len(v) == 1 for v in owners.values()), owners
    assert offers
    for c in clients:
        c.stop()
    dora.stop()


def test_dhcpcd_arp_probe_declines_a_squatted_address(lab):
    need("dhcpcd")
    dora = Dora(lab, lab.workdir, lease_time=120, decline_hold=600)
    # A squatter holds the first pool address without asking.
    squatter = lab.station(1)
    squatter.run(["ip", "addr", "add", "192.168.4.16/24", "dev", "eth0"])
    c = Dhcpcd(lab, 0, lab.workdir)
    c.arp = True
    c.start()
    got = c.address(40)
    assert dora.wait_line(r"DECLINE 192\.168\.4\.16", 5), dora.lines
    assert got and got.split("/")[0] != "192.168.4.16", got
    # Quarantined: a newcomer is not offered it either.
    d = Udhcpc(lab, 2, lab.workdir)
    d.start()
    assert d.address().split("/")[0] not in ("192.168.4.16", got.split("/")[0])
    c.stop()
    d.stop()
    dora.stop()


def test_perfdhcp_relay_churns_the_pool(lab):
    """perfdhcp acts as a relay (giaddr = its address): dora answers relayed
    traffic to giaddr:67; a churn of 1000 exchanges over 252 clients on a
    252-address pool, with releases, gives unique addresses and no malformed
    replies."""
    need("perfdhcp", "tshark")
    dora = Dora(lab, lab.workdir, pool_start="192.168.4.2", pool_end="192.168.4.253", lease_time=600, log=False)
    relay = lab.station(0)
    relay.run(["ip", "addr", "add", "192.168.4.254/24", "dev", "eth0"])
    out = relay.run(["perfdhcp", "-4", "-l", "eth0", "-r", "200", "-R", "252", "-n", "1000", "-F", "100",
                     "-p", "20", "192.168.4.1"], timeout=60, check=False).stdout

    def stat(section, name):
        block = out.split("***Statistics for: %s***" % section)[1]
        return int(re.search(r"%s: (\d+)" % name, block).group(1))

    assert stat("REQUEST-ACK", "sent packets") >= 990, out
    # A functional check, not a speed test (that is `make bench`): allow the
    # odd datagram lost on the veth at 200/s.
    assert stat("REQUEST-ACK", "received packets") >= 0.99 * stat("REQUEST-ACK", "sent packets"), out
    assert stat("DISCOVER-OFFER", "received packets") >= 990, out
    for section in ("DISCOVER-OFFER", "REQUEST-ACK"):
        assert stat(section, "non unique addresses") == 0 and stat(section, "rejected leases") == 0, out
    dora.stop()
    assert dora.replies_checked >= 1980
    totals = dora.wait_line("stopped:", 1)
    assert "malformed 0" in totals and "errors 0" in totals, totals

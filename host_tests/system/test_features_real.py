# Provisioning features against real clients, as root in network namespaces
# (dora on the MicroPython unix port in the AP namespace): dhcpcd's Rapid
# Commit, udhcpc's hostname (12), vendor class (60) and requested options
# (a class's and a static host's options, 114 captive portal, 42 NTP), a
# static host's address and name, two pools served by one process, and the
# expiry report.  Every reply dora sends must dissect cleanly in tshark.
#
# Uses tools/dora_lab/netns.py; skips without root/netns (fails in CI).

import os
import re
import signal

import pytest

from dora_lab.netns import Dhcpcd, Dora, Lab, Udhcpc, wait_for


@pytest.fixture
def lab(need, tmp_path):
    need("udhcpc", "dhcpcd", "tshark")
    with Lab(stations=3) as lab:
        lab.workdir = str(tmp_path)
        yield lab


def finish(dora):
    """Stop dora and check every reply it sent in the test."""
    dora.stop()
    replies, problems = dora.check_replies()
    assert replies > 0 and not problems, problems


def test_dhcpcd_rapid_commit_gets_its_ack_from_the_discover(lab):
    dora = Dora(lab, lab.workdir, rapid_commit=True, log=True).start()
    c = Dhcpcd(lab.station(0), lab.workdir, conf="option rapid_commit\n")
    mark = dora.mark()
    c.start()
    assert c.wait_address(), c.lines[-20:]
    line = dora.wait_line(r"ACK \S+ .*rapid-commit", 5, mark)
    assert line, dora.lines[mark:]
    assert not dora.find("OFFER", mark), dora.lines[mark:]
    assert [ln for ln in c.lines if "rapid" in ln.lower() or "acknowledged" in ln], c.lines[-20:]
    c.stop()
    finish(dora)


def test_udhcpc_hostname_vendor_class_and_per_class_options(lab):
    dora = Dora(
        lab, lab.workdir, log=True, hostname_len=15,
        options={"114": "http://192.168.4.1/portal", "42": "192.168.4.1"},
        classes=[{"name": "sensors", "vendor_class": "acme-sensor", "options": {"42": "192.168.4.5", "66": "tftp.lan"},
                  "pool_start": "192.168.4.40", "pool_end": "192.168.4.49"}],
    ).start()
    c = Udhcpc(lab.station(0), lab.workdir)
    c.start(["-x", "hostname:sensor_7", "-V", "acme-sensor v2", "-O", "114", "-O", "42", "-O", "66"])
    ip = c.wait_address()
    assert ip, c.lines
    ip = ip.split("/")[0]
    assert 40 <= int(ip.split(".")[3]) <= 49, ip  # the class's sub-range
    assert dora.wait_line(r"ACK %s %s .*sensor-7" % (re.escape(ip), re.escape(c.mac)), 5), dora.lines
    assert wait_for(lambda: c.options().get("ntpsrv"), 5) == "192.168.4.5", c.options()  # the class's beats the pool's
    opts = c.options()
    assert opts.get("tftp") == "tftp.lan", opts
    assert bytes.fromhex(opts.get("opt114", "")) == b"http://192.168.4.1/portal", opts
    c.stop()
    finish(dora)


def test_static_host_gets_its_address_name_and_options(lab):
    sta = lab.station(1)
    dora = Dora(lab, lab.workdir, log=True, options={"42": "192.168.4.1"},
                static=[{"mac": sta.mac, "address": "192.168.4.30", "hostname": "door",
                         "options": {"42": "192.168.4.7", "114": "http://192.168.4.1/door"}}]).start()
    c = Udhcpc(sta, lab.workdir)
    c.start(["-O", "114", "-O", "42"])
    addr = c.wait_address()
    assert addr and addr.split("/")[0] == "192.168.4.30", (addr, c.lines)
    assert wait_for(lambda: c.options().get("hostname"), 5) == "door", c.lines
    opts = c.options()
    assert opts.get("ntpsrv") == "192.168.4.7", opts
    assert bytes.fromhex(opts.get("opt114", "")) == b"http://192.168.4.1/door", opts
    assert dora.wait_line(r"ACK 192\.168\.4\.30 %s .*door" % re.escape(sta.mac), 5), dora.lines
    c.stop()
    finish(dora)


def test_one_process_serves_two_interfaces(lab):
    # Station 2's port leaves the bridge and becomes a second LAN.
    lab.ap.run(["ip", "link", "set", "p2", "nomaster"])
    lab.ap.run(["ip", "addr", "add", "10.9.0.1/24", "dev", "p2"])
    dora = Dora(lab, lab.workdir)
    second = {
        "address": "10.9.0.1", "pool_start": "10.9.0.16", "pool_end": "10.9.0.30", "interface": "p2",
        "lease_time": 20, "lease_file": os.path.join(lab.workdir, "leases-eth.dat"), "run_seconds": 600,
    }
    dora.cfg = {"servers": [dora.cfg, second]}
    dora.start()
    assert dora.wait_line(r"serving 10\.9\.0\.1", 5), dora.lines
    a = Udhcpc(lab.station(0), lab.workdir)
    b = Udhcpc(lab.station(2), lab.workdir)
    a.start()
    b.start()
    ip_a = (a.wait_address() or "").split("/")[0]
    ip_b = (b.wait_address() or "").split("/")[0]
    assert ip_a.startswith("192.168.4."), (ip_a, a.lines)
    assert ip_b.startswith("10.9.0."), (ip_b, b.lines)
    assert dora.wait_line(r"ACK %s %s" % (re.escape(ip_b), re.escape(b.mac)), 5), dora.lines
    a.stop()
    b.stop()
    finish(dora)  # the capture sees the bridge's replies only


def test_expiry_of_a_vanished_client_is_reported(lab):
    """The runner's sweep reports a lease that ran out (no packet marks it)."""
    dora = Dora(lab, lab.workdir, lease_time=10, log=True).start()
    c = Udhcpc(lab.station(0), lab.workdir)
    c.start()
    ip = (c.wait_address() or "").split("/")[0]
    assert ip, c.lines
    mark = dora.mark()
    c.stop(signal.SIGKILL)  # gone without a RELEASE
    assert dora.wait_line(r"EXPIRED %s %s" % (re.escape(ip), re.escape(c.mac)), 25, mark), dora.lines[mark:]
    finish(dora)

# Provisioning features against real clients, as root in network namespaces
# (dora on the MicroPython unix port in the AP namespace): dhcpcd's Rapid
# Commit, udhcpc's hostname (12), vendor class (60) and requested options
# (a class's and a static host's options, 114 captive portal, 42 NTP), a
# static host's address and name, and two pools served by one process.
#
# Uses host_tests/system/realnet.py (netlab's Lab); skips without root/netns.

import os
import re

import pytest

import netlab
from realnet import Dhcpcd, Dora, Udhcpc, need, wait_for

# udhcpc hook that also prints the options under test: busybox exports
# known options by name (hostname, ntpsrv, tftp) and others as optNNN (hex).
UDHCPC_SHOW = """#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    echo "udhcpc $1: $ip/$mask"
    env | grep -E '^(hostname|ntpsrv|tftp|opt[0-9]+)=' | sort | sed 's/^/udhcpc opt: /' ;;
  deconfig) ip addr flush dev "$interface" ;;
esac
exit 0
"""


@pytest.fixture
def lab(tmp_path):
    need("ip")
    with netlab.Lab(stations=3) as lab:
        lab.workdir = str(tmp_path)
        yield lab


class RapidDhcpcd(Dhcpcd):
    """dhcpcd with `option rapid_commit` in its conf (Debian 12's 9.4 has it)."""

    def start(self):
        conf = os.path.join(self.dir, "dhcpcd.conf")
        with open(conf, "w") as f:
            f.write("ipv4only\nnoipv4ll\nnoarp\noption rapid_commit\n")
        db = os.path.join(self.dir, "db")
        os.makedirs(db, exist_ok=True)
        cmd = ("mount --bind %s /var/lib/dhcpcd && mkdir -p /run/dhcpcd && mount -t tmpfs none /run/dhcpcd"
               " && exec dhcpcd -B -d -4 -f %s -c %s eth0" % (db, conf, self.scripts["dhclient.sh"]))
        self._spawn(["sh", "-c", cmd])


def show_udhcpc(c, extra):
    path = os.path.join(c.dir, "show.sh")
    with open(path, "w") as f:
        f.write(UDHCPC_SHOW)
    os.chmod(path, 0o755)
    c._spawn(["udhcpc", "-f", "-i", "eth0", "-s", path, "-t", "10", "-T", "2", "-A", "2"] + extra)


def opts_of(c):
    out = {}
    for ln in c.lines:
        m = re.match(r"udhcpc opt: (\w+)=(.*)", ln)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def test_dhcpcd_rapid_commit_gets_its_ack_from_the_discover(lab):
    need("dhcpcd")
    dora = Dora(lab, lab.workdir, rapid_commit=True, log=True)
    c = RapidDhcpcd(lab, 0, lab.workdir)
    mark = dora.mark()
    c.start()
    addr = c.address()
    assert addr, c.lines[-20:]
    line = dora.wait_line(r"ACK \S+ %s .*rapid-commit" % re.escape(c.mac), 5, mark)
    assert line, dora.lines[mark:]
    assert not [ln for ln in dora.lines[mark:] if "OFFER" in ln and c.mac in ln], dora.lines[mark:]
    assert [ln for ln in c.lines if "rapid" in ln.lower() or "acknowledged" in ln], c.lines[-20:]
    c.stop()
    dora.stop()


def test_udhcpc_hostname_vendor_class_and_per_class_options(lab):
    need("udhcpc")
    dora = Dora(
        lab, lab.workdir, log=True, hostname_len=15,
        options={"114": "http://192.168.4.1/portal", "42": "192.168.4.1"},
        classes=[{"name": "sensors", "vendor_class": "acme-sensor", "options": {"42": "192.168.4.5", "66": "tftp.lan"},
                  "pool_start": "192.168.4.40", "pool_end": "192.168.4.49"}],
    )
    c = Udhcpc(lab, 0, lab.workdir)
    show_udhcpc(c, ["-x", "hostname:sensor_7", "-V", "acme-sensor v2", "-O", "114", "-O", "42", "-O", "66"])
    addr = c.address()
    assert addr, c.lines
    ip = addr.split("/")[0]
    assert 40 <= int(ip.split(".")[3]) <= 49, ip  # the class's sub-range
    assert dora.wait_line(r"ACK %s %s .*sensor-7" % (re.escape(ip), re.escape(c.mac)), 5), dora.lines
    got = wait_for(lambda: opts_of(c).get("ntpsrv"), 5)
    opts = opts_of(c)
    assert got == "192.168.4.5", opts  # the class's NTP server beats the pool's
    assert opts.get("tftp") == "tftp.lan", opts
    portal = opts.get("opt114", "")
    assert bytes.fromhex(portal) == b"http://192.168.4.1/portal", opts
    c.stop()
    dora.stop()


def test_static_host_gets_its_address_name_and_options(lab):
    need("udhcpc")
    mac = lab.mac(1)
    dora = Dora(lab, lab.workdir, log=True, options={"42": "192.168.4.1"},
                static=[{"mac": mac, "address": "192.168.4.30", "hostname": "door",
                         "options": {"42": "192.168.4.7", "114": "http://192.168.4.1/door"}}])
    c = Udhcpc(lab, 1, lab.workdir)
    show_udhcpc(c, ["-O", "114", "-O", "42"])
    addr = c.address()
    assert addr and addr.split("/")[0] == "192.168.4.30", (addr, c.lines)
    assert wait_for(lambda: opts_of(c).get("hostname"), 5) == "door", c.lines
    opts = opts_of(c)
    assert opts.get("ntpsrv") == "192.168.4.7", opts
    assert bytes.fromhex(opts.get("opt114", "")) == b"http://192.168.4.1/door", opts
    assert dora.wait_line(r"ACK 192\.168\.4\.30 %s .*door" % re.escape(mac), 5), dora.lines
    c.stop()
    dora.stop()


class TwoPools(Dora):
    """One dora process serving the bridge (192.168.4.0/24) and a second
    interface (10.9.0.0/24) from one config: {"servers": [a, b]}."""

    second = None

    def start(self):
        if "servers" not in self.cfg:
            self.cfg = {"servers": [self.cfg, self.second]}
        Dora.start(self)


def test_one_process_serves_two_interfaces(lab):
    need("udhcpc")
    # Station 2's port leaves the bridge and becomes the second LAN.
    lab.ap.run(["ip", "link", "set", "p2", "nomaster"])
    lab.ap.run(["ip", "addr", "add", "10.9.0.1/24", "dev", "p2"])
    TwoPools.second = {
        "address": "10.9.0.1", "pool_start": "10.9.0.16", "pool_end": "10.9.0.30", "interface": "p2",
        "lease_time": 20, "lease_file": os.path.join(lab.workdir, "leases-eth.dat"), "run_seconds": 600,
    }
    dora = TwoPools(lab, lab.workdir)
    assert dora.wait_line(r"serving 10\.9\.0\.1", 5), dora.lines
    a = Udhcpc(lab, 0, lab.workdir)
    b = Udhcpc(lab, 2, lab.workdir)
    a.start()
    b.start()
    ip_a = (a.address() or "").split("/")[0]
    ip_b = (b.address() or "").split("/")[0]
    assert ip_a.startswith("192.168.4."), (ip_a, a.lines)
    assert ip_b.startswith("10.9.0."), (ip_b, b.lines)
    assert dora.wait_line(r"ACK %s %s" % (re.escape(ip_b), re.escape(lab.mac(2))), 5), dora.lines
    a.stop()
    b.stop()
    dora.stop()


def test_expiry_of_a_vanished_client_is_reported(lab):
    """The runner's sweep reports a lease that ran out (no packet marks it)."""
    need("udhcpc")
    import signal

    dora = Dora(lab, lab.workdir, lease_time=10, log=True)
    c = Udhcpc(lab, 0, lab.workdir)
    c.start()
    ip = (c.address() or "").split("/")[0]
    assert ip, c.lines
    mark = dora.mark()
    lab.stop(c.proc, signal.SIGKILL)  # gone without a RELEASE
    assert dora.wait_line(r"EXPIRED %s %s" % (re.escape(ip), re.escape(c.mac)), 25, mark), dora.lines[mark:]
    dora.stop()

"""dora's DHCP client, on the MicroPython unix port, against real servers
(root: network namespaces from netns.Lab).

Each server runs in the lab's AP namespace, bound to its bridge only, with its
config and lease file in a temporary directory, and is ended by its PID.
dora's client runs in a station namespace (boards/unix/client_main.py, which
applies the lease with `ip addr`), gets a lease, renews at T1, and releases
on SIGINT; tshark in the station checks every message the client sent.

The times from the client's start to BOUND are printed (the client's own
measurement from run() to the ACK, and the wall time from spawning the
process, which adds the interpreter's start-up):
  - dnsmasq: DISCOVER, INIT-REBOOT after a reboot of the client and a restart
    of dnsmasq, Rapid Commit (--dhcp-rapid-commit)
  - busybox udhcpd, kea-dhcp4: DISCOVER
Without root (or a tool) the tests skip and say why; with CI=true they fail.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from dora_lab import netns

ROOT = netns.ROOT
CLIENT_MAIN = os.path.join(ROOT, "boards", "unix", "client_main.py")
BOUND_RE = r"^dora-client: BOUND (\S+)/(\d+) from (\S+) lease (\d+)s .*\((\S+)\) in (\d+) ms"
FIGURES = []  # (server, mode, client ms, wall ms), printed at the end


@pytest.fixture
def lab(need):
    need("tshark")
    with netns.Lab(stations=1) as lab:
        yield lab


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="dora-client-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


class DoraClient:
    """boards/unix/client_main.py in the lab's station 0; its log lines are
    collected in `lines`."""

    def __init__(self, lab, workdir, **config):
        self.lab = lab
        self.sta = lab.station(0)
        self.workdir = workdir
        self.cfg = {
            "interface": self.sta.ifname,
            "hostname": "dora-client",
            "lease_file": os.path.join(workdir, "client-lease.dat"),
            "run_seconds": 120,  # a bound, should a test's teardown fail
            "release_on_stop": True,
        }
        self.cfg.update(config)
        self.lines = []
        self.proc = None
        self.spawned = 0.0

    def start(self):
        path = os.path.join(self.workdir, "client.json")
        with open(path, "w") as f:
            json.dump(self.cfg, f)
        env = dict(os.environ, MICROPYPATH=os.path.join(ROOT, "firmware") + ":.frozen")
        self.lines = []
        self.spawned = time.monotonic()
        self.proc = self.sta.spawn([netns.micropython_binary(), CLIENT_MAIN, path], cwd=self.workdir, env=env)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        return self

    def _read(self, proc):
        for line in proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip()))

    def wait_line(self, pattern, timeout=30):
        """The first match of pattern among the lines (waiting up to timeout
        s) and the time it was read, or (None, None)."""
        end = time.monotonic() + timeout
        while True:
            for t, line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m, t
            if time.monotonic() >= end or (self.proc.poll() is not None and not self._reading()):
                return None, None
            time.sleep(0.02)

    def _reading(self):
        time.sleep(0.1)  # let the reader thread take the last lines
        return False

    def wait_bound(self, timeout=30):
        m, t = self.wait_line(BOUND_RE, timeout)
        assert m, "no lease: %s" % self.text()
        return m, int((t - self.spawned) * 1000)

    def text(self):
        return "\n".join(line for _, line in self.lines)

    def interrupt(self):
        """SIGINT: the client releases (release_on_stop) and exits.  Sent
        once the lease is applied: while os.system() runs `ip`, the C
        library's system() ignores SIGINT in the caller."""
        assert self.wait_line(r"^dora-client: applied ", 10)[0], self.text()
        # A renewal runs `ip` again (to refresh the address's lifetime): a
        # SIGINT that lands then is lost, so one more after a pause.
        for _ in range(3):
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(3)
            except subprocess.TimeoutExpired:
                pass
        return self.lab.stop(self.proc, signal.SIGKILL, 5)

    def power_cut(self):
        return self.lab.stop(self.proc, signal.SIGKILL, 5)


def record(server, mode, m, wall, capsys):
    ms = int(m.group(6))
    FIGURES.append((server, mode, ms, wall))
    with capsys.disabled():
        print("\n  time to bound: %-8s %-21s client %5d ms, process start to bound %5d ms" % (server, mode, ms, wall))


def life_cycle(lab, workdir, server_name, capsys, expect_mode="discover"):
    """Lease, renewal at T1, release; the interface is configured and then
    cleared; every message the client sent is well formed."""
    cap = lab.capture(os.path.join(workdir, "client.pcap"), "udp src port 68", ns=lab.station(0))
    c = DoraClient(lab, workdir).start()
    m, wall = c.wait_bound()
    assert m.group(5) == expect_mode
    address = m.group(1)
    record(server_name, expect_mode, m, wall, capsys)
    sta = lab.station(0)
    assert netns.wait_for(lambda: sta.address() == "%s/%s" % (address, m.group(2)), 5), sta.addresses()
    assert netns.wait_for(lambda: sta.default_router() == netns.AP_ADDRESS, 5), sta.default_router()  # applied just after the address
    assert c.wait_line(r"^dora-client: RENEWED %s from" % re.escape(address), 30)[0], c.text()
    assert c.interrupt() is not None
    assert c.wait_line(r"^dora-client: RELEASED %s" % re.escape(address), 5)[0], c.text()
    assert netns.wait_for(lambda: sta.address() is None, 5), sta.addresses()
    assert not os.path.exists(c.cfg["lease_file"])
    cap.stop()
    assert cap.count("dhcp.option.dhcp == 7") == 1  # one RELEASE
    assert cap.count("dhcp.option.dhcp == 3") >= 2  # REQUEST, renewal REQUEST
    assert cap.problems() == []
    return address, c


# -- dnsmasq ------------------------------------------------------------------

class Dnsmasq:
    def __init__(self, lab, workdir, *extra, dhcp_range="192.168.4.50,192.168.4.99"):
        self.lab = lab
        self.workdir = workdir
        self.extra = list(extra)
        self.range = dhcp_range
        self.proc = None
        self.lines = []

    def start(self):
        d = self.workdir
        argv = [
            "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--log-dhcp",
            "--interface=%s" % self.lab.ap_ifname, "--bind-interfaces", "--dhcp-authoritative",
            "--dhcp-range=%s,2m" % self.range,
            # dnsmasq's shortest lease is 2 min: short T1/T2 make it renew soon.
            "--dhcp-option=option:T1,4", "--dhcp-option=option:T2,8",
            "--dhcp-leasefile=%s/dnsmasq.leases" % d, "--pid-file=%s/dnsmasq.pid" % d,
        ] + self.extra
        self.proc = self.lab.ap.spawn(argv)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        assert netns.wait_for(lambda: any("DHCP, sockets bound" in x for x in self.lines), 10), self.lines
        return self

    def _read(self, proc):
        for line in proc.stdout:
            self.lines.append(line.rstrip())

    def stop(self):
        self.lab.stop(self.proc)


def test_dnsmasq_lease_renew_release(lab, workdir, capsys, need):
    need("dnsmasq")
    srv = Dnsmasq(lab, workdir).start()
    address, _ = life_cycle(lab, workdir, "dnsmasq", capsys)
    assert netns.wait_for(lambda: any("DHCPRELEASE" in x and address in x for x in srv.lines), 5)
    assert any("client provides name: dora-client" in x for x in srv.lines)


def test_dnsmasq_init_reboot_after_restart(lab, workdir, capsys, need):
    need("dnsmasq")
    srv = Dnsmasq(lab, workdir).start()
    c = DoraClient(lab, workdir).start()
    m, _ = c.wait_bound()
    address = m.group(1)
    assert os.path.exists(c.cfg["lease_file"])
    # A power cut on the board: no RELEASE; the interface comes back empty.
    c.power_cut()
    lab.station(0).flush()
    srv.stop()
    srv = Dnsmasq(lab, workdir).start()  # same lease file
    c = DoraClient(lab, workdir).start()
    m, wall = c.wait_bound()
    assert m.group(1) == address and m.group(5) == "init-reboot", c.text()
    record("dnsmasq", "init-reboot", m, wall, capsys)
    assert "stored lease %s" % address in c.text()
    # Two messages: REQUEST (50) and ACK, no DISCOVER.
    assert not any("DHCPDISCOVER" in x for x in srv.lines), srv.lines
    c.interrupt()


def test_dnsmasq_rapid_commit(lab, workdir, capsys, need):
    need("dnsmasq")
    srv = Dnsmasq(lab, workdir, "--dhcp-rapid-commit").start()
    cap = lab.capture(os.path.join(workdir, "rc.pcap"), "udp port 67 or udp port 68", ns=lab.station(0))
    c = DoraClient(lab, workdir, rapid_commit=True).start()
    m, wall = c.wait_bound()
    assert m.group(5) == "rapid-commit", c.text()
    record("dnsmasq", "rapid-commit", m, wall, capsys)
    c.interrupt()
    cap.stop()
    assert cap.count("dhcp.option.dhcp == 2") == 0  # no OFFER
    # ACKs with option 80 to a client without an address, for the DISCOVER's
    # xid (dnsmasq answers a retransmitted DISCOVER too, while it pings; the
    # client ignores the second ACK).  Renewals, should the test be slow,
    # carry ciaddr.
    acks = cap.lines("dhcp.option.dhcp == 5 and dhcp.option.type == 80 and dhcp.ip.client == 0.0.0.0", fields=["dhcp.id"])
    discovers = cap.lines("dhcp.option.dhcp == 1", fields=["dhcp.id"])
    assert acks and set(acks) <= set(discovers), (acks, discovers)
    assert cap.problems() == []
    assert any("DHCPACK" in x for x in srv.lines)


def test_dnsmasq_without_ping_check(lab, workdir, capsys, need):
    """dnsmasq pings a new address for up to 3 s before offering it; without
    that the exchange itself is what is measured."""
    need("dnsmasq")
    Dnsmasq(lab, workdir, "--no-ping", "--dhcp-rapid-commit").start()
    for rapid in (False, True):
        c = DoraClient(lab, workdir, rapid_commit=rapid).start()
        m, wall = c.wait_bound()
        record("dnsmasq", m.group(5) + ",no-ping", m, wall, capsys)
        c.interrupt()
        assert c.wait_line(r"^dora-client: RELEASED", 5)[0], c.text()


# -- busybox udhcpd -------------------------------------------------------------

def udhcpd(lab, workdir, lease, *flags):
    """busybox udhcpd in the AP namespace, its files in workdir."""
    conf = os.path.join(workdir, "udhcpd.conf")
    with open(conf, "w") as f:
        f.write(
            "start 192.168.4.50\nend 192.168.4.99\ninterface %s\n"
            "lease_file %s/udhcpd.leases\npidfile %s/udhcpd.pid\n"
            "option subnet 255.255.255.0\noption router %s\noption lease %d\n"
            % (lab.ap_ifname, workdir, workdir, netns.AP_ADDRESS, lease)
        )
    return lab.ap.spawn(["udhcpd", "-f"] + list(flags) + [conf])


def test_udhcpd_lease_renew_release(lab, workdir, capsys, need):
    need("udhcpd")
    udhcpd(lab, workdir, 10)
    life_cycle(lab, workdir, "udhcpd", capsys)


def test_udhcpd_without_arp_check(lab, workdir, capsys, need):
    """udhcpd ARP-pings a new address for 2 s before offering it (-a)."""
    need("udhcpd")
    udhcpd(lab, workdir, 60, "-a", "0")
    c = DoraClient(lab, workdir).start()
    m, wall = c.wait_bound()
    record("udhcpd", "discover,no-arp", m, wall, capsys)
    c.interrupt()


# -- ISC Kea ---------------------------------------------------------------------

def kea(lab, workdir, valid=20, renew=4, rebind=8, lease_file=None):
    """kea-dhcp4 in the AP namespace, its files in workdir; (process, lines)."""
    conf = os.path.join(workdir, "kea.json")
    with open(conf, "w") as f:
        json.dump(
            {
                "Dhcp4": {
                    "interfaces-config": {"interfaces": [lab.ap_ifname]},
                    "lease-database": {"type": "memfile", "name": lease_file or os.path.join(workdir, "kea-leases4.csv"), "lfc-interval": 0},
                    "valid-lifetime": valid,
                    "renew-timer": renew,
                    "rebind-timer": rebind,
                    "subnet4": [
                        {
                            "id": 1,
                            "subnet": "192.168.4.0/24",
                            "pools": [{"pool": "192.168.4.100 - 192.168.4.150"}],
                            "option-data": [{"name": "routers", "data": netns.AP_ADDRESS}],
                        }
                    ],
                    "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "INFO"}],
                }
            },
            f,
        )
    env = dict(os.environ, KEA_PIDFILE_DIR=workdir, KEA_LOCKFILE_DIR=workdir)
    proc = lab.ap.spawn(["kea-dhcp4", "-c", conf], env=env)
    lines = []
    threading.Thread(target=lambda: [lines.append(x) for x in proc.stdout], daemon=True).start()
    assert netns.wait_for(lambda: any("DHCP4_STARTED" in x for x in lines) or proc.poll() is not None, 15)
    assert proc.poll() is None, "".join(lines)
    return proc, lines


def test_kea_lease_renew_release(lab, workdir, capsys, need):
    need("kea-dhcp4")
    _, lines = kea(lab, workdir)
    address, _ = life_cycle(lab, workdir, "kea", capsys)
    assert netns.wait_for(lambda: any("DHCP4_RELEASE" in x for x in lines), 5), "".join(lines[-20:])


# -- the address outlives the first lease period ---------------------------------
# The adapter gives the kernel the lease time as the address's lifetime; each
# renewal must extend it, or the kernel removes the address one lease period
# after binding and the next renewal leaves from 0.0.0.0.

SHORT_LEASE = 20


def start_server(kind, lab, workdir):
    if kind == "kea":
        kea(lab, workdir, valid=SHORT_LEASE, renew=SHORT_LEASE // 2, rebind=SHORT_LEASE * 7 // 8)
    elif kind == "udhcpd":
        udhcpd(lab, workdir, SHORT_LEASE, "-a", "0")
    else:
        netns.Dora(lab, workdir, capture=False, lease_time=SHORT_LEASE).start()


@pytest.mark.parametrize("server", ["kea", "udhcpd", "dora"])
def test_address_kept_over_several_lease_periods(lab, workdir, server, need, capsys):
    need({"kea": "kea-dhcp4", "udhcpd": "udhcpd", "dora": "tshark"}[server])
    start_server(server, lab, workdir)
    sta = lab.station(0)
    cap = lab.capture(os.path.join(workdir, "keep.pcap"), "udp port 67 or udp port 68", ns=sta)
    c = DoraClient(lab, workdir).start()
    m, _ = c.wait_bound()
    address, cidr = m.group(1), "%s/%s" % (m.group(1), m.group(2))
    assert int(m.group(4)) == SHORT_LEASE
    # BOUND is logged as the lease is taken, "applied" once the address is
    # on the interface: the check starts from there.
    assert c.wait_line(r"^dora-client: applied ", 10)[0], c.text()
    # Two and a half lease periods, checking the address all along.
    end = time.monotonic() + SHORT_LEASE * 2.5
    missing = []
    while time.monotonic() < end:
        if cidr not in sta.addresses():
            missing.append(round(SHORT_LEASE * 2.5 - (end - time.monotonic()), 1))
        time.sleep(0.5)
    assert not missing, "address gone at %s s after binding: %s" % (missing[:3], c.text())
    assert c.interrupt() is not None
    assert c.wait_line(r"^dora-client: stopped .* errors 0,", 5)[0], c.text()
    cap.stop()
    renewals = c.text().count("RENEWED %s " % address)
    assert renewals >= 4, c.text()  # T1 = 10 s: at 10, 20, 30, 40 s
    # Every REQUEST with ciaddr (a renewal) and the RELEASE left from the
    # leased address, and each renewal was ACKed to it.
    sent = cap.lines("udp.srcport == 68 and dhcp.ip.client != 0.0.0.0", fields=["ip.src", "dhcp.option.dhcp"])
    assert len(sent) >= renewals + 1, sent
    assert all(line.split("\t")[0] == address for line in sent), sent
    acks = cap.lines("udp.srcport == 67 and dhcp.option.dhcp == 5 and dhcp.ip.client == %s" % address)
    assert len(acks) >= renewals, acks
    with capsys.disabled():
        print("\n  %s, lease %d s: address held %d s after binding, %d renewals from %s, %d ACKed"
              % (server, SHORT_LEASE, SHORT_LEASE * 5 // 2, renewals, address, len(acks)))


def test_address_gone_from_outside_is_applied_again_or_counted(lab, workdir, need):
    """Someone removes the address (`ip addr flush`): the next RENEW puts it
    back before it leaves; a RELEASE that can only leave from 0.0.0.0 is
    counted as an error, not reported as a clean stop."""
    need("tshark")
    start_server("dora", lab, workdir)
    sta = lab.station(0)
    cap = lab.capture(os.path.join(workdir, "gone.pcap"), "udp src port 68", ns=sta)
    c = DoraClient(lab, workdir).start()
    m, _ = c.wait_bound()
    address, cidr = m.group(1), "%s/%s" % (m.group(1), m.group(2))
    assert c.wait_line(r"^dora-client: applied ", 10)[0], c.text()
    sta.flush()
    assert c.wait_line(r"^dora-client: %s was gone from the interface: applied again" % re.escape(address), SHORT_LEASE)[0], c.text()
    assert c.wait_line(r"^dora-client: RENEWED %s " % re.escape(address), 5)[0], c.text()
    assert cidr in sta.addresses()
    sta.flush()
    assert c.interrupt() is not None
    assert c.wait_line(r"^dora-client: send failed: %s is not on the interface" % re.escape(address), 5)[0], c.text()
    assert c.wait_line(r"^dora-client: stopped .* errors 1,", 5)[0], c.text()
    cap.stop()
    renewals = cap.lines("dhcp.option.dhcp == 3 and dhcp.ip.client != 0.0.0.0", fields=["ip.src"])
    assert renewals and all(src == address for src in renewals), renewals


# -- a NAK after a power cut removes the stale address ---------------------------

def test_nak_after_power_cut_removes_the_stale_address(lab, workdir, need):
    """The client is killed while bound (the kernel keeps its address), the
    network is renumbered, and at the next start dnsmasq NAKs the stored
    address: that address must leave the interface; only the new one stays."""
    need("dnsmasq")
    srv = Dnsmasq(lab, workdir).start()
    sta = lab.station(0)
    c = DoraClient(lab, workdir).start()
    m, _ = c.wait_bound()
    old = "%s/%s" % (m.group(1), m.group(2))
    assert netns.wait_for(lambda: old in sta.addresses(), 5), sta.addresses()
    c.power_cut()
    assert sta.addresses() == [old]  # still there, as after a crash
    srv.stop()
    os.remove(os.path.join(workdir, "dnsmasq.leases"))
    srv = Dnsmasq(lab, workdir, dhcp_range="192.168.4.150,192.168.4.199").start()
    c = DoraClient(lab, workdir).start()
    assert c.wait_line(r"^dora-client: NAK %s$" % re.escape(m.group(1)), 20)[0], c.text()
    m2, _ = c.wait_bound()
    new = "%s/%s" % (m2.group(1), m2.group(2))
    assert new != old
    assert netns.wait_for(lambda: sta.addresses() == [new], 5), (sta.addresses(), c.text())
    c.interrupt()


# -- a site outgrows its board: Kea takes over dora's leases ----------------------

def test_kea_takes_over_leases_written_by_tools_leases(lab, workdir, need):
    """dora's lease file -> tools/leases.py --kea -> Kea's memfile: Kea loads
    it and gives the station the address dora had leased it (not the first
    free one of its pool)."""
    need("kea-dhcp4")
    sys.path.insert(0, os.path.join(ROOT, "host_tests", "core"))
    import helpers  # dora's Server in memory, writing a real lease file

    dora_file = os.path.join(workdir, "dora-leases.dat")
    s = helpers.make_server(dora_file, pool_start="192.168.4.120", pool_end="192.168.4.130")
    other = helpers.Client(s, 9)
    other.dora(0)  # 192.168.4.120, to a MAC not in the lab
    station = helpers.Client(s, 0)
    station.mac = bytes(int(x, 16) for x in lab.station(0).mac.split(":"))
    leased = station.dora(0)
    assert leased == "192.168.4.121"
    s.store.commit(0)
    s.store.close()
    csv = os.path.join(workdir, "kea-leases4.csv")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "leases.py"), dora_file, "--kea"],
                         capture_output=True, text=True, check=True)
    with open(csv, "w") as f:
        f.write(out.stdout)
    _, lines = kea(lab, workdir, valid=600, renew=300, rebind=500, lease_file=csv)
    assert any("DHCPSRV_MEMFILE_LEASE_FILE_LOAD" in x for x in lines), "".join(lines)
    c = DoraClient(lab, workdir).start()
    m, _ = c.wait_bound()
    assert m.group(1) == leased, c.text()  # Kea's pool starts at .100: it knew the lease
    c.interrupt()

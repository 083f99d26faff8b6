"""The stock W5500-EVB-Pico MicroPython image, emulated, serving real clients.

The board: rp2040js running the unmodified W5500_EVB_PICO image, a W5500
model on its SPI bus (tools/emu/w5500.mjs), its Ethernet frames bridged to a
veth in the lab's AP namespace (tools/ethbridge.py), its flash erased and
programmed in a file (tools/emu/flash.mjs).  dora goes on it with
`make deploy BOARD=ethernet ARCH=armv6m PORT=socket://...` (mpremote over the
board's USB-CDC socket), and a reset boots it.  Then real clients in station
namespaces: udhcpc, dhclient, dhcpcd; renewal, release, INIT-REBOOT after
power cuts at random moments; tshark on every reply; the board's own log
lines against what the clients got.

Root, node and the image are needed; without them this module skips with one
line.  The emulator runs at a fraction of real time, so every wait is
bounded and generous.
"""

import json
import os
import random
import re
import shutil
import sys
import subprocess
import tempfile
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)

import ethernet_bench  # noqa: E402
import ethernet_board as EB  # noqa: E402
import leases as lease_tool  # noqa: E402
from dora_lab import netns  # noqa: E402
from dora_lab.netns import Dhclient, Dhcpcd, Lab, Udhcpc, wait_for  # noqa: E402

LEASE = 40  # seconds: T1 at 20 s, so a renewal happens within a test
POOL = ("192.168.4.16", "192.168.4.250")
MPREMOTE = shutil.which("mpremote", path=os.path.join(ROOT, ".venv", "bin")) or "mpremote"

why = EB.missing() or netns.available()
pytestmark = pytest.mark.skipif(bool(why), reason=why or "")


def in_pool(ip):
    v = [int(x) for x in ip.split(".")]
    lo = [int(x) for x in POOL[0].split(".")]
    hi = [int(x) for x in POOL[1].split(".")]
    return lo <= v <= hi


class Rig:
    def __init__(self, lab, workdir):
        self.lab = lab
        self.workdir = workdir
        self.bridge, sock = EB.plug_board(lab, workdir)
        self.capture = lab.capture(os.path.join(workdir, "replies.pcap"), "udp src port 67")
        self.router = EB.EmulatedRouter(workdir, eth_socket=sock)
        self.config = os.path.join(workdir, "board.json")
        with open(self.config, "w") as f:
            json.dump(EB.board_config(lease_time=LEASE), f)

    def board_leases(self):
        """The lease file read off the board, restored by dora's own code
        on the host: {address: (client, state)}."""
        data = self.router.read_file("/leases.dat")
        path = os.path.join(self.workdir, "leases-from-board.dat")
        with open(path, "wb") as f:
            f.write(data)
        rows, _ = lease_tool.restore(path)
        return {r[0]: (r[1], r[2].upper()) for r in rows}

    def logged(self, events, ip, key, since, timeout=60):
        """The board's own console line for this event ("ACK", "RENEW|ACK",
        ...) about this address and client key, printed after `since`;
        None if it did not come within timeout."""
        return self.router.wait_line(r"^dora: (%s) %s %s" % (events, re.escape(ip), re.escape(key)), timeout, since)

    def dora_ctl(self, *argv, timeout=300):
        """tools/dora_ctl.py against the board, as a user runs it: one
        mpremote run over the board's USB-CDC socket that stops dora, makes
        the change and resets the board; then wait until it serves again."""
        self.router.detach_console()
        resets = self.router.resets
        mark = self.router.mark()
        out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "dora_ctl.py"), "--device", self.router.url(),
                              "--mpremote", MPREMOTE] + list(argv), capture_output=True, text=True, timeout=timeout)
        assert wait_for(lambda: self.router.resets > resets, 60), "dora_ctl did not reset the board: %s" % out.stdout
        assert self.router.wait_line(r"^dora: serving ", 240, mark), self.router.lines[mark:]
        return out

    def restart_serving(self, timeout=180):
        mark = self.router.mark()
        self.router.soft_reset()
        assert self.router.wait_line(r"^dora: serving ", timeout, mark), self.router.lines[mark:]


@pytest.fixture(scope="module")
def rig():
    workdir = tempfile.mkdtemp(prefix="dora-ethboard-test-")
    with Lab(stations=15) as lab:
        r = Rig(lab, workdir)
        try:
            r.router.start()
            t = time.monotonic()
            EB.deploy(r.router, r.config)
            r.deploy_seconds = time.monotonic() - t
            yield r
        finally:
            r.router.stop()


def test_deploy_installs_dora_and_the_reset_boots_it(rig):
    line = rig.router.wait_line(r"^dora: serving ", 240)
    assert line, "no serving line after deploy + reset: %s" % rig.router.lines[-20:]
    assert "192.168.4.1 port 67 pool 192.168.4.16-192.168.4.250" in line
    assert rig.router.find(r"^LAN W5500 up at 192\.168\.4\.1")
    assert rig.router.resets == 1, "mpremote reset -> machine.reset() -> one restart"
    print("deploy + reset: %.0f s wall" % rig.deploy_seconds)


def test_station_pings_the_board(rig):
    sta = rig.lab.station(4)
    sta.run(["ip", "addr", "add", "192.168.4.5/24", "dev", sta.ifname])
    try:
        got = EB.ping(sta, "192.168.4.1", 3)
    finally:
        sta.flush()
    assert len(got) == 3 and all(ok for _, _, ok in got), got


def test_udhcpc_dhclient_dhcpcd_get_leases_the_board_logged(rig):
    mark = rig.router.mark()
    clients = [Udhcpc(rig.lab.station(0), rig.workdir), Dhclient(rig.lab.station(1), rig.workdir),
               Dhcpcd(rig.lab.station(2), rig.workdir)]
    rig.clients = clients
    clients[0].start(["-R"])  # -R: release on exit
    clients[1].start()
    clients[2].start()
    for c in clients:
        addr = c.wait_address(120)
        assert addr, "%s got no address: %s" % (c.name, c.lines[-10:])
        ip = addr.split("/")[0]
        assert in_pool(ip) and addr.endswith("/24")
        lease = wait_for(c.last_lease, 10)
        assert lease and lease["ip"] == ip and lease["router"].split()[0] == "192.168.4.1", lease
        # The board's own log: this address offered, then bound, to this client.
        key = c.mac if c.keyed_by_mac else "id:"
        assert rig.logged("OFFER", ip, key, mark), "board log has no OFFER of %s (%s): %s" % (ip, c.name, rig.router.lines[mark:])
        assert rig.logged("ACK", ip, key, mark), "board log has no ACK of %s (%s): %s" % (ip, c.name, rig.router.lines[mark:])
    ips = {c.ip() for c in clients}
    assert len(ips) == 3


def test_renewal_at_t1_is_acked(rig):
    """udhcpc renews at T1 by unicast (its kernel UDP socket: the bridge
    fills in the checksum the veth left to offload) and the board ACKs it."""
    udhcpc = rig.clients[0]
    ip = udhcpc.ip()
    since = udhcpc.mark()
    board_since = rig.router.mark()
    renewed = wait_for(lambda: [ln for ln in udhcpc.lease_lines(since) if ln.startswith("LEASE renew")], 120, 0.5)
    assert renewed and "ip=%s" % ip in renewed[0], udhcpc.lines[since:]
    assert not [ln for ln in udhcpc.lines[since:] if "broadcasting renew" in ln], "the unicast renewal went unanswered"
    # The ACK on the wire, from the board to the client's address.
    # (tshark writes its file in bursts: read again until the packet is in.)
    acks = wait_for(lambda: rig.capture.lines("dhcp.option.dhcp == 5 and ip.dst == %s" % ip), 30, 1)
    assert acks, "no unicast ACK to %s captured" % ip
    # and the board says so on its console (the same binding, renewed)
    assert rig.logged("RENEW", ip, udhcpc.mac, board_since), rig.router.lines[board_since:]


def test_release_frees_the_address(rig):
    udhcpc = rig.clients[0]
    rig.released = (udhcpc.ip(), udhcpc.mac)
    mark = rig.router.mark()
    udhcpc.release()
    wait_for(lambda: udhcpc.ip() is None, 10)
    udhcpc.stop()
    assert rig.logged("RELEASE", rig.released[0], udhcpc.mac, mark), rig.router.lines[mark:]
    # A release rides with the next flush (within seconds); the power-cut
    # test below reads the table back from the board's flash.
    time.sleep(8)


def collect(proc, lines):
    for ln in proc.stdout:
        lines.append(ln.rstrip())


def test_power_cuts_lose_no_acked_binding_and_clients_init_reboot(rig):
    """Power cuts at random moments while a station churns through client
    ids: every binding a client was ACKed before the cut is in the lease
    file the board restores; dhclient and dhcpcd, restarted, ask for their
    old address (INIT-REBOOT) and get it back."""
    rng = random.Random(int(os.environ.get("DORA_SEED", "16")))
    churn = rig.lab.station(3)
    script = os.path.join(rig.workdir, "churn.sh")
    with open(script, "w") as f:
        f.write(netns.UDHCPC_SCRIPT)
    os.chmod(script, 0o755)
    cuts = int(os.environ.get("DORA_POWER_CUTS", "3"))
    acked = {}  # address -> client id, from the clients' own output
    lost = []
    for cut in range(cuts):
        loop = ("for i in $(seq 1 400); do udhcpc -q -n -f -i %s -s %s -t 2 -T 2 -A 1 -x 0x3d:01c0ffee%02x"
                % (churn.ifname, script, cut)) + "$(printf %04x $i); done"
        proc = churn.spawn(["sh", "-c", loop])
        lines = []
        t_cut = time.monotonic() + rng.uniform(3, 12)  # mid-churn
        threading.Thread(target=collect, args=(proc, lines), daemon=True).start()
        while time.monotonic() < t_cut:
            time.sleep(0.1)
        rig.router.power_cut()
        rig.lab.stop(proc)
        got = [re.search(r"ip=(\S+)", ln).group(1) for ln in lines if ln.startswith("LEASE bound")]
        for ip in got:
            acked[ip] = cut
        # Power back: the board boots from the same flash.
        mark = rig.router.mark()
        rig.router.boot()
        assert rig.router.wait_line(r"^dora: serving ", 240, mark), rig.router.lines[mark:]
        assert rig.router.find(r"lease file /leases\.dat: .* restored", mark)
        table = rig.board_leases()
        rig.restart_serving()
        if cut == 0 and getattr(rig, "released", None):
            ip, mac = rig.released
            assert table.get(ip, ("", "FREE"))[1] != "BOUND" or table[ip][0] != mac, "released %s still bound: %s" % (ip, table.get(ip))
        for ip, c in acked.items():
            if ip not in table or table[ip][1] != "BOUND":
                lost.append((ip, c, table.get(ip)))
        print("power cut %d: %d ACKs before it, %d bindings on the board" % (cut, len(got), len(table)))
    print("power cuts: %d, ACKed bindings: %d, lost: %d" % (cuts, len(acked), len(lost)))
    assert acked, "no client was ACKed before the cuts: the churn did not run"
    assert not lost, lost
    # INIT-REBOOT: the stored leases of dhclient and dhcpcd.
    for c in rig.clients[1:]:
        old = c.ip()
        c.stop()
        c.sta.flush()
        since = c.mark()
        mark = rig.router.mark()
        c.start()
        assert c.wait_address(120), c.lines[since:]
        assert c.ip() == old, "%s: %s, was %s" % (c.name, c.ip(), old)
        # The board confirmed the stored binding (a REQUEST naming it, no
        # DISCOVER first): RENEW when nothing changed, ACK otherwise.
        key = c.mac if c.keyed_by_mac else "id:"
        assert rig.logged("RENEW|ACK", old, key, mark), rig.router.lines[mark:]
        assert not rig.router.find(r"^dora: OFFER %s " % re.escape(old), mark), "%s started over with a DISCOVER" % c.name


def test_ten_stations_at_once(rig):
    clients = [Udhcpc(rig.lab.station(5 + i), rig.workdir) for i in range(10)]
    for c in clients:
        c.start()
    try:
        got = [c.wait_address(180) for c in clients]
        assert all(got), [(c.sta.name, c.lines[-4:]) for c, a in zip(clients, got) if not a]
        ips = [a.split("/")[0] for a in got]
        assert len(set(ips)) == 10 and all(in_pool(ip) for ip in ips), ips
    finally:
        for c in clients:
            c.stop()


def test_the_stock_udp_socket_keeps_four_datagrams_between_reads(rig):
    """Why a burst loses requests below dora: with dora stopped, a probe on
    port 67 sleeps while a station sends a burst, then reads.  The W5500
    stores every frame and the driver reads every one out, but the stock
    image's lwIP socket keeps only 4 (tools/ethernet_bench.py udp_queue;
    docs/ethernet-board.md, "Bursts and lwIP's socket queue")."""
    got = ethernet_bench.udp_queue(rig.router, rig.lab.station(3), bursts=(3, 4, 6))
    assert got == [(3, 3, 3, 3), (4, 4, 4, 4), (6, 6, 6, 4)], got


def test_dora_ctl_lists_revokes_and_adds_static_hosts_on_the_board(rig):
    """tools/dora_ctl.py over the board's USB-CDC socket: each command
    stops dora, makes its change on the board's flash and resets the board,
    which serves again with it."""
    table = rig.dora_ctl("leases")
    assert table.returncode == 0, table.stdout + table.stderr
    for c in rig.clients[1:]:  # dhclient and dhcpcd, renewing all along
        assert re.search(r"^%s +\S+ +bound " % re.escape(c.ip()), table.stdout, re.M), (c.name, table.stdout)

    # Revoked: on flash before the reset, mark included, so after it the
    # client's next request for that address is NAKed (docs/features.md).
    dhcpcd = rig.clients[2]
    gone = dhcpcd.ip()
    out = rig.dora_ctl("revoke", gone)
    assert out.returncode == 0 and out.stdout.strip().endswith("True"), out.stdout + out.stderr
    assert "REVOKED %s id:" % gone in out.stdout, out.stdout
    mark = rig.router.mark()
    answer = rig.router.wait_line(r"^dora: (NAK|ACK|RENEW) %s " % re.escape(gone), 90, mark)
    assert answer and answer.startswith("dora: NAK"), rig.router.lines[mark:]

    # A static host: saved in /board.json, served after the reset.
    sta = rig.lab.station(4)  # the ping station: no DHCP client has run there
    sta.flush()
    fixed = "192.168.4.240"
    out = rig.dora_ctl("add-static", sta.mac, fixed, "--hostname", "cam")
    assert out.returncode == 0 and out.stdout.strip().endswith("True"), out.stdout + out.stderr
    mark = rig.router.mark()
    client = Udhcpc(sta, rig.workdir)
    client.start()
    try:
        addr = client.wait_address(120)
        assert addr and addr.split("/")[0] == fixed, (addr, client.lines[-10:])
    finally:
        client.stop()
    assert rig.logged("ACK", fixed, sta.mac, mark), rig.router.lines[mark:]

    out = rig.dora_ctl("remove-static", sta.mac)
    assert out.returncode == 0 and out.stdout.strip().endswith("True"), out.stdout + out.stderr
    board = json.loads(rig.router.read_file("/board.json"))
    assert board["dora"]["static"] == []
    rig.restart_serving()

    # A bad argument: one line, status 1, and the board serves again.
    bad = rig.dora_ctl("revoke", "not-an-address")
    assert bad.returncode == 1 and "Traceback" not in bad.stdout + bad.stderr, bad.stdout + bad.stderr
    assert "dora_ctl: mac: " in bad.stdout


def test_no_reply_is_malformed(rig):
    rig.capture.stop()
    replies = rig.capture.count("dhcp")
    problems = rig.capture.problems("dhcp")
    assert replies >= 6, replies
    assert not problems, problems


def test_serve_command_runs_the_board_on_a_named_interface():
    """`tools/ethernet_board.py serve --iface IF` (make serve-ethernet): in
    the foreground, bridged to an interface of the namespace it runs in, a
    new flash gets dora installed, a client gets a lease, SIGTERM ends it."""
    workdir = tempfile.mkdtemp(prefix="dora-ethserve-test-")
    with Lab(stations=1) as lab:
        ns = lab.ap.name

        def ip(*args):
            subprocess.run(("ip", "-n", ns) + args, check=True, capture_output=True, timeout=10)

        ip("addr", "flush", "dev", lab.ap_ifname)
        ip("link", "add", "bport", "type", "veth", "peer", "name", "rig0")
        ip("link", "set", "bport", "master", lab.ap_ifname)
        ip("link", "set", "bport", "up")
        ip("link", "set", "rig0", "up")
        cfg = os.path.join(workdir, "board.json")
        with open(cfg, "w") as f:
            json.dump(EB.board_config(lease_time=LEASE), f)
        proc = lab.ap.spawn([sys.executable, os.path.join(ROOT, "tools", "ethernet_board.py"), "serve",
                             "--iface", "rig0", "--config", cfg, "--workdir", workdir])
        lines = []
        threading.Thread(target=collect, args=(proc, lines), daemon=True).start()
        assert wait_for(lambda: any(ln.startswith("dora: serving ") for ln in lines), 300), lines[-20:]
        client = Udhcpc(lab.station(0), workdir)
        client.start()
        addr = client.wait_address(120)
        assert addr and in_pool(addr.split("/")[0]), client.lines[-10:]
        client.stop()
        assert lab.stop(proc) is not None
        assert os.path.getsize(os.path.join(workdir, "flash.bin")) == 2 * 1024 * 1024

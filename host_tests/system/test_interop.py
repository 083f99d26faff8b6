# Interoperability of dora's server with the real DHCP clients of Debian
# (busybox udhcpc, ISC dhclient, dhcpcd 9), as root in network namespaces
# (tools/dora_lab/netns.py): dora runs on the MicroPython unix port, from
# the firmware/ files that go on a board, in an access-point namespace; each
# client runs in its own station namespace on the AP's bridge.
#
# Each scenario runs ONCE for all clients at the same time (stations in
# parallel, one dora), in a module-scoped fixture that records what went
# wrong per client; then one small test per (scenario, client) reports it.
# So the pytest output is the client x scenario matrix, and the module takes
# about as long as its scenarios' lease timers, not three times that.
#
# Every reply dora sends in every scenario is captured with tshark in the AP
# namespace and must dissect with no malformed flag and no expert warning.
#
# Timers: lease 20 s, so T1 = 10 s and T2 = 17.5 s (dora sends 58 and 59).

import os
import re
import struct
import time

import pytest

from dora_lab.netns import CLIENTS, Dhclient, Dhcpcd, Dora, Lab, Udhcpc, wait_for

pytestmark = pytest.mark.system

KINDS = ["udhcpc", "dhclient", "dhcpcd"]
LEASE = 20
T1 = LEASE // 2  # dora sends option 58 = lease / 2
POOL = ("192.168.4.16", "192.168.4.250")
NOWHERE = "02:00:5e:10:00:99"  # a MAC no host in the lab has

# Replies checked over the whole module: scenario -> (count, problems).
REPLIES = {}


class Outcome:
    """What went wrong in one scenario, per client kind; `server` collects
    what is nobody's client's fault (tshark problems, dora's totals)."""

    def __init__(self, name):
        self.name = name
        self.failures = {}
        self.notes = {}
        self.server = []
        self.seconds = 0.0

    def expect(self, who, cond, what):
        if not cond:
            self.failures.setdefault(who, []).append(what)
        return bool(cond)

    def ok(self, who):
        return not self.failures.get(who)

    def report(self, who):
        if who in self.notes:
            print("%s / %s: %s" % (self.name, who, self.notes[who]))
        problems = self.failures.get(who, []) + self.server
        assert not problems, "%s / %s:\n  %s" % (self.name, who, "\n  ".join(str(p) for p in problems))


def ip_of(addr):
    return addr.split("/")[0] if addr else None


def in_pool(ip):
    def n(a):
        return struct.unpack("!I", bytes(int(x) for x in a.split(".")))[0]

    return ip is not None and n(POOL[0]) <= n(ip) <= n(POOL[1])


def key_rx(c):
    """dora's log names a client by MAC, or by client id (dhcpcd's DUID)."""
    return re.escape(c.mac) if c.keyed_by_mac else r"id:[0-9a-f]+"


def finish(outcome, dora, clients, t0):
    """Stop everything of a scenario and dissect dora's replies."""
    for c in clients:
        try:
            c.stop()
        except Exception as e:  # recorded, teardown goes on
            outcome.expect(c.name, False, "stopping %s: %r" % (c.name, e))
    dora.stop_clean = dora.stop()
    count, problems = dora.check_replies()
    REPLIES[outcome.name] = (count, problems)
    if problems:
        outcome.server.append("tshark flags dora's replies:\n    " + "\n    ".join(problems))
    if count == 0:
        outcome.server.append("no reply of dora's was captured")
    for ln in dora.lines:
        if "error in receive round" in ln or "Traceback" in ln:
            outcome.server.append("dora logged: " + ln)
    outcome.seconds = time.monotonic() - t0


def hook_failures(c, since=0):
    """Lease-losing events the client's hook saw after `since`."""
    return [ln for ln in c.lease_lines(since) if ln.split()[1] in ("deconfig", "EXPIRE", "FAIL", "STOP", "NAK", "leasefail")]


# -- scenario: DORA, renewal at T1, release and the same address back --------

@pytest.fixture(scope="module")
def life_cycle(need, tmp_path_factory):
    need("udhcpc", "dhclient", "dhcpcd", "tshark")
    out = Outcome("life cycle")
    work = str(tmp_path_factory.mktemp("life"))
    t0 = time.monotonic()
    with Lab(stations=3) as lab:
        dora = Dora(lab, work, lease_time=LEASE).start()
        clients = [CLIENTS[k](lab.station(i), work) for i, k in enumerate(KINDS)]
        for c in clients:
            c.start()
        # DORA: address, mask, router, DNS on the station; the binding in
        # dora's log and in its lease file.
        got = {}
        for c in clients:
            a = c.wait_address(20)
            if not out.expect(c.name, a, "no address after 20 s: %s" % c.lines[-6:]):
                continue
            ip = ip_of(a)
            got[c.name] = ip
            out.expect(c.name, in_pool(ip) and a.endswith("/24"), "address %s outside the pool or not /24" % a)
            out.expect(c.name, wait_for(lambda: c.sta.default_router(), 5) == "192.168.4.1", "default route: %s" % c.sta.default_router())
            lease = wait_for(c.last_lease, 5) or {}
            out.expect(c.name, lease.get("ip") == ip, "hook saw %s" % lease)
            out.expect(c.name, lease.get("mask") in ("24", "255.255.255.0"), "mask %s" % lease.get("mask"))
            out.expect(c.name, lease.get("router") == "192.168.4.1", "router %s" % lease.get("router"))
            out.expect(c.name, lease.get("dns") == "192.168.4.1", "dns %s" % lease.get("dns"))
            out.expect(c.name, lease.get("lease") == str(LEASE), "lease time %s" % lease.get("lease"))
            out.expect(c.name, lease.get("serverid") == "192.168.4.1", "server id %s" % lease.get("serverid"))
            out.expect(c.name, dora.wait_line(r"ACK %s %s %ds" % (re.escape(ip), key_rx(c), LEASE), 5), "no ACK line in dora's log: %s" % dora.lines[-4:])
        stored = dora.stored_leases()
        for c in clients:
            if c.name in got:
                row = [r for r in stored if r[0] == got[c.name]]
                out.expect(c.name, row and row[0][2] == "bound" and (row[0][1] == c.mac or not c.keyed_by_mac),
                           "lease file has %s for %s" % (row, got[c.name]))
        out.expect("all", len(set(got.values())) == len(got), "two clients share an address: %s" % got)

        # Renewal at T1: unicast REQUEST -> ACK, same address, and no lease
        # file write (all three renew within the same few seconds, well
        # before anything else could write).
        before = dora.lease_file_state()
        mark = dora.mark()
        for c in clients:
            if c.name not in got:
                continue
            ip = got[c.name]
            line = dora.wait_line(r"RENEW %s %s" % (re.escape(ip), key_rx(c)), T1 + 8, mark)
            out.expect(c.name, line, "no renewal at T1 (%d s): %s" % (T1, dora.lines[mark:]))
            out.expect(c.name, ip_of(c.sta.address()) == ip, "address changed to %s at renewal" % c.sta.address())
        after = dora.lease_file_state()
        for c in clients:
            out.expect(c.name, after == before, "lease file written during the renewals: %s -> %s" % (before, after))

        # Release: the binding freed, then the same address back.
        mark = dora.mark()
        for c in clients:
            if c.name in got:
                c.release()
        for c in clients:
            if c.name not in got:
                continue
            out.expect(c.name, dora.wait_line(r"RELEASE %s %s" % (re.escape(got[c.name]), key_rx(c)), 10, mark),
                       "no RELEASE in dora's log: %s" % dora.lines[mark:])
            c.stop()
            c.sta.flush()
        for c in clients:
            if c.name in got:
                c.start()
        for c in clients:
            if c.name in got:
                again = ip_of(c.wait_address(20))
                out.expect(c.name, again == got[c.name], "after release got %s, had %s" % (again, got[c.name]))
        finish(out, dora, clients, t0)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_dora_renew_release(life_cycle, kind):
    """DORA (address, /24, router, DNS, lease time), the binding in dora's
    log and lease file; renewal at T1 with no flash write; release and the
    same address back."""
    life_cycle.report(kind)
    life_cycle.report("all")


# -- scenario: rebinding -------------------------------------------------------

# ISC dhclient (4.4, dhclient.c send_request) retransmits a renewal after
# initial-interval (default 10 s), then at random growing intervals up to
# backoff-cutoff (default 15 s, randomised to 7-22 s), and it never waits past
# the lease's end: the retransmission that would land beyond it is moved to
# expiry + 1 s, where the lease is dropped.  It broadcasts only a request sent
# after T2.  So with its defaults, whether any request falls between T2 and
# expiry (the last eighth of the lease: 5 s here) is a coin toss for leases
# this short.  This scenario gives it small, documented retransmission knobs
# (dhclient.conf(5)) so that it retransmits every 1-2 s: the scenario then
# tests dora's answer to rebinding, not dhclient's dice.
REBIND_LEASE = 40
DHCLIENT_QUICK = "initial-interval 1;\nbackoff-cutoff 2;\n"


@pytest.fixture(scope="module")
def rebinding(need, tmp_path_factory):
    """The server is unreachable by unicast from T1 on (each station's ARP
    entry for it points at a MAC nobody has, so its unicast REQUESTs go
    nowhere); the client must fall back to REBINDING at T2, broadcast its
    REQUEST (ciaddr set), and get an ACK before the lease ends."""
    need("udhcpc", "dhclient", "dhcpcd", "tshark")
    out = Outcome("rebinding")
    work = str(tmp_path_factory.mktemp("rebind"))
    t0 = time.monotonic()
    with Lab(stations=3) as lab:
        dora = Dora(lab, work, lease_time=REBIND_LEASE).start()
        requests = lab.capture(os.path.join(work, "requests.pcap"), "udp dst port 67")
        clients = [Udhcpc(lab.station(0), work), Dhclient(lab.station(1), work, conf=DHCLIENT_QUICK),
                   Dhcpcd(lab.station(2), work)]
        for c in clients:
            c.start()
        got, bound_at = {}, {}
        for c in clients:
            a = c.wait_address(20)
            if out.expect(c.name, a, "no address: %s" % c.lines[-6:]):
                got[c.name] = ip_of(a)
                bound_at[c.name] = time.monotonic()
                # Cut unicast to the server: a permanent, wrong ARP entry.
                c.sta.run(["ip", "neigh", "replace", "192.168.4.1", "lladdr", NOWHERE, "nud", "permanent", "dev", c.sta.ifname])
        mark = dora.mark()
        marks = {c.name: c.mark() for c in clients}
        seen = {}
        deadline = time.monotonic() + REBIND_LEASE + 3
        while time.monotonic() < deadline and len(seen) < len(got):
            for c in clients:
                if c.name in got and c.name not in seen and dora.find(r"RENEW %s %s" % (re.escape(got[c.name]), key_rx(c)), mark):
                    seen[c.name] = time.monotonic() - bound_at[c.name]
            time.sleep(0.1)
        requests.stop()
        for c in clients:
            if c.name not in got:
                continue
            ip = got[c.name]
            out.expect(c.name, c.name in seen, "no ACK for a rebinding REQUEST within the lease: %s" % c.lines[-8:])
            if c.name in seen:
                sent = c.timeline(r"DHCPREQUEST|renew|rebind|REQUEST", marks[c.name], bound_at[c.name])
                out.notes[c.name] = "ACKed %.1f s after binding; the client said: %s" % (
                    seen[c.name], "; ".join("%.1f %s" % (t, ln[-60:]) for t, ln in sent))
                # Nothing reached dora before T2 (renewals were cut off).
                out.expect(c.name, seen[c.name] >= REBIND_LEASE / 2, "answered at %.1f s, before T1: unicast not cut?" % seen[c.name])
            rebind = requests.lines(
                "dhcp.option.dhcp == 3 and ip.dst == 255.255.255.255 and dhcp.ip.client == %s and eth.src == %s" % (ip, c.mac))
            out.expect(c.name, rebind, "no broadcast REQUEST with ciaddr %s captured" % ip)
            out.expect(c.name, ip_of(c.sta.address()) == ip, "address now %s, had %s" % (c.sta.address(), ip))
            out.expect(c.name, not hook_failures(c, marks[c.name]), "lease lost: %s" % hook_failures(c, marks[c.name]))
        finish(out, dora, clients, t0)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_rebinding(rebinding, kind):
    rebinding.report(kind)


# -- scenario: client restart with a stored lease (INIT-REBOOT) ----------------

def _spoil_dhclient(c, ip, wrong):
    with open(c.lease_file) as f:
        text = f.read()
    text = re.sub(r"fixed-address %s;" % re.escape(ip), "fixed-address %s;" % wrong, text)
    with open(c.lease_file, "w") as f:
        f.write(text)
    return "fixed-address %s;" % wrong in text


def _spoil_dhcpcd(c, ip, wrong):
    # dhcpcd stores the server's whole BOOTP reply: yiaddr is at byte 16.
    with open(c.lease_file, "rb") as f:
        msg = bytearray(f.read())
    if msg[16:20] != bytes(int(x) for x in ip.split(".")):
        return False
    st = os.stat(c.lease_file)
    msg[16:20] = bytes(int(x) for x in wrong.split("."))
    with open(c.lease_file, "wb") as f:
        f.write(msg)
    os.utime(c.lease_file, ns=(st.st_atime_ns, st.st_mtime_ns))  # its age is the lease's
    return True


@pytest.fixture(scope="module")
def init_reboot(need, tmp_path_factory):
    """dhclient and dhcpcd restarted with their stored lease: INIT-REBOOT
    (REQUEST, no DISCOVER) keeps the address; with a stored address dora
    does not know, a NAK, then DISCOVER, and the client's own address."""
    need("dhclient", "dhcpcd", "tshark")
    out = Outcome("init-reboot")
    work = str(tmp_path_factory.mktemp("reboot"))
    t0 = time.monotonic()
    wrong = "10.99.0.7"  # another network's address, written into the stored lease
    with Lab(stations=4) as lab:
        dora = Dora(lab, work, lease_time=120).start()
        cases = [("dhclient", False), ("dhcpcd", False), ("dhclient", True), ("dhcpcd", True)]
        clients = [CLIENTS[k](lab.station(i), work) for i, (k, _) in enumerate(cases)]
        who = ["%s%s" % (k, "/wrong" if w else "") for k, w in cases]
        for c in clients:
            c.start()
        got = {}
        for c, w in zip(clients, who):
            a = c.wait_address(20)
            if out.expect(w, a, "no address: %s" % c.lines[-6:]):
                got[w] = ip_of(a)
        for c in clients:
            c.stop()
            c.sta.flush()
        for c, w, (k, spoil) in zip(clients, who, cases):
            if w in got and spoil:
                done = (_spoil_dhclient if k == "dhclient" else _spoil_dhcpcd)(c, got[w], wrong)
                out.expect(w, done, "could not rewrite the stored lease %s" % c.lease_file)
        mark = dora.mark()
        marks = [c.mark() for c in clients]
        for c, w in zip(clients, who):
            if w in got:
                c.start()
        for c, w, (k, spoil), m in zip(clients, who, cases, marks):
            if w not in got:
                continue
            ip = got[w]
            a = ip_of(c.wait_address(30))
            out.expect(w, a == ip, "after restart: %s, had %s" % (a, ip))
            offers = dora.find(r"OFFER %s %s" % (re.escape(ip), key_rx(c)), mark)
            if not spoil:
                out.expect(w, dora.find(r"(ACK|RENEW) %s %s" % (re.escape(ip), key_rx(c)), mark), "no ACK after restart: %s" % dora.lines[mark:])
                out.expect(w, not offers, "DISCOVER instead of INIT-REBOOT: %s" % offers)
            else:
                said = [ln for ln in c.lines[m:] if re.search(r"NAK", ln)]
                out.expect(w, said, "the client saw no NAK: %s" % c.lines[m:][-10:])
                out.expect(w, offers, "no DISCOVER/OFFER after the NAK: %s" % dora.lines[mark:])
        out.expect("dhclient/wrong", len(dora.find(r"^dora: NAK", mark)) >= 2, "dora logged fewer than 2 NAKs: %s" % dora.lines[mark:])
        finish(out, dora, clients, t0)
    return out


@pytest.mark.parametrize("case", ["dhclient", "dhcpcd", "dhclient/wrong", "dhcpcd/wrong"])
def test_restart_with_stored_lease(init_reboot, case):
    init_reboot.report(case)


# -- scenario: dora killed and restarted mid-lease -----------------------------

@pytest.fixture(scope="module")
def server_restart(need, tmp_path_factory):
    need("udhcpc", "dhclient", "dhcpcd", "tshark")
    out = Outcome("server restart")
    work = str(tmp_path_factory.mktemp("srvrestart"))
    t0 = time.monotonic()
    with Lab(stations=3) as lab:
        dora = Dora(lab, work, lease_time=LEASE).start()
        clients = [CLIENTS[k](lab.station(i), work) for i, k in enumerate(KINDS)]
        for c in clients:
            c.start()
        got = {}
        for c in clients:
            a = c.wait_address(20)
            if out.expect(c.name, a, "no address: %s" % c.lines[-6:]):
                got[c.name] = ip_of(a)
        dora.kill()  # SIGKILL: a power cut, no clean shutdown
        dora.start()
        out.expect("all", dora.find(r"%d lease\(s\) restored" % len(got), 0) or dora.find("restored"), "no 'restored' line: %s" % dora.lines)
        mark = dora.mark()
        marks = {c.name: c.mark() for c in clients}
        for c in clients:
            if c.name not in got:
                continue
            ip = got[c.name]
            out.expect(c.name, dora.wait_line(r"RENEW %s %s" % (re.escape(ip), key_rx(c)), T1 + 8, mark),
                       "no renewal with the restarted dora: %s" % dora.lines[mark:])
            out.expect(c.name, ip_of(c.sta.address()) == ip, "address %s, had %s" % (c.sta.address(), ip))
            out.expect(c.name, not hook_failures(c, marks[c.name]), "lease lost: %s" % hook_failures(c, marks[c.name]))
        out.expect("all", not dora.find(r"^dora: NAK", mark), "NAKs after the restart: %s" % dora.find("NAK", mark))
        finish(out, dora, clients, t0)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_server_killed_and_restarted_mid_lease(server_restart, kind):
    server_restart.report(kind)
    server_restart.report("all")


# -- scenario: dhcpcd's ARP probe finds a squatter and DECLINEs ----------------

def test_dhcpcd_arp_probe_declines_squatted_address(need, tmp_path):
    need("dhcpcd", "udhcpc", "tshark")
    out = Outcome("decline")
    work = str(tmp_path)
    t0 = time.monotonic()
    with Lab(stations=3) as lab:
        dora = Dora(lab, work, lease_time=120, decline_hold=600).start()
        # First learn the address dora gives this dhcpcd, then release it:
        # dora offers a client its old address again, so that is the one
        # the squatter takes.
        c = Dhcpcd(lab.station(0), work)
        c.start()
        x = ip_of(c.wait_address(20))
        assert x, c.lines[-10:]
        mark = dora.mark()
        c.release()
        assert dora.wait_line(r"RELEASE %s" % re.escape(x), 10, mark), dora.lines[mark:]
        c.sta.flush()
        squatter = lab.station(1)
        squatter.run(["ip", "addr", "add", x + "/24", "dev", squatter.ifname])
        c.arp = True
        mark = dora.mark()
        c.start()
        declined = dora.wait_line(r"DECLINE %s" % re.escape(x), 25, mark)
        y = ip_of(wait_for(lambda: ip_of(c.sta.address()) not in (None, x) and c.sta.address(), 30))
        newcomer = Udhcpc(lab.station(2), work)
        newcomer.start()
        z = ip_of(newcomer.wait_address(20))
        stored = {r[0]: r[2] for r in dora.stored_leases()}
        finish(out, dora, [c, newcomer], t0)
    assert dora.find(r"OFFER %s" % re.escape(x), mark), "dora did not offer the old address again: %s" % dora.lines
    assert declined, "no DECLINE of %s: dora %s / dhcpcd %s" % (x, dora.lines[mark:], c.lines[-15:])
    assert y and y != x and in_pool(y), "dhcpcd ended with %s (squatted %s)" % (y, x)
    assert z and z not in (x, y), "newcomer got %s (declined %s, dhcpcd %s)" % (z, x, y)
    assert stored.get(x) == "declined", "lease file has %s for %s" % (stored.get(x), x)
    assert not out.server, out.server


# -- scenario: ten stations, mixed clients ---------------------------------------

def test_ten_mixed_stations_get_distinct_addresses(need, tmp_path):
    need("udhcpc", "dhclient", "dhcpcd", "tshark")
    out = Outcome("ten stations")
    work = str(tmp_path)
    t0 = time.monotonic()
    with Lab(stations=10) as lab:
        dora = Dora(lab, work, lease_time=120).start()
        clients = [CLIENTS[KINDS[i % 3]](lab.station(i), work) for i in range(10)]
        for c in clients:
            c.start()
        got = [ip_of(c.wait_address(30)) for c in clients]
        stored = [r for r in dora.stored_leases() if r[2] == "bound"]
        finish(out, dora, clients, t0)
    assert None not in got, [(c.name, c.sta.name, c.lines[-4:]) for c, g in zip(clients, got) if g is None]
    assert len(set(got)) == 10 and all(in_pool(g) for g in got), got
    owners = {}
    for ln in dora.lines:
        m = re.search(r"OFFER (\S+) (\S+)", ln)
        if m:
            owners.setdefault(m.group(1), set()).add(m.group(2))
    assert owners and all(len(v) == 1 for v in owners.values()), "an address offered to two clients: %s" % owners
    assert sorted(r[0] for r in stored) == sorted(got), (stored, got)
    assert not out.server, out.server


# -- scenario: perfdhcp as a relay churns the whole pool ------------------------

def test_perfdhcp_relay_churns_a_full_pool(need, tmp_path):
    """perfdhcp (Kea's load generator) acts as a relay: giaddr is its own
    address and dora must answer to giaddr:67.  252 simulated clients on a
    252-address pool, 1000 exchanges with releases: every address unique,
    nothing malformed, every reply dissects cleanly."""
    need("perfdhcp", "tshark")
    out = Outcome("perfdhcp")
    work = str(tmp_path)
    t0 = time.monotonic()
    with Lab(stations=1) as lab:
        dora = Dora(lab, work, pool_start="192.168.4.2", pool_end="192.168.4.253", lease_time=600, log=False).start()
        relay = lab.station(0)
        relay.run(["ip", "addr", "add", "192.168.4.254/24", "dev", relay.ifname])
        r = relay.run(["perfdhcp", "-4", "-l", relay.ifname, "-r", "200", "-R", "252", "-n", "1000", "-F", "50",
                       "-p", "30", "192.168.4.1"], timeout=60, check=False)
        text = r.stdout + r.stderr
        totals = dora.stop()
        finish(out, dora, [], t0)

    def stat(section, name):
        block = text.split("***Statistics for: %s***" % section)[1]
        return int(re.search(r"%s: (\d+)" % name, block).group(1))

    assert "***Statistics for: REQUEST-ACK***" in text, text
    sent = stat("REQUEST-ACK", "sent packets")
    assert stat("DISCOVER-OFFER", "sent packets") >= 990, text
    assert stat("DISCOVER-OFFER", "received packets") >= 0.99 * stat("DISCOVER-OFFER", "sent packets"), text
    assert stat("REQUEST-ACK", "received packets") >= 0.99 * sent, text
    for section in ("DISCOVER-OFFER", "REQUEST-ACK"):
        assert stat(section, "non unique addresses") == 0, text
        assert stat(section, "rejected leases") == 0, text
    assert totals and "malformed 0," in totals and "errors 0" in totals, totals
    count, problems = REPLIES["perfdhcp"]
    assert count >= 1980, "only %d replies captured" % count
    assert not out.server, out.server


# -- every reply of the module ---------------------------------------------------

def test_every_captured_reply_dissects_cleanly():
    """Runs last: the sum over every scenario above that ran."""
    if not REPLIES:
        pytest.skip("no scenario ran")
    total = sum(n for n, _ in REPLIES.values())
    print("replies dissected: %d (%s)" % (total, ", ".join("%s %d" % (k, n) for k, (n, _) in REPLIES.items())))
    bad = [(k, p) for k, (_, p) in REPLIES.items() if p]
    assert not bad, bad
    assert total > 0

"""An access point in a box, made of Linux network namespaces (root only).

    from dora_lab.netns import Lab
    with Lab(stations=3) as lab:
        server = lab.ap.spawn([...])          # a Popen, inside the AP namespace
        lab.station(0).run(["ip", "addr"])    # a CompletedProcess, inside station 0
        lab.station(0).address()              # "192.168.4.16/24" or None

Layout:

    namespace <tag>-ap:  br0 (bridge, 192.168.4.1/24)
                          |-- p0 ==veth== eth0 in namespace <tag>-s0
                          |-- p1 ==veth== eth0 in namespace <tag>-s1
                          ...

The 192.168.4.0/24 subnet exists only inside these namespaces: the host's own
namespace never sees a link or an address of the lab (each veth pair is made
inside the AP namespace and one end moved straight into its station), so no
packet of a test can leave the machine.  Names carry the process id and a
counter, so parallel runs never collide.

Teardown (on leaving the `with`, also after a failure): every process spawned
through the lab is ended by its PID (SIGTERM, then SIGKILL after a bounded
wait); then any process still living in one of the lab's namespaces (a daemon
that forked away, found with `ip netns pids`) is killed by its PID; then the
namespaces are deleted, which deletes their links.  Nothing is ever ended by
name.

Every wait here is bounded.  Plain Python 3 standard library only: the demo,
the bench and the tests share this file.
"""

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from dora_lab.paths import ROOT, micropython_binary

NETWORK = "192.168.4.0"
PREFIX_LEN = 24
AP_ADDRESS = "192.168.4.1"
AP_IFNAME = "br0"
STATION_IFNAME = "eth0"

_counter = itertools.count()


def _ip(*args, check=True, timeout=10):
    return subprocess.run(("ip",) + args, check=check, capture_output=True, text=True, timeout=timeout)


def available():
    """None when a Lab can be built here, else why not (a sentence)."""
    if os.geteuid() != 0:
        return "needs root to make network namespaces"
    try:
        _ip("netns", "list")
    except (OSError, subprocess.SubprocessError) as e:
        return "`ip netns` is not usable here (%s)" % e
    return None


def wait_for(predicate, timeout, step=0.1):
    """Call predicate() until it returns something true or timeout seconds
    pass; return its last value."""
    end = time.monotonic() + timeout
    while True:
        v = predicate()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def stop_process(proc, sig=signal.SIGTERM, timeout=5):
    """End one process (a Popen) by its PID: sig, then SIGKILL if it has not
    exited within timeout seconds.  Returns its exit status."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    return proc.returncode


class Namespace:
    """One network namespace of a Lab, with its interface's name."""

    def __init__(self, lab, name, ifname):
        self.lab = lab
        self.name = name
        self.ifname = ifname

    def __repr__(self):
        return "<Namespace %s %s>" % (self.name, self.ifname)

    def argv(self, argv):
        # `ip netns exec` execs the program (so a Popen's PID is the
        # program's own) in a fresh mount namespace with this network
        # namespace's /sys: a bind mount made inside one command (see
        # Dhcpcd) is private to that command.
        return ["ip", "netns", "exec", self.name] + [str(a) for a in argv]

    def run(self, argv, timeout=30, check=True, **kw):
        """Run argv here to completion (at most timeout s); CompletedProcess
        with text stdout/stderr."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.argv(argv), timeout=timeout, check=check, **kw)

    def spawn(self, argv, **kw):
        """Start argv here and return its Popen (stdout piped as text, stderr
        merged, unless given).  The lab ends it by PID on teardown."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.STDOUT)
        kw.setdefault("text", True)
        p = subprocess.Popen(self.argv(argv), **kw)
        self.lab.procs.append(p)
        return p

    def addresses(self):
        """This namespace's IPv4 addresses on its interface, as "a.b.c.d/n"."""
        out = _ip("-n", self.name, "-4", "-o", "addr", "show", "dev", self.ifname, check=False).stdout
        found = []
        for line in out.splitlines():
            words = line.split()
            if "inet" in words:
                found.append(words[words.index("inet") + 1])
        return found

    def address(self):
        """The first IPv4 address with its prefix length, or None."""
        a = self.addresses()
        return a[0] if a else None

    def default_router(self):
        """The default route's gateway, or None."""
        out = _ip("-n", self.name, "-4", "route", "show", "default", check=False).stdout.split()
        return out[out.index("via") + 1] if "via" in out else None

    def flush(self):
        """Remove every IPv4 address from the interface (and so its routes)."""
        _ip("-n", self.name, "-4", "addr", "flush", "dev", self.ifname, check=False)

    def pids(self):
        """PIDs of every process living in this namespace."""
        out = _ip("netns", "pids", self.name, check=False).stdout
        return [int(w) for w in out.split() if w.isdigit()]


class Capture:
    """tshark writing every packet that matches a capture filter on one
    namespace's interface to a pcap file; then read back with dissection
    checks.  Start it with Lab.capture()."""

    # tshark's expert severities: 0x00600000 is "warning", 0x00800000 "error"
    # (malformed packets are errors too, and also match _ws.malformed).
    PROBLEMS = "_ws.malformed or _ws.expert.severity >= 0x00600000"

    def __init__(self, ns, path, bpf, timeout=10):
        self.ns = ns
        self.path = path
        self.proc = ns.spawn(
            ["tshark", "-n", "-q", "-i", ns.ifname, "-f", bpf, "-w", path],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        # dumpcap writes the pcapng header once the interface is open.
        if not wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 0 or self.proc.poll() is not None, timeout):
            raise RuntimeError("tshark did not start capturing on %s" % ns.ifname)
        if self.proc.poll() is not None:
            raise RuntimeError("tshark exited: %s" % self.proc.stderr.read())

    def stop(self, linger=0.5):
        """Stop capturing (after letting the last packets in); idempotent."""
        if self.proc is not None:
            time.sleep(linger)
            stop_process(self.proc, signal.SIGINT, 10)
            self.proc = None

    def lines(self, display_filter, fields=None, timeout=120):
        """One line per captured packet matching display_filter: tshark's
        summary, or the given fields separated by tabs."""
        argv = ["tshark", "-n", "-r", self.path, "-Y", display_filter]
        if fields:
            argv += ["-T", "fields"] + [x for f in fields for x in ("-e", f)]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError("tshark -r failed: %s" % out.stderr.strip())
        return out.stdout.splitlines()

    def count(self, display_filter):
        return len(self.lines(display_filter))

    def problems(self, display_filter="dhcp"):
        """Packets matching display_filter that tshark flags as malformed or
        with an expert warning or error, each with its expert messages."""
        return self.lines(
            "(%s) and (%s)" % (display_filter, self.PROBLEMS),
            fields=["frame.number", "ip.src", "ip.dst", "dhcp.option.dhcp", "_ws.expert.message", "_ws.malformed"],
        )


class Lab:
    """The AP namespace with its bridge, and station namespaces on it."""

    def __init__(self, stations=0, tag=None):
        self.tag = tag or "dora%d-%d" % (os.getpid(), next(_counter))
        self.count = stations
        self.procs = []
        self.namespaces = []
        self.ap = None
        self.stations = []
        self.captures = []
        self.ap_address = AP_ADDRESS
        self.ap_ifname = AP_IFNAME
        self.prefix_len = PREFIX_LEN
        self.netmask = "255.255.255.0"

    def __enter__(self):
        why = available()
        if why:
            raise RuntimeError("cannot build a network lab: " + why)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- building ----------------------------------------------------------
    def _namespace(self, name, ifname):
        _ip("netns", "add", name)
        self.namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")
        return Namespace(self, name, ifname)

    def _build(self):
        ap = self._namespace(self.tag + "-ap", AP_IFNAME)
        n = ap.name
        _ip("-n", n, "link", "add", AP_IFNAME, "type", "bridge", "forward_delay", "0", "stp_state", "0")
        _ip("-n", n, "addr", "add", "%s/%d" % (AP_ADDRESS, PREFIX_LEN), "dev", AP_IFNAME)
        _ip("-n", n, "link", "set", AP_IFNAME, "up")
        # A server that sends to 255.255.255.255 without SO_BINDTODEVICE
        # needs this route (else ENETUNREACH: the namespace has no default).
        _ip("-n", n, "route", "add", "255.255.255.255/32", "dev", AP_IFNAME)
        self.ap = ap
        for _ in range(self.count):
            self.add_station()

    def add_station(self):
        """One more station namespace, plugged into the bridge; returned."""
        i = len(self.stations)
        sta = self._namespace("%s-s%d" % (self.tag, i), STATION_IFNAME)
        port = "p%d" % i
        _ip("-n", self.ap.name, "link", "add", port, "type", "veth", "peer", "name", STATION_IFNAME, "netns", sta.name)
        _ip("-n", self.ap.name, "link", "set", port, "master", AP_IFNAME)
        _ip("-n", self.ap.name, "link", "set", port, "up")
        _ip("-n", sta.name, "link", "set", STATION_IFNAME, "address", self.mac(i))
        _ip("-n", sta.name, "link", "set", STATION_IFNAME, "up")
        sta.index = i
        sta.mac = self.mac(i)
        self.stations.append(sta)
        return sta

    def mac(self, i):
        """Station i's MAC: locally administered, unique in the lab."""
        return "02:d0:4a:00:%02x:%02x" % ((i >> 8) & 255, i & 255)

    def station(self, i):
        return self.stations[i]

    def capture(self, path, bpf="udp port 67 or udp port 68", ns=None):
        """Start tshark in ns (default: the AP) writing to path; a Capture."""
        c = Capture(ns or self.ap, path, bpf)
        self.captures.append(c)
        return c

    # -- tearing down --------------------------------------------------------
    def stop(self, proc, sig=signal.SIGTERM, timeout=5):
        """End one spawned process by its PID (see stop_process)."""
        return stop_process(proc, sig, timeout)

    def close(self):
        """Idempotent full teardown: spawned processes, stray processes in
        the lab's namespaces (by PID), then the namespaces and their links."""
        for c in self.captures:
            try:
                c.stop(linger=0)
            except Exception:
                pass
        for p in reversed(self.procs):
            try:
                stop_process(p, signal.SIGTERM, 5)
            except Exception:
                pass
        self.procs = []
        for name in self.namespaces:
            out = _ip("netns", "pids", name, check=False).stdout
            for w in out.split():
                try:
                    os.kill(int(w), signal.SIGKILL)
                except (ValueError, OSError):
                    pass
        for name in reversed(self.namespaces):
            # A namespace whose last process is still exiting may take a
            # moment to release; `ip netns del` unmounts it regardless.
            _ip("netns", "del", name, check=False)
        self.namespaces = []


# -- real DHCP clients, driven in a station ------------------------------------
# Hook scripts that touch only the station's own interface (the packaged ones
# also rewrite /etc/resolv.conf, which all namespaces share), and print the
# lease they applied on stdout so a test can read it.

UDHCPC_SCRIPT = r"""#!/bin/sh
# busybox udhcpc: $1 is the event, the lease is in $ip $mask $router $dns.
case "$1" in
  bound|renew)
    for a in $(ip -4 -o addr show dev "$interface" | awk '{print $4}'); do
      [ "$a" = "$ip/$mask" ] || ip addr del "$a" dev "$interface"
    done
    ip addr replace "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    echo "LEASE $1 ip=$ip mask=$mask router=$router dns=$dns lease=$lease serverid=$serverid"
    # Other options the server sent: busybox exports known ones by name,
    # the rest as optNNN in hex.
    env | grep -E '^(hostname|domain|ntpsrv|tftp|bootfile|boot_file|siaddr|opt[0-9]+)=' | sort | sed 's/^/OPTION /' ;;
  deconfig) ip -4 addr flush dev "$interface"; echo "LEASE deconfig" ;;
  leasefail|nak) echo "LEASE $1 $message" ;;
esac
exit 0
"""

# dhclient and dhcpcd both run their hook with $reason and new_* variables.
LEASE_SCRIPT = r"""#!/bin/sh
bits() { echo "$1" | awk -F. '{n=0; for(i=1;i<=4;i++){x=$i; while(x){n+=x%2; x=int(x/2)}} print n}'; }
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT|STATIC)
    for a in $(ip -4 -o addr show dev "$interface" | awk '{print $4}'); do
      [ "$a" = "$new_ip_address/$(bits "$new_subnet_mask")" ] || ip addr del "$a" dev "$interface"
    done
    ip addr replace "$new_ip_address/$(bits "$new_subnet_mask")" dev "$interface"
    [ -n "$new_routers" ] && ip route replace default via "${new_routers%% *}" dev "$interface"
    echo "LEASE $reason ip=$new_ip_address mask=$new_subnet_mask router=$new_routers dns=$new_domain_name_servers lease=$new_dhcp_lease_time serverid=$new_dhcp_server_identifier" ;;
  EXPIRE|FAIL|RELEASE|STOP|NAK|EXPIRE6|RELEASE6)
    ip -4 addr flush dev "$interface"; echo "LEASE $reason" ;;
esac
exit 0
"""


def _write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


class Client:
    """A real DHCP client in one station; its state files live in workdir.
    `lines` collects its output (and its hook's LEASE lines) as they come."""

    name = "?"
    keyed_by_mac = True  # dora's lease key: the MAC, or the client id

    def __init__(self, station, workdir):
        self.sta = station
        self.mac = station.mac
        self.dir = os.path.join(workdir, "%s-s%d" % (self.name, station.index))
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.lines = []
        self.times = []  # time.monotonic() of each line

    def _spawn(self, argv):
        self.proc = self.sta.spawn(argv)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        return self.proc

    def _read(self, proc):
        for line in proc.stdout:
            self.times.append(time.monotonic())
            self.lines.append(line.rstrip())

    def mark(self):
        return len(self.lines)

    def timeline(self, pattern, since=0, origin=None):
        """[(seconds since origin, line)] of output lines matching a regex."""
        rx = re.compile(pattern)
        n = min(len(self.lines), len(self.times))
        return [(self.times[i] - (origin or 0), self.lines[i]) for i in range(since, n) if rx.search(self.lines[i])]

    def options(self, since=0):
        """{name: value} of the OPTION lines its hook printed (udhcpc)."""
        got = {}
        for ln in self.lines[since:]:
            if ln.startswith("OPTION ") and "=" in ln:
                k, v = ln[7:].split("=", 1)
                got[k] = v
        return got

    def lease_lines(self, since=0):
        return [ln[ln.index("LEASE ") :] for ln in self.lines[since:] if "LEASE " in ln]

    def last_lease(self, since=0):
        """The fields of the last lease the hook applied, as a dict."""
        for ln in reversed(self.lease_lines(since)):
            words = ln.split(" ", 2)
            if len(words) == 3 and "ip=" in words[2]:
                d = {"event": words[1]}
                for kv in words[2].split(" "):
                    if "=" in kv:
                        k, v = kv.split("=", 1)
                        d[k] = v
                return d
        return None

    def wait_address(self, timeout=20):
        """The station's address ("a.b.c.d/n") once it has one, else None."""
        return wait_for(self.sta.address, timeout)

    def ip(self):
        a = self.sta.address()
        return a.split("/")[0] if a else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        if self.proc is not None:
            stop_process(self.proc, sig, 10)


class Udhcpc(Client):
    """busybox udhcpc in the foreground; no state kept across runs."""

    name = "udhcpc"

    def start(self, extra=()):
        script = _write(os.path.join(self.dir, "udhcpc.sh"), UDHCPC_SCRIPT, 0o755)
        # -t/-T/-A: 10 discovers 2 s apart, 2 s pause: bounded, and quick
        # enough to recover within one test.
        return self._spawn(["udhcpc", "-f", "-i", self.sta.ifname, "-s", script, "-t", "10", "-T", "2", "-A", "2"] + list(extra))

    def release(self):
        """SIGUSR2: send RELEASE, drop the address, stay idle."""
        self.proc.send_signal(signal.SIGUSR2)


class Dhclient(Client):
    """ISC dhclient in the foreground, with its lease and pid files here."""

    name = "dhclient"

    def __init__(self, station, workdir, conf=None):
        """conf: text of a dhclient.conf of its own (default: the system's)."""
        Client.__init__(self, station, workdir)
        self.conf = conf

    def files(self):
        script = _write(os.path.join(self.dir, "dhclient.sh"), LEASE_SCRIPT, 0o755)
        argv = [
            "-lf", os.path.join(self.dir, "dhclient.leases"),
            "-pf", os.path.join(self.dir, "dhclient.pid"),
            "-sf", script,
        ]
        if self.conf is not None:
            argv += ["-cf", _write(os.path.join(self.dir, "dhclient.conf"), self.conf)]
        return argv

    @property
    def lease_file(self):
        return os.path.join(self.dir, "dhclient.leases")

    def start(self):
        return self._spawn(["dhclient", "-4", "-d", "-v"] + self.files() + [self.sta.ifname])

    def release(self):
        """Stop the running client, then `dhclient -r` sends RELEASE from
        the stored lease (and finds no process left to end)."""
        self.stop()
        r = self.sta.run(["dhclient", "-4", "-r", "-v"] + self.files() + [self.sta.ifname], timeout=20, check=False)
        self.lines.extend((r.stdout + r.stderr).splitlines())


class Dhcpcd(Client):
    """dhcpcd 9 in the foreground (-B), IPv4 only, with its configuration
    here and its lease database (/var/lib/dhcpcd, compiled in) bind-mounted
    from this directory inside the command's own mount namespace, and a
    private /run/dhcpcd: nothing of the host's is read or written, and the
    stored lease survives a restart of the client."""

    name = "dhcpcd"
    keyed_by_mac = False  # with `duid` it sends an RFC 4361 client id (IAID + DUID)

    def __init__(self, station, workdir, arp=False, conf=""):
        """arp: probe the offered address (else `noarp`); conf: more lines
        for its dhcpcd.conf (e.g. "option rapid_commit\n")."""
        Client.__init__(self, station, workdir)
        self.arp = arp
        self.extra_conf = conf
        self.db = os.path.join(self.dir, "db")
        os.makedirs(self.db, exist_ok=True)
        os.chmod(self.db, 0o755)

    @property
    def lease_file(self):
        return os.path.join(self.db, "%s.lease" % self.sta.ifname)

    def start(self):
        conf = _write(
            os.path.join(self.dir, "dhcpcd.conf"),
            # `duid` as in Debian's own dhcpcd.conf: the client id is
            # IAID + DUID (RFC 4361), kept in the database across restarts.
            "duid\nipv4only\nnoipv4ll\nnohook resolv.conf\noption domain_name_servers, routers, subnet_mask\n"
            + ("" if self.arp else "noarp\n")
            + self.extra_conf,
        )
        script = _write(os.path.join(self.dir, "dhcpcd.sh"), LEASE_SCRIPT, 0o755)
        sh = (
            "mount --bind '%s' /var/lib/dhcpcd || exit 97\n"
            "[ -d /run/dhcpcd ] || mkdir -p /run/dhcpcd\n"
            "mount -t tmpfs dhcpcd-run /run/dhcpcd || exit 98\n"
            "exec dhcpcd -B -d -4 -f '%s' -c '%s' %s\n" % (self.db, conf, script, self.sta.ifname)
        )
        return self._spawn(["sh", "-c", sh])

    def release(self):
        """SIGALRM: dhcpcd sends RELEASE and exits.  (A signal that arrives
        while it is still busy with its own start-up can go unheeded; so
        once more if it has not exited.)"""
        for _ in range(3):
            self.proc.send_signal(signal.SIGALRM)
            try:
                self.proc.wait(5)
                return
            except subprocess.TimeoutExpired:
                pass
        raise RuntimeError("dhcpcd did not release and exit on SIGALRM: %s" % self.lines[-10:])


CLIENTS = {"udhcpc": Udhcpc, "dhclient": Dhclient, "dhcpcd": Dhcpcd}


# -- dora's server in the AP namespace -----------------------------------------

class Dora:
    """dora's server on the MicroPython unix port, started from the same
    firmware/ files that go on a board, in the lab's AP namespace; its log
    lines ("dora: ...") are collected in `lines`.  With capture=True every
    reply it sends (UDP source port 67) is written to a pcap for
    check_replies()."""

    def __init__(self, lab, workdir, capture=True, **config):
        self.lab = lab
        self.workdir = workdir
        self.lease_file = os.path.join(workdir, "leases.dat")
        self.config_path = os.path.join(workdir, "dora.json")
        self.cfg = {
            "address": lab.ap_address,
            "netmask": lab.netmask,
            "pool_start": "192.168.4.16",
            "pool_end": "192.168.4.250",
            "lease_time": 20,
            "dns": [lab.ap_address],
            "interface": lab.ap_ifname,
            "lease_file": self.lease_file,
            "run_seconds": 600,  # a bound, should a test's teardown fail
        }
        self.cfg.update(config)
        self.lines = []
        self.proc = None
        self.runs = 0
        # From the AP's address and port 67: dora's replies, not a relay's
        # (relays send from port 67 too).
        bpf = "udp src port 67 and src host %s" % lab.ap_address
        self.capture = lab.capture(os.path.join(workdir, "dora-replies.pcap"), bpf) if capture else None

    def start(self, timeout=15):
        mp = micropython_binary()
        if not mp:
            raise RuntimeError("no micropython binary (make venv)")
        with open(self.config_path, "w") as f:
            json.dump(self.cfg, f)
        # ".frozen" (literal) is the unix port's name for the modules frozen
        # into its binary, asyncio among them.
        env = dict(os.environ, MICROPYPATH=os.path.join(ROOT, "firmware") + ":.frozen")
        mark = len(self.lines)
        self.proc = self.lab.ap.spawn([mp, os.path.join(ROOT, "boards", "unix", "main.py"), self.config_path], cwd=self.workdir, env=env)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        self.runs += 1
        if not self.wait_line(r"^dora: serving ", timeout, mark):
            raise RuntimeError("dora did not start: %s" % self.lines[mark:])
        return self

    def _read(self, proc):
        for line in proc.stdout:
            self.lines.append(line.rstrip())

    def mark(self):
        return len(self.lines)

    def find(self, pattern, since=0):
        rx = re.compile(pattern)
        return [ln for ln in self.lines[since:] if rx.search(ln)]

    def wait_line(self, pattern, timeout, since=0):
        """The first log line after `since` matching the regex, waiting at
        most timeout s; None if none came."""
        found = wait_for(lambda: self.find(pattern, since), timeout)
        return found[0] if found else None

    def kill(self):
        """A power cut: SIGKILL, no clean shutdown."""
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL)

    def stop(self):
        """A clean stop; returns its "stopped:" totals line.  SIGINT, not
        SIGTERM: the unix port has no signal handling, so SIGTERM ends it on
        the spot, while SIGINT raises KeyboardInterrupt, which dora catches to
        close its lease file and log its totals."""
        if self.proc is not None and self.proc.poll() is None:
            mark = len(self.lines)
            stop_process(self.proc, signal.SIGINT, 10)
            wait_for(lambda: self.find("stopped:", mark), 2)
        found = self.find("stopped:")
        return found[-1] if found else None

    def lease_file_state(self):
        """(size, mtime_ns) of the lease file: a write changes it."""
        st = os.stat(self.lease_file)
        return st.st_size, st.st_mtime_ns

    def stored_leases(self):
        """[(address, client, state, lease)] that dora would restore from
        its lease file now (tools/leases.py, dora's own recovery code)."""
        out = subprocess.run(
            [sys.executable, os.path.join(ROOT, "tools", "leases.py"), self.lease_file],
            capture_output=True, text=True, timeout=30,
        )
        rows = []
        for line in out.stdout.splitlines()[1:]:
            w = line.split()
            if len(w) >= 4 and w[0].count(".") == 3:
                rows.append((w[0], w[1], w[2], " ".join(w[3:])))
        return rows

    def check_replies(self):
        """Stop the capture and dissect it: (replies captured, [problems])."""
        if self.capture is None:
            return 0, []
        self.capture.stop()
        return self.capture.count("dhcp"), self.capture.problems("dhcp")

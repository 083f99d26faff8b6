"""An access point in a box, made of Linux network namespaces (root only).

    with Lab(stations=3) as lab:
        server = lab.ap.spawn([...])           # runs inside the AP namespace
        lab.station(0).run(["udhcpc", ...])    # inside station 0's namespace
        lab.station(0).address()               # "192.168.4.16/24" or None

Layout: one namespace for the access point holding a bridge (`br0`, address
192.168.4.1/24), and one namespace per station whose `eth0` is a veth pair
plugged into that bridge.  Everything lives inside namespaces this object
makes, with names unique to the process (so parallel runs never collide); the
192.168.4.0/24 subnet exists only there.  On exit every process it spawned is
ended by its PID and every namespace deleted (which deletes their links).
"""

import os
import signal
import subprocess
import time

AP_ADDRESS = "192.168.4.1"
PREFIX_LEN = 24


def _ip(*args, check=True):
    return subprocess.run(("ip",) + args, check=check, capture_output=True, text=True)


def available():
    """None when a Lab can be built here, else the reason it cannot."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    try:
        _ip("netns", "list")
    except (OSError, subprocess.CalledProcessError) as e:
        return "no usable `ip netns` (%s)" % e
    return None


class Host:
    """One namespace: run or spawn commands inside it."""

    def __init__(self, lab, ns, ifname):
        self.lab = lab
        self.ns = ns
        self.ifname = ifname

    def prefix(self):
        return ["ip", "netns", "exec", self.ns]

    def run(self, argv, timeout=30, check=True, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.prefix() + list(argv), timeout=timeout, check=check, **kw)

    def spawn(self, argv, **kw):
        """Start argv in the namespace; the Lab ends it (by PID) on exit.
        `ip netns exec` execs the program, so the PID is the program's."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.STDOUT)
        kw.setdefault("text", True)
        p = subprocess.Popen(self.prefix() + list(argv), **kw)
        self.lab.procs.append(p)
        return p

    def address(self):
        """This host's IPv4 address with prefix length, or None."""
        out = self.run(["ip", "-4", "-o", "addr", "show", "dev", self.ifname], check=False).stdout
        for word_list in (line.split() for line in out.splitlines()):
            if "inet" in word_list:
                return word_list[word_list.index("inet") + 1]
        return None

    def routes(self):
        return self.run(["ip", "-4", "route"], check=False).stdout


class Lab:
    def __init__(self, stations=3, tag=None):
        self.count = stations
        self.tag = tag or "d%d" % (os.getpid() % 100000)
        self.procs = []
        self.namespaces = []
        self.ap = None
        self.stations = []
        self.ap_address = AP_ADDRESS
        self.ap_ifname = "br0"
        self.pool_start = "192.168.4.16"
        self.pool_end = "192.168.4.250"

    # -- building --------------------------------------------------------------
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

    def _netns(self, name):
        _ip("netns", "add", name)
        self.namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def _build(self):
        ap_ns = self.tag + "-ap"
        self._netns(ap_ns)
        _ip("-n", ap_ns, "link", "add", "br0", "type", "bridge")
        # No STP delay: stations must be able to talk at once.
        _ip("-n", ap_ns, "link", "set", "br0", "type", "bridge", "forward_delay", "0", "stp_state", "0", check=False)
        _ip("-n", ap_ns, "addr", "add", "%s/%d" % (AP_ADDRESS, PREFIX_LEN), "dev", "br0")
        _ip("-n", ap_ns, "link", "set", "br0", "up")
        self.ap = Host(self, ap_ns, "br0")
        for i in range(self.count):
            self.add_station()

    def add_station(self):
        i = len(self.stations)
        ns = "%s-s%d" % (self.tag, i)
        self._netns(ns)
        # The pair is made inside the AP namespace, then one end moved out:
        # nothing of it ever appears in the host's own namespace.
        port = "p%d" % i
        _ip("-n", self.ap.ns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("-n", self.ap.ns, "link", "set", port, "master", "br0")
        _ip("-n", self.ap.ns, "link", "set", port, "up")
        _ip("-n", ns, "link", "set", "eth0", "address", self.mac(i))
        _ip("-n", ns, "link", "set", "eth0", "up")
        host = Host(self, ns, "eth0")
        self.stations.append(host)
        return host

    def mac(self, i):
        return "02:d0:4a:00:%02x:%02x" % ((i >> 8) & 255, i & 255)

    def station(self, i):
        return self.stations[i]

    # -- tearing down ----------------------------------------------------------
    def stop(self, proc, sig=signal.SIGTERM, timeout=5):
        """End one spawned process by its PID."""
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        return proc.returncode

    def close(self):
        for p in reversed(self.procs):
            try:
                self.stop(p)
            except Exception:
                pass
        self.procs = []
        # Daemons that forked away from our PIDs (dhclient writes a pid
        # file) are ended by the tests that start them; a namespace that
        # still holds a process is deleted anyway (its links go with it).
        for ns in reversed(self.namespaces):
            _ip("netns", "del", ns, check=False)
        self.namespaces = []


# Client hook scripts that only touch the station's own interface (the
# packaged ones also rewrite /etc/resolv.conf, which namespaces share).
UDHCPC_SCRIPT = """#!/bin/sh
# busybox udhcpc hook: $1 is the event; the lease comes in variables.
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    echo "udhcpc $1: $ip/$mask router $router dns $dns lease $lease" ;;
  deconfig) ip addr flush dev "$interface" ;;
esac
exit 0
"""

DHCLIENT_SCRIPT = """#!/bin/sh
# ISC dhclient hook: $reason is the event; new_* variables hold the lease.
mask_bits() { echo "$1" | awk -F. '{n=0; for(i=1;i<=4;i++){x=$i; while(x){n+=x%2; x=int(x/2)}} print n}'; }
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT)
    ip addr flush dev "$interface"
    ip addr add "$new_ip_address/$(mask_bits "$new_subnet_mask")" dev "$interface"
    echo "dhclient $reason: $new_ip_address/$new_subnet_mask routers $new_routers dns $new_domain_name_servers" ;;
  EXPIRE|FAIL|RELEASE|STOP) ip addr flush dev "$interface"; echo "dhclient $reason" ;;
esac
exit 0
"""


def write_scripts(directory):
    """Write the hook scripts into directory; returns {name: path}."""
    paths = {}
    for name, text in (("udhcpc.sh", UDHCPC_SCRIPT), ("dhclient.sh", DHCLIENT_SCRIPT)):
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
        paths[name] = path
    return paths


def wait_for(predicate, timeout, step=0.2):
    """Poll predicate() until it returns something true, for at most timeout s."""
    end = time.time() + timeout
    while True:
        v = predicate()
        if v or time.time() >= end:
            return v
        time.sleep(step)

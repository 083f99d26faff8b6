# The MicroPython unix port as a board: run dora's DHCP client on a Linux
# interface (inside a network namespace in the tests) from a JSON config.
#
#   MICROPYPATH=firmware micropython boards/unix/client_main.py CONFIG.json
#   PYTHONPATH=firmware python3 boards/unix/client_main.py CONFIG.json   (CPython)
#
# HOST ONLY: the adapter below applies the lease with `ip addr` / `ip route`
# through os.system.  It never goes on a board: there, apply() calls the
# board's network API (ipconfig/ifconfig) instead.
#
# Config: the fields of dora.client_config.ClientConfig (docs/client.md),
# plus "apply" (bool, default true): configure the interface with `ip`.
# The MAC comes from "mac", else from /sys/class/net/<interface>/address.
# Stops after "run_seconds", or on SIGINT (releasing first when
# "release_on_stop"); SIGTERM ends it at once, like a power cut.

import sys

from unix_path import need_asyncio  # noqa: E402 - beside this file

need_asyncio("dora-client")

import json  # noqa: E402
import os  # noqa: E402

from dora import client_runner as CR  # noqa: E402
from dora.fields import ConfigError, parse_mac  # noqa: E402
from dora.compat import asyncio  # noqa: E402


class IpAdapter:
    """Applies a lease to a Linux interface with the `ip` command.

    The address gets the lease time as its kernel lifetime (valid_lft), so
    that it goes by itself should the client die; every renewal applies it
    again, which restarts that lifetime."""

    def __init__(self, ifname, log):
        self.ifname = ifname
        self.log = log
        self.current = None  # "a.b.c.d/n" configured by us (or left from before)

    def adopt(self, lease):
        """A lease from the file whose address the interface still carries
        (Linux keeps it when the client is killed): ours to remove."""
        if self.holds(lease):
            self.current = _cidr(lease)

    def holds(self, lease):
        """True while the interface carries the lease's address."""
        return os.system("ip -4 -o addr show dev %s | grep -qF ' inet %s '" % (self.ifname, _cidr(lease))) == 0

    def __call__(self, lease):
        if lease is None:
            if self.current:
                self._remove(self.current)
                self.current = None
            return
        cidr = _cidr(lease)
        if self.current and self.current != cidr:
            self._remove(self.current)
        extra = " broadcast %s" % lease.broadcast if lease.broadcast else " broadcast +"
        self._ip("addr replace %s%s dev %s valid_lft %d preferred_lft %d" % (
            cidr, extra, self.ifname, lease.lease_time, lease.lease_time))
        if lease.router:
            self._ip("route replace default via %s dev %s" % (lease.router, self.ifname))
        # Tests wait for this line before a SIGINT: system() ignores SIGINT
        # in the caller while its command runs, so one sent then is lost.
        if self.current == cidr:
            self.log("refreshed %s for %ds" % (cidr, lease.lease_time))
        else:
            self.log("applied %s" % cidr)
        self.current = cidr

    def _remove(self, cidr):
        if os.system("ip -4 -o addr show dev %s | grep -qF ' inet %s '" % (self.ifname, cidr)) != 0:
            return  # not there (aged out, or never put back after a reboot)
        self._ip("addr del %s dev %s" % (cidr, self.ifname))
        self.log("removed %s" % cidr)

    def _ip(self, args):
        rc = os.system("ip " + args)
        if rc != 0:
            self.log("`ip %s` failed (%d)" % (args, rc))


def _cidr(lease):
    return "%s/%d" % (lease.address, lease.prefix_len)


def _mac_of(ifname):
    with open("/sys/class/net/%s/address" % ifname) as f:
        return parse_mac(f.read().strip(), "mac")


def start(argv):
    if len(argv) < 2:
        print("usage: client_main.py CONFIG.json")
        sys.exit(2)
    with open(argv[1]) as f:
        d = json.load(f)
    do_apply = d.pop("apply", True)
    try:
        cfg = CR.ClientConfig(d)
        mac = cfg.mac
        if mac is None:
            if not cfg.interface:
                raise ConfigError("mac: needed when no interface is named")
            mac = _mac_of(cfg.interface)
        apply = IpAdapter(cfg.interface, CR._log) if do_apply and cfg.interface else None
        r = CR.ClientRunner(cfg, mac=mac, apply=apply, holds=apply.holds if apply else None)
    except (ConfigError, OSError) as e:
        print("dora-client: bad config: %s" % e)
        sys.exit(2)
    try:
        r.open()
    except OSError as e:
        print("dora-client: cannot open UDP port %d on %s: %r" % (cfg.client_port, cfg.interface or "any interface", e))
        sys.exit(1)
    if apply is not None and r.stored is not None:
        apply.adopt(r.stored)
    r.log("starting on %s mac %s state %s" % (cfg.interface, ":".join("%02x" % b for b in mac), "INIT"))
    try:
        asyncio.run(r.run())
    except KeyboardInterrupt:
        # MicroPython's asyncio.run() does not unwind the running coroutine
        # on Ctrl-C, so run()'s finally may not have run: finish here.
        r.stop()
    r.log("stopped in state %s, errors %d, lease file writes %d" % (r.state(), r.errors, r.writes))


start(sys.argv)

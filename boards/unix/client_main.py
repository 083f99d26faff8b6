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
# Config: the fields of dora.client_runner.ClientConfig (docs/client.md),
# plus "apply" (bool, default true): configure the interface with `ip`.
# The MAC comes from "mac", else from /sys/class/net/<interface>/address.
# Stops after "run_seconds", or on SIGINT (releasing first when
# "release_on_stop"); SIGTERM ends it at once, like a power cut.

import json
import os
import sys

from dora import client_runner as CR
from dora.compat import asyncio


class IpAdapter:
    """Applies a lease to a Linux interface with the `ip` command."""

    def __init__(self, ifname, log):
        self.ifname = ifname
        self.log = log
        self.current = None  # "a.b.c.d/n" configured by us

    def __call__(self, lease):
        if lease is None:
            if self.current:
                self._ip("addr del %s dev %s" % (self.current, self.ifname))
                self.log("removed %s" % self.current)
                self.current = None
            return
        cidr = "%s/%d" % (lease.address, lease.prefix_len)
        if self.current and self.current != cidr:
            self._ip("addr del %s dev %s" % (self.current, self.ifname))
        extra = " broadcast %s" % lease.broadcast if lease.broadcast else " broadcast +"
        self._ip("addr replace %s%s dev %s valid_lft %d preferred_lft %d" % (
            cidr, extra, self.ifname, lease.lease_time, lease.lease_time))
        self.current = cidr
        if lease.router:
            self._ip("route replace default via %s dev %s" % (lease.router, self.ifname))
        # Tests wait for this line before a SIGINT: system() ignores SIGINT
        # in the caller while its command runs, so one sent then is lost.
        self.log("applied %s" % cidr)

    def _ip(self, args):
        rc = os.system("ip " + args)
        if rc != 0:
            self.log("`ip %s` failed (%d)" % (args, rc))


def _mac_of(ifname):
    with open("/sys/class/net/%s/address" % ifname) as f:
        return CR.parse_mac(f.read().strip(), "mac")


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
                raise CR.ConfigError("mac: needed when no interface is named")
            mac = _mac_of(cfg.interface)
        apply = IpAdapter(cfg.interface, CR._log) if do_apply and cfg.interface else None
        r = CR.ClientRunner(cfg, mac=mac, apply=apply)
    except (CR.ConfigError, OSError) as e:
        print("dora-client: bad config: %s" % e)
        sys.exit(2)
    r.log("starting on %s mac %s state %s" % (cfg.interface, ":".join("%02x" % b for b in mac), "INIT"))
    try:
        asyncio.run(r.run())
    except KeyboardInterrupt:
        # MicroPython's asyncio.run() does not unwind the running coroutine
        # on Ctrl-C, so run()'s finally may not have run: finish here.
        if cfg.release_on_stop and r.sock is not None and r.client.bound():
            r.release()
        r.close()
    r.log("stopped in state %s, errors %d, lease file writes %d" % (r.state(), r.errors, r.writes))


start(sys.argv)

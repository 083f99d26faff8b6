#!/usr/bin/env python3
"""Inspect and control dora on a board from the host, over `mpremote exec`.

mpremote enters the board's raw REPL (it sends Ctrl-C first), so the server
must run where that does not stop it: started in a background thread
(`_thread.start_new_thread(runner.main, (cfg,))`, ESP32 and RP2040 have
_thread) rather than blocking main.py.  See docs/features.md; not yet tried
on a board.

    dora_ctl.py [--device PORT] [--dry-run] leases
    dora_ctl.py ... revoke MAC_OR_IP
    dora_ctl.py ... add-static MAC ADDRESS [--hostname NAME] [--option CODE=VALUE ...]
    dora_ctl.py ... remove-static MAC
    dora_ctl.py ... stats

--dry-run prints the mpremote command instead of running it.  The code sent
calls dora.control (firmware/dora/control.py); arguments are embedded with
repr(), so no shell or Python quoting reaches the board unescaped.
"""

import argparse
import shlex
import subprocess
import sys


def board_code(args):
    """The Python statement(s) to run on the board for these arguments."""
    pre = "import dora.control as c; "
    if args.cmd == "leases":
        return pre + "c.show()"
    if args.cmd == "stats":
        return pre + "print('\\n'.join(c.stats()))"
    if args.cmd == "revoke":
        return pre + "print(c.revoke(%r))" % args.target
    if args.cmd == "add-static":
        opts = {}
        for item in args.option or []:
            code, _, value = item.partition("=")
            if not code.isdigit() or not value:
                raise SystemExit("--option: expected CODE=VALUE, got %r" % item)
            opts[code] = value
        return pre + "print(c.add_static(%r, %r, hostname=%r, options=%r))" % (
            args.mac, args.address, args.hostname, opts or None)
    if args.cmd == "remove-static":
        return pre + "print(c.remove_static(%r))" % args.mac
    raise SystemExit("unknown command %r" % args.cmd)


def command(args):
    cmd = [args.mpremote]
    if args.device:
        cmd += ["connect", args.device]
    cmd += ["exec", board_code(args)]
    return cmd


def parser():
    p = argparse.ArgumentParser(description="control dora on a board over mpremote")
    p.add_argument("--device", help="serial port or mpremote shortcut (default: auto)")
    p.add_argument("--mpremote", default="mpremote", help="the mpremote command")
    p.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("leases", help="print the lease table(s)")
    sub.add_parser("stats", help="print the counters")
    r = sub.add_parser("revoke", help="end a lease now")
    r.add_argument("target", help="MAC or IPv4 address")
    a = sub.add_parser("add-static", help="reserve an address for a MAC")
    a.add_argument("mac")
    a.add_argument("address")
    a.add_argument("--hostname")
    a.add_argument("--option", action="append", metavar="CODE=VALUE",
                   help='extra option, e.g. 114=http://192.168.4.1/ (repeatable)')
    d = sub.add_parser("remove-static", help="drop a static host")
    d.add_argument("mac")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    cmd = command(args)
    if args.dry_run:
        print(" ".join(shlex.quote(c) for c in cmd))
        return 0
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())

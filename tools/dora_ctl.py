#!/usr/bin/env python3
"""Inspect and change dora's state on a board from the host, over mpremote.

    dora_ctl.py [--device PORT] [--dry-run] leases
    dora_ctl.py ... stats
    dora_ctl.py ... revoke MAC_OR_IP
    dora_ctl.py ... add-static MAC ADDRESS [--hostname NAME] [--option CODE=VALUE ...]
    dora_ctl.py ... remove-static MAC

A board runs dora in the foreground of main.py, and mpremote reaches the
board only through its raw REPL, which it enters with ctrl-C: the server
stops whenever mpremote connects.  So each command is one stop, change and
restart, in one mpremote run (`mpremote connect PORT exec CODE reset`):

  1. ctrl-C stops dora (every ACKed binding is on flash already) and
     mpremote's soft reset gives the code a fresh heap;
  2. the code opens dora's state from the board's own files (/board.json
     and its lease file) without serving, and does the one thing asked,
     through dora.control: a revocation is written to the lease file, and
     a static host is written to /board.json (dora.static, checked as at
     start-up before the file is replaced), so it lasts;
  3. `mpremote reset` restarts the board, and main.py serves again with the
     change (a second or two without a server: clients retransmit).

--dry-run prints the mpremote command instead of running it.  Arguments are
embedded with repr(), so no shell or Python quoting reaches the board
unescaped; an error (a bad MAC, an address in no pool...) is printed as one
line starting with "dora_ctl:" and the command exits with status 1.
"""

import argparse
import shlex
import subprocess
import sys

ERROR_MARK = "dora_ctl: "

# Runs on the board with dora stopped: dora's state from /board.json and its
# lease file, as main.py would open it, registered for dora.control.  The
# board kind only decides settings no change here touches (how replies
# leave), so it is told from the config and the platform.
OPEN = """\
import json, os, sys
import dora_board as B
from dora import admin as A
from dora import runner as R
import dora.control as c
_path = %(config)r

def _mac(text):
    return text.lower().replace("-", ":")

def _save_static(mac, item):
    # /board.json's dora.static without mac (and with item): checked as at
    # start-up first, so a bad entry never reaches the file the board boots from.
    d = _b.setdefault("dora", {})
    st = [h for h in d.get("static", []) if _mac(h.get("mac", "")) != _mac(mac)]
    if item:
        st.append(item)
    d["static"] = st
    B.check(_b, _k)
    with open(_path + ".new", "w") as f:
        json.dump(_b, f)
    os.rename(_path + ".new", _path)

_r = None
try:
    _b = B.load(_path)
    _k = "ethernet" if "lan" in _b else ("rp2" if sys.platform == "rp2" else "esp32")
    _c = B.check(_b, _k)
    if _c["watchdog_ms"]:
        # The watchdog main.py started runs on after ctrl-C: a full period
        # for the change (the reset that follows restarts it as main.py's).
        import machine
        machine.WDT(timeout=_c["watchdog_ms"]).feed()
    _r = R.Runner(B.server_config(_c, _k, None))
    if _r.store:
        _r.store.load(_r.clock.now())
    _r.server.reserve()
    R.running[:] = [_r]
"""

CLOSE = """\
except ValueError as e:  # ConfigError, BoardError: the field and what is wrong
    print(%r + str(e))
finally:
    if _r is not None:
        _r.close()
"""


def action(args):
    """The statements (inside try:) that do what args ask."""
    if args.cmd == "leases":
        return "c.show()"
    if args.cmd == "stats":
        return "print(A.status_text(_r, _r.clock.now()))"
    if args.cmd == "revoke":
        return "print(c.revoke(%r))" % args.target
    if args.cmd == "add-static":
        opts = {}
        for item in args.option or []:
            code, _, value = item.partition("=")
            if not code.isdigit() or not value:
                raise SystemExit("--option: expected CODE=VALUE, got %r" % item)
            opts[code] = value
        item = {"mac": args.mac, "address": args.address}
        if args.hostname is not None:
            item["hostname"] = args.hostname
        if opts:
            item["options"] = opts
        # Saved first: the board then boots with it even if the table
        # change below were cut short.
        # (A MAC given again replaces its entry.)
        return "_save_static(%r, %r)\nc.remove_static(%r)\nprint(c.add_static(%r, %r, hostname=%r, options=%r))" % (
            args.mac, item, args.mac, args.mac, args.address, args.hostname, opts or None)
    if args.cmd == "remove-static":
        return "_done = c.remove_static(%r)\n_save_static(%r, None)\nprint(_done)" % (args.mac, args.mac)
    raise SystemExit("unknown command %r" % args.cmd)


def board_code(args, config="/board.json"):
    """The Python program to run on the board (dora stopped) for args."""
    body = "\n".join("    " + ln for ln in action(args).splitlines())
    return OPEN % {"config": config} + body + "\n" + CLOSE % ERROR_MARK


def command(args):
    cmd = [args.mpremote]
    if args.device:
        cmd += ["connect", args.device]
    return cmd + ["exec", board_code(args), "reset"]


def parser():
    p = argparse.ArgumentParser(description="inspect and change dora's state on a board over mpremote"
                                " (dora stops, the change is saved, the board restarts)")
    p.add_argument("--device", help="serial port or mpremote shortcut (default: auto)")
    p.add_argument("--mpremote", default="mpremote", help="the mpremote command")
    p.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("leases", help="print the lease table")
    sub.add_parser("stats", help="print the lease counts (bound, offered, declined, free)")
    r = sub.add_parser("revoke", help="end a lease now")
    r.add_argument("target", help="MAC or IPv4 address")
    a = sub.add_parser("add-static", help="reserve an address for a MAC (saved in /board.json)")
    a.add_argument("mac")
    a.add_argument("address")
    a.add_argument("--hostname")
    a.add_argument("--option", action="append", metavar="CODE=VALUE",
                   help='extra option, e.g. 114=http://192.168.4.1/ (repeatable)')
    d = sub.add_parser("remove-static", help="drop a static host (from /board.json)")
    d.add_argument("mac")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    cmd = command(args)
    if args.dry_run:
        print(" ".join(shlex.quote(c) for c in cmd))
        return 0
    out = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(out.stdout)
    sys.stderr.write(out.stderr)
    if out.returncode != 0:
        return out.returncode
    return 1 if ERROR_MARK in out.stdout else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The stock W5500-EVB-Pico MicroPython image, emulated, on a real network.

    ethernet_board.py serve --iface IFACE [--config board.json] [--flash FILE]
                      [--deploy] [--port N]
        Runs the emulated board (RP2040 in rp2040js, a W5500 model on its SPI
        bus, flash kept in FILE) with its Ethernet port bridged to IFACE in
        the current network namespace, in the foreground, printing the
        board's USB-CDC output, until SIGINT/SIGTERM.  --deploy first
        installs dora (make deploy BOARD=ethernet ARCH=armv6m) over the
        board's USB-CDC socket, as a user installs it on a real board.

    ethernet_board.py demo
        The README demo: the emulated router boots, stations in network
        namespaces get leases from it, the lease table, a power cut, and the
        leases coming back (root).

The image is $W5500_IMAGE (the stock build-W5500_EVB_PICO/firmware.elf), the
bootrom $RP2040_BOOTROM; `make serve-ethernet` sets both from the kit.  As a library: EmulatedRouter (the emulator
process with its supervisor: a watchdog reset or machine.reset() restarts it
on the same flash file) and BoardLab (a netns Lab whose AP namespace holds
the board's wire instead of an address).
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import board_repl  # noqa: E402

RUNNER = os.path.join(ROOT, "tools", "emu", "board.mjs")
MODELS = [os.path.join(ROOT, "tools", "emu", m) for m in ("ethernet.mjs", "flash.mjs", "reset-on-watchdog.mjs", "realtime.mjs")]


def default_image():
    """The stock W5500_EVB_PICO image (mk/kit.mk exports W5500_IMAGE)."""
    return os.environ.get("W5500_IMAGE") or None


def default_bootrom():
    """The RP2040 bootrom (mk/ethernet.mk exports RP2040_BOOTROM from KIT)."""
    return os.environ.get("RP2040_BOOTROM") or None


def missing():
    """Why the emulated Ethernet board cannot run here (one line), or None."""
    if shutil.which("node") is None:
        return "node is not installed (the RP2040 emulator runs on Node)"
    if not os.path.isdir(os.path.join(ROOT, "tools", "emu", "node_modules", "rp2040js")):
        return "rp2040js is not installed in tools/emu/node_modules (npm ci in tools/emu)"
    image = default_image()
    if not image or not os.path.exists(image):
        return "no W5500_EVB_PICO image (W5500_IMAGE=%s; mk/kit.mk builds it from the kit)" % (image or "unset")
    rom = default_bootrom()
    if not rom or not os.path.exists(rom):
        return "no RP2040 bootrom (RP2040_BOOTROM=%s; KIT=folder with rp2040-bootrom.bin)" % (rom or "unset")
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class EmulatedRouter:
    """One emulated W5500-EVB-Pico: the node process, its events, its USB-CDC
    console on 127.0.0.1:port (fixed across restarts, so mpremote and the
    console find it again after a reset).

    The console is held by `attach_console()` (a thread collecting the
    board's output in `lines`) and let go by `detach_console()` so that
    mpremote or the raw REPL can take it."""

    def __init__(self, workdir, eth_socket=None, image=None, bootrom=None, port=None, max_wall=3600, echo=None):
        self.workdir = workdir
        self.image = image or default_image()
        self.bootrom = bootrom or default_bootrom()
        self.flash_file = os.path.join(workdir, "flash.bin")
        self.eth_socket = eth_socket
        self.port = port or free_port()
        self.max_wall = max_wall
        self.echo = echo  # called with each console line, e.g. print
        self.proc = None
        self.events = []
        self.lines = []
        self.boots = 0
        self.resets = 0  # restarts after a watchdog reset / machine.reset()
        self.power_cuts = 0
        self.console = None
        self.auto_restart = True
        self.console_wanted = True  # after a watchdog reset, see main.py's output
        self._lock = threading.Lock()

    # -- process ---------------------------------------------------------
    def argv(self):
        argv = ["node", RUNNER, "--image", self.image, "--bootrom", self.bootrom,
                "--port", str(self.port), "--max-wall", str(self.max_wall)]
        for m in MODELS:
            argv += ["--attach", m]
        return argv

    def start(self, timeout=60):
        if self.proc is not None and self.proc.poll() is None:
            raise board_repl.BoardError("the emulator is running already (pid %d)" % self.proc.pid)
        env = dict(os.environ, DORA_FLASH_FILE=self.flash_file)
        if self.eth_socket:
            env["DORA_ETH_SOCKET"] = self.eth_socket
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        event = json.loads(line) if line else {"event": "exited", "status": self.proc.wait()}
        if event.get("event") != "listening":
            raise board_repl.BoardError("the emulator did not start: %r" % event)
        self.boots += 1
        self.boot_time = time.monotonic()
        threading.Thread(target=self._events, args=(self.proc,), daemon=True).start()
        return self

    def _events(self, proc):
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self.events.append(event)
            if event.get("event") == "stopped" and event.get("reason") == "watchdog-reset" and self.auto_restart:
                proc.wait()
                self.detach_console()
                self._log("[emulator] watchdog reset: the board restarts (flash kept)")
                self.boot(console=self.console_wanted)
                self.resets += 1
                return

    def boot(self, console=True):
        """Start the emulator; with console, also see main.py's output.

        What the board prints before the emulated USB host has opened its
        serial port is dropped by the firmware (as on a real board with no
        terminal open yet), and how far the boot gets before that varies.
        So main.py is run again once the console listens: ctrl-C, then a
        soft reset (ctrl-D), as a user at a serial terminal does.  The
        filesystem, and so the lease file, is read again from flash."""
        self.start()
        if console:
            self.soft_reset()

    def stats(self):
        """The emulator's cycle count and simulated/wall seconds now."""
        mark = len(self.events)
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        end = time.monotonic() + 10
        while time.monotonic() < end:
            for e in self.events[mark:]:
                if e.get("event") == "stats":
                    return e
            time.sleep(0.05)
        raise board_repl.BoardError("no stats from the emulator")

    def power_cut(self):
        """Kill the emulator at once (SIGKILL): RAM gone, flash as it was at
        the last finished erase/program."""
        self.detach_console()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.power_cuts += 1

    def stop(self):
        self.auto_restart = False
        self.detach_console()
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.write("stop\n")
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.proc.kill()
                self.proc.wait()

    # -- console ---------------------------------------------------------
    def _log(self, text):
        with self._lock:
            self.lines.append(text)
        if self.echo:
            self.echo(text)

    def attach_console(self, timeout=30):
        """Collect the board's USB-CDC output in self.lines (one line each)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        # The board may print nothing for minutes between DHCP events: the
        # reader blocks until bytes come or the socket closes (a timeout
        # left from connecting would end it at the first silence).
        sock.settimeout(None)
        self.console = sock
        threading.Thread(target=self._read_console, args=(sock,), daemon=True).start()

    def _read_console(self, sock):
        buf = b""
        while True:
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self._log(line.decode("utf-8", "replace").rstrip("\r"))
        if buf:
            self._log(buf.decode("utf-8", "replace"))

    def detach_console(self):
        if self.console is not None:
            try:
                self.console.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.console.close()
            self.console = None
            time.sleep(0.2)  # let the emulator see the client go

    def mark(self):
        return len(self.lines)

    def find(self, pattern, since=0):
        rx = re.compile(pattern)
        with self._lock:
            return [ln for ln in self.lines[since:] if rx.search(ln)]

    def wait_line(self, pattern, timeout, since=0):
        end = time.monotonic() + timeout
        while True:
            found = self.find(pattern, since)
            if found or time.monotonic() > end:
                return found[0] if found else None
            time.sleep(0.1)

    def repl(self, timeout=120):
        """A raw REPL on the console (interrupting whatever runs); close its
        socket (repl.sock.close()) when done."""
        self.detach_console()
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        r = board_repl.RawRepl(sock)
        r.enter(timeout)
        return r

    def exec(self, code, timeout=120):
        r = self.repl(timeout)
        try:
            return r.exec(code, timeout)
        finally:
            r.sock.close()
            time.sleep(0.2)

    def soft_reset(self):
        """ctrl-D at the friendly REPL: main.py runs again (the console is
        attached to see it)."""
        r = self.repl()
        r.sock.sendall(b"\x02\x04")  # leave the raw REPL, soft reset
        r.sock.close()
        time.sleep(0.2)
        self.attach_console()

    def read_file(self, path, timeout=120):
        """A file's bytes from the board's filesystem, over the raw REPL
        (this interrupts main.py; soft_reset() starts it again)."""
        code = "import binascii\nwith open(%r, 'rb') as f:\n    print(binascii.hexlify(f.read()).decode())" % path
        return bytes.fromhex(self.exec(code, timeout).strip())

    def url(self):
        return "socket://127.0.0.1:%d" % self.port


# -- the network side ---------------------------------------------------------------

BOARD_IF = "board0"  # the board's wire: a veth end in the AP namespace
BOARD_PORT = "bport"  # its peer, a port of the AP's bridge


def plug_board(lab, workdir, max_seconds=3600):
    """Give the Lab's AP namespace the board's wire: a veth pair whose one
    end is a port of br0 and whose other end carries the board's frames
    (tools/ethbridge.py); br0 loses its address (the board is the router).
    Returns (bridge Popen, Unix socket path)."""
    ns = lab.ap.name

    def ip(*args):
        subprocess.run(("ip", "-n", ns) + args, check=True, capture_output=True, timeout=10)

    ip("addr", "flush", "dev", lab.ap_ifname)
    ip("link", "add", BOARD_PORT, "type", "veth", "peer", "name", BOARD_IF)
    ip("link", "set", BOARD_PORT, "master", lab.ap_ifname)
    for link in (BOARD_PORT, BOARD_IF):
        lab.ap.run(["sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % link], check=False)
        ip("link", "set", link, "up")
    path = os.path.join(workdir, "eth.sock")
    proc = lab.ap.spawn([sys.executable, os.path.join(ROOT, "tools", "ethbridge.py"), BOARD_IF, path,
                         "--max-seconds", str(max_seconds)])
    end = time.monotonic() + 10
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > end:
            raise RuntimeError("ethbridge did not start: %s" % proc.stdout.read())
        time.sleep(0.05)
    return proc, path


def board_config(address="192.168.4.1", lease_time=7200, **dora):
    cfg = {"pool_start": "192.168.4.16", "pool_end": "192.168.4.250", "lease_time": lease_time}
    cfg.update(dora)
    return {
        "lan": {"type": "W5500", "address": address, "netmask": "255.255.255.0"},
        "dora": cfg,
        "watchdog_ms": 8000,
    }


def deploy(router, config_path, timeout=900):
    """`make deploy BOARD=ethernet ARCH=armv6m PORT=socket://...` against the
    running board, then wait for it to come back from the reset."""
    router.detach_console()
    resets = router.resets
    argv = ["make", "-s", "-C", ROOT, "deploy", "BOARD=ethernet", "ARCH=armv6m",
            "PORT=" + router.url(), "BOARD_CONFIG=" + os.path.abspath(config_path)]
    if os.path.exists(os.path.join(ROOT, ".venv", "bin", "mpremote")):
        argv += ["-o", ".venv/.done"]  # the venv is there: use it as it is
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError("make deploy failed:\n%s%s" % (out.stdout[-3000:], out.stderr[-3000:]))
    # `mpremote reset` ends in machine.reset(): the emulator restarts itself.
    end = time.monotonic() + 60
    while router.resets == resets and time.monotonic() < end:
        time.sleep(0.2)
    if router.resets == resets:
        raise RuntimeError("the board did not reset after deploy")
    return out.stdout


# -- command line ---------------------------------------------------------------------

def serve(a):
    workdir = a.workdir or tempfile.mkdtemp(prefix="dora-ethboard-")
    os.makedirs(workdir, exist_ok=True)
    sock_path = os.path.join(workdir, "eth.sock")
    forever = 30 * 24 * 3600  # until stopped (a bound all the same)
    bridge = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "ethbridge.py"), a.iface, sock_path,
                               "--max-seconds", str(forever)])
    router = EmulatedRouter(workdir, eth_socket=sock_path, port=a.port, max_wall=forever,
                            echo=lambda t: print(t, flush=True))
    if a.flash:
        router.flash_file = os.path.abspath(a.flash)
    fresh = not os.path.exists(router.flash_file)  # a new flash: install dora first

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        router.start()
        print("[emulator] W5500-EVB-Pico on %s, console %s, flash %s" % (a.iface, router.url(), router.flash_file), flush=True)
        if a.deploy or fresh:
            print("[emulator] deploying dora (make deploy BOARD=ethernet ARCH=armv6m)...", flush=True)
            deploy(router, a.config)  # its reset restarts the board with the console attached
        else:
            router.soft_reset()  # main.py again, with the console listening
        while True:
            time.sleep(1)
            last = router.events[-1] if router.events else {}
            if router.proc.poll() is not None and last.get("reason") != "watchdog-reset":
                print("[emulator] stopped: %s" % last.get("reason"), flush=True)
                break
    except KeyboardInterrupt:
        pass
    finally:
        router.stop()
        bridge.send_signal(signal.SIGTERM)
        try:
            bridge.wait(5)
        except subprocess.TimeoutExpired:
            bridge.kill()
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--iface", required=True)
    s.add_argument("--config", default=os.path.join(ROOT, "boards", "ethernet", "w5500.json"))
    s.add_argument("--flash", help="flash image file (default: a new one in the work directory)")
    s.add_argument("--workdir")
    s.add_argument("--port", type=int, help="TCP port of the board's USB-CDC console")
    s.add_argument("--deploy", action="store_true", help="install dora even on a flash file that has it")
    sub.add_parser("demo")
    sub.add_parser("bench")
    a = ap.parse_args(argv)
    why = missing()
    if why:
        print("ethernet_board: " + why)
        return 2
    if a.cmd == "serve":
        return serve(a)
    if a.cmd == "bench":
        import ethernet_bench

        return ethernet_bench.main()
    import ethernet_demo

    return ethernet_demo.main()


if __name__ == "__main__":
    sys.exit(main())


# -- ping (the machine has no ping binary; ICMP echo from a raw socket) ----------

PING = r"""
import os, socket, struct, sys, time
dst, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(3)
def csum(b):
    b += b"\0" * (len(b) & 1)
    n = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    n = (n >> 16) + (n & 0xFFFF)
    return ~(n + (n >> 16)) & 0xFFFF
ident = os.getpid() & 0xFFFF
for seq in range(count):
    body = struct.pack("!d", time.time()) + bytes(range(48))
    head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    pkt = struct.pack("!BBHHH", 8, 0, csum(head + body), ident, seq) + body
    t = time.monotonic()
    s.sendto(pkt, (dst, 0))
    try:
        while True:
            data, _ = s.recvfrom(2048)
            icmp = data[(data[0] & 15) * 4:]
            if icmp[0] == 0 and struct.unpack("!HH", icmp[4:8]) == (ident, seq):
                print("reply seq=%d %.1f ms %s" % (seq, (time.monotonic() - t) * 1000, "ok" if icmp[8:] == body else "CORRUPT"))
                break
    except socket.timeout:
        print("timeout seq=%d" % seq)
    time.sleep(0.2)
"""


def ping(ns, address, count=3):
    """ICMP echo from namespace ns: [(seq, ms or None, payload intact)]."""
    out = ns.run([sys.executable, "-c", PING, address, str(count)], timeout=10 + 4 * count, check=False)
    got = []
    for line in out.stdout.splitlines():
        w = line.split()
        seq = int(w[1].split("=")[1])
        got.append((seq, float(w[2]) if w[0] == "reply" else None, w[0] == "reply" and w[-1] == "ok"))
    return got

#!/usr/bin/env python3
"""Talk to a MicroPython board's raw REPL over a byte stream: here the
emulated Pico W that tools/emu/board.mjs serves on a TCP socket.

    board_repl.py --image firmware.elf --bootrom rp2040-bootrom.bin run FILE.py
    board_repl.py --image ... --bootrom ... exec "print(1 + 1)"

As a library: ``with EmulatedBoard(image, bootrom) as b: out = b.exec(code)``.

The raw REPL: ctrl-A switches the board to it (it answers "raw REPL;
CTRL-B to exit" and a ">" prompt).  A script is then sent in raw-paste mode
(ctrl-E "A" ctrl-A): the board grants a window of bytes, sends \\x01 each
time it has room for another window, and after the closing ctrl-D runs the
script and answers with its output, \\x04, its error output, \\x04 and ">".
"""

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(ROOT, "tools", "emu", "board.mjs")


class BoardError(Exception):
    """The board did not answer as the raw REPL protocol says."""


class ScriptError(Exception):
    """The script raised on the board; .output holds what it printed first."""

    def __init__(self, error, output):
        super().__init__(error)
        self.error = error
        self.output = output


class RawRepl:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise BoardError("timed out; last bytes: %r" % self.buf[-200:])
        self.sock.settimeout(min(left, 5.0))
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return
        if not data:
            raise BoardError("the board's serial port closed; last bytes: %r" % self.buf[-200:])
        self.buf += data

    def read_until(self, marker, timeout):
        """Bytes up to and including marker."""
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            self._fill(deadline)
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exactly(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def enter(self, timeout=120):
        """Interrupt whatever runs and switch to the raw REPL.  Until the
        board has booted and its USB port is up nothing answers (and output
        written before the host opened the port is lost), so ask again every
        few seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.sock.sendall(b"\r\x03\x03\x01")
            try:
                self.read_until(b"raw REPL; CTRL-B to exit\r\n>", min(5, max(0.1, deadline - time.monotonic())))
                break
            except BoardError:
                if time.monotonic() >= deadline:
                    raise
        # Drop prompts answering the repeated requests.
        time.sleep(0.5)
        self.sock.setblocking(False)
        try:
            while self.sock.recv(4096):
                pass
        except (BlockingIOError, socket.timeout):
            pass
        self.sock.setblocking(True)
        self.buf = b""

    def exec(self, code, timeout=120):
        """Runs code; returns its output as text, raises ScriptError when it raised."""
        self.send_script(code, timeout)
        return self.finish(timeout)

    def send_script(self, code, timeout=120):
        """Pastes code; the board starts running it once this returns."""
        if isinstance(code, str):
            code = code.encode()
        self.sock.sendall(b"\x05A\x01")
        head = self.read_exactly(2, 30)
        if head != b"R\x01":
            raise BoardError("raw-paste mode refused: %r" % head)
        window = int.from_bytes(self.read_exactly(2, 30), "little")
        room = window
        sent = 0
        while sent < len(code):
            while room == 0 or self.buf:
                b = self.read_exactly(1, timeout)
                if b == b"\x01":
                    room += window
                elif b == b"\x04":
                    raise BoardError("the board ended the paste early")
            n = min(room, len(code) - sent)
            self.sock.sendall(code[sent : sent + n])
            sent += n
            room -= n
        self.sock.sendall(b"\x04")
        # Remaining window grants, then the board's own ctrl-D: end of data.
        while self.read_exactly(1, timeout) != b"\x04":
            pass

    def finish(self, timeout=120):
        """The running script's output once it ends; ScriptError if it raised."""
        out = self.read_until(b"\x04", timeout)[:-1]
        err = self.read_until(b"\x04", timeout)[:-1]
        self.read_until(b">", timeout)
        out = out.decode("utf-8", "replace")
        if err:
            raise ScriptError(err.decode("utf-8", "replace"), out)
        return out

    def run_until(self, code, marker, timeout=120, then=None):
        """Runs code until it prints marker (or timeout), calls then() if
        given (the script still running), then interrupts it with ctrl-C.
        Returns (output, error output); the error output of an interrupted
        script is its KeyboardInterrupt traceback."""
        self.send_script(code, timeout)
        deadline = time.monotonic() + timeout
        marker = marker.encode()
        while marker not in self.buf and b"\x04" not in self.buf and time.monotonic() < deadline:
            try:
                self._fill(deadline)
            except BoardError:
                break
        if then is not None and marker in self.buf:
            then()
        self.sock.sendall(b"\x03")
        try:
            return self.finish(60), ""
        except ScriptError as e:
            return e.output, e.error

    def put(self, path, data, chunk=3072):
        """Writes data to path on the board."""
        lines = ["import binascii", "f = open(%r, 'wb')" % path]
        for i in range(0, len(data), chunk):
            piece = base64.b64encode(data[i : i + chunk]).decode()
            lines.append("f.write(binascii.a2b_base64(%r))" % piece)
        lines.append("f.close()")
        self.exec("\n".join(lines))


class EmulatedBoard:
    """An emulated Pico W running image, its REPL reached through RawRepl."""

    def __init__(self, image, bootrom, max_wall=1800, attach=(), node="node"):
        self.argv = [node, RUNNER, "--image", image, "--bootrom", bootrom, "--max-wall", str(max_wall)]
        for model in attach:
            self.argv += ["--attach", model]
        self.proc = None
        self.repl = None

    def start(self, timeout=120):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        event = self._event()
        if event.get("event") != "listening":
            raise BoardError("the emulator did not start: %r" % event)
        self.port = event["port"]
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.repl = RawRepl(sock)
        self.repl.enter(timeout)
        return self

    def _event(self):
        line = self.proc.stdout.readline()
        if not line:
            raise BoardError("the emulator exited (status %s)" % self.proc.wait())
        return json.loads(line)

    def stats(self):
        """Cycles executed and simulated/wall seconds so far."""
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return self._event()

    def exec(self, code, timeout=120):
        return self.repl.exec(code, timeout)

    def put(self, path, data):
        self.repl.put(path, data)

    def run_until(self, code, marker, timeout=120, then=None):
        return self.repl.run_until(code, marker, timeout, then)

    def stop(self):
        """Stops the emulator; returns its closing figures."""
        if self.proc is None:
            return None
        if self.repl:
            self.repl.sock.close()
        event = None
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
            self.proc.stdin.close()
            while True:
                event = self._event()
                if event.get("event") == "stopped":
                    break
        except (BoardError, BrokenPipeError, ValueError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        return event

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", required=True)
    ap.add_argument("--bootrom", required=True)
    ap.add_argument("--timeout", type=float, default=600)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("run").add_argument("file")
    sub.add_parser("exec").add_argument("code")
    a = ap.parse_args()
    code = open(a.file).read() if a.cmd == "run" else a.code
    with EmulatedBoard(a.image, a.bootrom) as board:
        try:
            sys.stdout.write(board.exec(code, a.timeout))
        except ScriptError as e:
            sys.stdout.write(e.output)
            sys.stderr.write(e.error)
            return 1
        finally:
            print(json.dumps(board.stats()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""tools/ethernet_board.py: the console reader keeps collecting the board's
output across silences of any length (a board idle between DHCP events
prints nothing for minutes), against a TCP server standing in for the
emulator's USB-CDC socket."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

import ethernet_board as EB  # noqa: E402

SILENCE = 7  # seconds: longer than any connect or read timeout the reader uses


def serve_lines(server, script):
    conn, _ = server.accept()
    with conn:
        for pause, text in script:
            time.sleep(pause)
            conn.sendall(text)
        time.sleep(2)  # hold the connection while the reader takes the bytes


def test_lines_after_a_long_silence_are_collected(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    script = [(0, b"dora: serving\r\n"), (SILENCE, b"dora: RENEW 192.168.4.16 "), (0.5, b"02:00:00:00:00:01 40s\r\n")]
    feeder = threading.Thread(target=serve_lines, args=(server, script), daemon=True)
    feeder.start()
    router = EB.EmulatedRouter(str(tmp_path), port=port)
    try:
        router.attach_console()
        line = router.wait_line(r"^dora: RENEW ", SILENCE + 10)
    finally:
        router.detach_console()
        server.close()
    assert router.lines[0] == "dora: serving"
    assert line == "dora: RENEW 192.168.4.16 02:00:00:00:00:01 40s", router.lines

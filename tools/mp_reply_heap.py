# Heap figures of the runner's receive rounds and reply buffers, on the
# MicroPython unix port (64-bit or the 32-bit build), over loopback UDP:
#
#   MICROPYPATH=firmware:tools/dora_lab:.frozen micropython -X heapsize=4M tools/mp_reply_heap.py
#   (the gc is off while rounds are measured: the 32-bit build's default heap
#   is too small for that)
#
# - per receive round: what Runner.round() allocates (micropython.mem_total,
#   every byte handed out) and what it leaves allocated until the next
#   collection (gc.mem_alloc with the gc off), for rounds of 1 and 4
#   DISCOVERs of 300 and 1,222 bytes;
# - the reply buffers and their views one Runner holds, for a config with
#   the default options, one with a 250-byte option 43 and a portal URI,
#   and one whose options need the largest buffers (1472 bytes).

import gc
import micropython

from dora import compat, runner
from dora import dhcp as D

import packets as P

_PORT = 41000


def _config(port, **over):
    d = {"address": "127.0.4.1", "pool_start": "127.0.4.2", "pool_end": "127.0.4.254", "lease_time": 3600,
         "broadcast": "127.0.0.1", "bind_address": "127.0.0.1", "server_port": port, "client_port": port + 1,
         "log": False, "lease_file": None}
    d.update(over)
    return d


def _discover(i, size):
    b = bytearray(P.request(D.DISCOVER, P.mac(i), xid=i, options=[(60, b"dslforum.org")], end=False, pad_to=0))
    while size - len(b) > 3:
        n = min(255, size - len(b) - 3)
        b += bytes((125, n)) + bytes(n)
    b.append(255)
    while len(b) < size:
        b.append(0)
    return bytes(b)


def _drain(sock):
    while True:
        try:
            sock.recvfrom(2048)
        except OSError:
            return


def rounds(size, per, count, port):
    r = runner.Runner(_config(port))
    r.open()
    cl = compat.udp_socket(port + 1, None, "127.0.0.1")
    dst = compat.sockaddr("127.0.0.1", port)
    pkts = [_discover(i, size) for i in range(per * count)]
    try:
        for _ in range(3):  # warm up
            cl.sendto(pkts[0], dst)
            r.round()
            _drain(cl)
        gc.collect()
        gc.disable()
        total = kept = 0
        k = 0
        for _ in range(count):
            for _ in range(per):
                cl.sendto(pkts[k], dst)
                k += 1
            t0 = micropython.mem_total()
            a0 = gc.mem_alloc()
            r.round()
            total += micropython.mem_total() - t0
            kept += gc.mem_alloc() - a0
            _drain(cl)
        gc.enable()
        print("round of %d DISCOVER(s) of %d B: %d B allocated, %d B left until the next collection (offers %d of %d)"
              % (per, size, total // count, kept // count, r.server.stats.offers - 3, per * count))
    finally:
        gc.enable()
        cl.close()
        r.close()


def buffers():
    big = {"43": "hex:" + "ab" * 250, "114": "http://192.168.4.1/portal/android-captive-check", "26": 1400}
    huge = {}
    for c in range(128, 140):
        huge[str(c)] = "hex:" + "ab" * 250
    for name, opts in (("default options", {}), ("option 43 of 250 B + portal URI", big), ("largest", huge)):
        r = runner.Runner(_config(_PORT, options=opts))
        keep = (r.outs, r.views)
        gc.collect()
        a0 = gc.mem_alloc()
        r._buffers()
        gc.collect()
        print("reply buffers, %s: %d x %d B, with their views %d B" % (name, len(r.outs), r.cfg.reply_size, gc.mem_alloc() - a0))
        del keep


for i, (size, per) in enumerate(((300, 1), (300, 4), (1222, 1))):
    rounds(size, per, 200 // per, _PORT + 2 * i)
buffers()

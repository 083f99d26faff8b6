#!/usr/bin/env python3
"""Board figures of the emulated W5500-EVB-Pico running dora (root):

  - reset to serving: simulated seconds from power-on to the first answered
    DISCOVER (an upper bound: probes every 0.2 s);
  - DORA exchanges per simulated second with no drop, and CPU cycles per
    exchange (the 125 MHz core's cycle count), closed loop from a station
    (tools/loadgen.py, window 1 and 4), and where each run's DHCP requests
    went, layer by layer (layers()).  Each run is 25 exchanges long, just
    after a power-on: every ACK waits for its lease record's flash commit,
    and dora's flash-wear budget allows a burst of 32 commits, then one
    every ~18 s on this board's 1.4 MB filesystem (docs/wear.md), which is
    the rate it sustains past the burst;
  - how many datagrams the stock image's UDP socket keeps between two
    reads (udp_queue()): what bursts past that lose below dora;
  - free heap with 253 leases bound: the board boots on a lease file holding
    253 bindings (written by dora's own code on the host), and gc.mem_free()
    is read when serving is interrupted, before any collection and after one;
  - the lowest free heap under a DISCOVER flood from a station (new MACs,
    as fast as the station's socket takes them), sampled on the board while
    it serves (see FLOOD_PROBE).

The simulated clock is the one that counts: the emulator runs the busy core
slower than real time, and paces an idle one to the wall clock.
    make bench-ethernet   (or: tools/ethernet_board.py bench)
"""

import json
import os
import re
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import ethernet_board as EB  # noqa: E402
from dora_lab.netns import Lab, available, wait_for  # noqa: E402
from loadgen import TYPE_NAMES  # noqa: E402

LOADGEN = os.path.join(ROOT, "tools", "loadgen.py")


def loadgen(sta, *args, timeout=600):
    out = sta.run([sys.executable, LOADGEN, sta.ifname, "--json"] + [str(a) for a in args], timeout=timeout, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError("loadgen: %s %s" % (out.stdout[-500:], out.stderr[-500:]))
    return json.loads(lines[-1])


def reset_to_serving(router, sta, limit=120):
    """Power-cycle and probe with single DORA exchanges until one succeeds;
    the simulated time of the first success."""
    router.power_cut()
    router.start()
    end = time.monotonic() + limit
    while time.monotonic() < end:
        r = loadgen(sta, "--count", 1, "--seconds", 1, "--timeout", 0.2, "--window", 1)
        if r.get("done"):
            return router.stats()["sim_seconds"]
    return None


EXCHANGES = 25  # per throughput run: within the write budget's burst of 32


def power_on(router, timeout=240):
    """Power cut, then the board boots from its flash; back when serving."""
    router.power_cut()
    mark = router.mark()
    router.boot()
    if not router.wait_line(r"^dora: serving ", timeout, mark):
        raise RuntimeError("the board did not serve again: %s" % router.lines[mark:])


# dora's counters on the board (dora.admin's stats line), read over the raw
# REPL once a run is over; ctrl-C has stopped the server, and its Runner is
# still in dora.runner.running unless stop() ran (then the line was logged).
DORA_STATS = """\
from dora import runner as R
from dora import admin
print('STATS', admin.stats_text(R.running[0]) if R.running else 'gone')
"""


def dora_stats(router):
    """dora's counters since it started serving, as a dict ("received",
    "offers", "acks", ...); this stops the server (a soft reset starts it
    again)."""
    out = router.exec(DORA_STATS)
    line = out[out.index("STATS ") + 6:] if "STATS " in out else ""
    return parse_stats(line)


def parse_stats(line):
    """{"received": 12, "rate_limited": 0, ...} from dora.admin.stats_text()."""
    return {m.group(1).strip().replace(" ", "_").replace("-", "_"): int(m.group(2))
            for m in re.finditer(r"([a-z][a-z -]*?) (\d+)(?:,|$)", line.strip())}


def by_type(counts):
    """A W5500 model counter array (index: DHCP message type) as {name: n}."""
    return {TYPE_NAMES.get(t, str(t)): n for t, n in enumerate(counts) if n}


def layers(sent, chip_before, chip_after, dora):
    """Where the DHCP requests of a run went, layer by layer (counts):
    sent by the station, stored by the W5500 (or lost to its full buffer),
    read out of it by the driver, received by dora.  What the driver read
    out and dora never received was lost in between: in lwIP, whose UDP
    socket queues at most 4 datagrams (docs/ethernet-board.md)."""
    def delta(key):
        return [a - b for a, b in zip(chip_after[key], chip_before[key])]

    stored, overflowed, read_out = delta("dhcpReceived"), delta("dhcpOverflowed"), delta("dhcpReadOut")
    sent_total = sum(sent.values())
    return {
        "station_sent": sent,
        "w5500_stored": by_type(stored),
        "w5500_buffer_full": sum(overflowed),
        "lost_on_the_wire": sent_total - sum(stored) - sum(overflowed),
        "driver_read_out": by_type(read_out),
        "dora_received": dora.get("received"),
        "lost_below_dora": sum(read_out) - dora["received"] if "received" in dora else None,
        "dora_replies": {"offers": dora.get("offers"), "acks": dora.get("acks"), "naks": dora.get("naks")},
        "dora_releases": dora.get("releases"),
    }


SETTLE_S = 1  # wall seconds for the board to take in the run's last datagram


def throughput(router, sta, window, count):
    """One closed-loop run just after a power-on (dora's counters start at
    zero), with where its datagrams went (layers())."""
    mark = router.mark()
    before = router.stats()
    r = loadgen(sta, "--count", count, "--window", window, "--timeout", 10, "--seconds", 600)
    after = router.stats()
    sim = after["sim_seconds"] - before["sim_seconds"]
    cycles = after["cycles"] - before["cycles"]
    done = r["done"]
    withheld = len(router.find(r"^dora: withheld: ", mark))
    time.sleep(SETTLE_S)  # the last RELEASE leaves loadgen as it ends
    chip = router.stats()["w5500"]
    dora = dora_stats(router)
    router.soft_reset()
    return {
        "window": window,
        "exchanges": done,
        "drops": r["started"] - done,
        "sim_seconds": round(sim, 3),
        "wall_seconds": round(after["wall_seconds"] - before["wall_seconds"], 3),
        "exchanges_per_sim_s": round(done / sim, 1) if sim > 0 else None,
        "cycles_per_exchange": int(cycles / done) if done else None,
        "acks_withheld_by_write_budget": withheld,
        "layers": layers(r.get("sent_by_type", {}), before["w5500"], chip, dora),
    }


def layers_text(run):
    """One line: the run's drops and the layer that lost them."""
    w = run["layers"]
    return ("window %d: %d of %d exchanges dropped; DHCP requests: station sent %d, W5500 stored %d "
            "(buffer full %d), driver read out %d, dora received %s: %s lost below dora (lwIP's UDP queue)"
            % (run["window"], run["drops"], run["exchanges"] + run["drops"], sum(w["station_sent"].values()),
               sum(w["w5500_stored"].values()), w["w5500_buffer_full"], sum(w["driver_read_out"].values()),
               w["dora_received"], w["lost_below_dora"]))


# How many datagrams the stock image's UDP socket keeps between two reads:
# dora is not running (a soft reset in the raw REPL skips main.py); the probe
# brings the LAN up as dora_board does, binds port 67, and for each burst
# sleeps while the station sends it, then reads what the socket kept.
QUEUE_WAIT_MS = 3000
QUEUE_PROBE = """\
import machine, network, socket, time
import dora_board
wdt = machine.WDT(timeout=8000)
board = dora_board.check(dora_board.load(), "ethernet")
dora_board.start_lan(network, machine, board, print)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 67))
s.setblocking(False)
for _ in range(%d):
    wdt.feed()
    print("READY")
    time.sleep_ms(%d)
    n = 0
    while True:
        try:
            s.recvfrom(600)
        except OSError:
            break
        n += 1
    print("KEPT", n)
s.close()
print("DONE")
time.sleep_ms(500)  # the line leaves over USB first
machine.reset()  # the watchdog runs on: restart as main.py's board
"""

BURST = """\
import sys
sys.path.insert(0, %r)
import loadgen as G
g = G.Gen(sys.argv[1])
for _ in range(int(sys.argv[2])):
    mac = g.new_mac()
    g.send(G.frame(mac, G.BCAST_MAC, G.ZERO4, G.ALL_ONES, G.dhcp(G.DISCOVER, mac, 1)))
""" % os.path.join(ROOT, "tools")


def udp_queue(router, sta, bursts=(2, 4, 5, 8)):
    """[(datagrams sent at once, stored by the W5500, read out by the
    driver, kept by the socket)] for each burst; then the board resets and
    main.py serves again."""
    got = []
    resets = router.resets
    r = router.repl()
    try:
        r.sock.sendall(b"\x04")  # soft reset in the raw REPL: main.py not run
        r.read_until(b"raw REPL; CTRL-B to exit\r\n>", 60)
        r.send_script(QUEUE_PROBE % (len(bursts), QUEUE_WAIT_MS))
        for n in bursts:
            r.read_until(b"READY", 120)
            before = router.stats()["w5500"]
            sta.run([sys.executable, "-c", BURST, sta.ifname, str(n)], timeout=30)
            r.read_until(b"KEPT ", 60)
            kept = int(r.read_until(b"\n", 30))
            after = router.stats()["w5500"]
            got.append((n, sum(after["dhcpReceived"]) - sum(before["dhcpReceived"]),
                        sum(after["dhcpReadOut"]) - sum(before["dhcpReadOut"]), kept))
        r.read_until(b"DONE", 60)
        mark = router.mark()
    finally:
        r.sock.close()
    if not (wait_for(lambda: router.resets > resets, 60) and router.wait_line(r"^dora: serving ", 240, mark)):
        raise RuntimeError("the board did not serve again after the queue probe: %s" % router.lines[mark:])
    return got


def lease_file(dora_cfg, n):
    """A lease file holding n bindings, made by dora's own server and store
    on the host (DISCOVER, REQUEST from n clients)."""
    sys.path.insert(0, os.path.join(ROOT, "firmware"))
    from dora import runner
    from dora_lab import packets as P

    path = os.path.join(tempfile.mkdtemp(prefix="dora-ethbench-leases-"), "leases.dat")
    r = runner.Runner(dict(dora_cfg, address="192.168.4.1", lease_file=path), log=lambda s: None)
    r.store.load(0)
    out = bytearray(1024)
    server = P.ip("192.168.4.1")
    for i in range(1, n + 1):
        mac = P.mac(i)
        pkt = P.request(1, mac, xid=i)
        r.server.handle(pkt, len(pkt), 0, out)
        pkt = P.request(3, mac, xid=i, options=[(54, server), (50, bytes(out[16:20]))])
        r.server.handle(pkt, len(pkt), 0, out)
    r.store.commit(0)
    r.store.close()
    with open(path, "rb") as f:
        return f.read()


def heap_with_leases(router, dora_cfg, n=253):
    repl = router.repl()
    try:
        # main.py's watchdog runs on while dora is stopped: a full period
        # for the copy, then a power cut.
        repl.exec("import machine\nmachine.WDT(timeout=8000).feed()")
        repl.put("/leases.dat", lease_file(dora_cfg, n))
    finally:
        repl.sock.close()
    power_on(router)
    restored = router.find(r"lease file /leases\.dat: .* restored")
    code = "import gc\nprint(gc.mem_free(), gc.mem_alloc())\ngc.collect()\nprint(gc.mem_free(), gc.mem_alloc())"
    out = router.exec(code).split()
    router.soft_reset()
    bound = re.search(r"(\d+) lease\(s\) restored", restored[-1]).group(1) if restored else None
    return {"leases_bound": int(bound) if bound else None,
            "free_at_stop": int(out[0]), "alloc_at_stop": int(out[1]),
            "free_after_collect": int(out[2]), "alloc_after_collect": int(out[3])}


# Runs on the board (raw REPL, after a soft reset): dora as main.py runs it,
# plus one task sampling gc.mem_free() every SAMPLE_MS between dora's rounds;
# the lowest reading before the first request and the lowest overall are
# printed when ctrl-C stops it.  Comparing and storing small ints allocates
# nothing, so the probe does not move what it measures.
SAMPLE_MS = 5
FLOOD_PROBE = """\
import gc, machine, network
import dora_board
from dora import runner as R
from dora.compat import asyncio
import time
LOW = [gc.mem_free(), gc.mem_free(), 0, time.ticks_ms()]  # idle, overall, samples, start
RUN = []

async def _sample(rs):
    srv = rs[0].server
    while True:
        f = gc.mem_free()
        if srv.stats.received == 0 and f < LOW[0]:
            LOW[0] = f
        if f < LOW[1]:
            LOW[1] = f
        LOW[2] += 1
        await asyncio.sleep_ms(%d)

_serve_all = R.serve_all

async def _probed(rs):
    RUN.extend(rs)
    asyncio.create_task(_sample(rs))
    await _serve_all(rs)

R.serve_all = _probed
try:
    dora_board.run(network, machine, None, "ethernet")
except KeyboardInterrupt:
    pass
s = RUN[0].server.stats
print("PROBE", LOW[0], LOW[1], LOW[2], time.ticks_diff(time.ticks_ms(), LOW[3]), s.received, s.offers,
      s.exhausted, gc.mem_free() + gc.mem_alloc())
time.sleep_ms(500)  # the line leaves over USB first
machine.reset()  # the watchdog dora started runs on: restart as main.py's board
""" % SAMPLE_MS


# DISCOVERs from new MACs at a steady rate (loadgen's frames): a flood the
# board's driver can drain.  Unpaced (loadgen --flood), the host sends about
# 16,000 frames a second at an emulator running slower than real time, far
# past a 100 Mbit/s wire in simulated time: the driver's receive poll then
# reads frames for as long as the chip has any, and dora got 4 of 332,630.
FLOODER = """\
import sys, time
sys.path.insert(0, %r)
import loadgen as G
g = G.Gen(sys.argv[1])
rate, seconds = float(sys.argv[2]), float(sys.argv[3])
t0 = time.monotonic()
sent = 0
while time.monotonic() - t0 < seconds:
    mac = g.new_mac()
    g.send(G.frame(mac, G.BCAST_MAC, G.ZERO4, G.ALL_ONES, G.dhcp(G.DISCOVER, mac, g.rng.getrandbits(32))))
    sent += 1
    time.sleep(max(0.0, t0 + sent / rate - time.monotonic()))
print(sent - g.send_errors)
""" % os.path.join(ROOT, "tools")


def heap_under_flood(router, sta, rate=200, seconds=20):
    """dora started again under FLOOD_PROBE, idle 5 s, then a DISCOVER flood
    from the station; the probe's readings once ctrl-C has stopped it (the
    board then resets and main.py serves again)."""
    resets = router.resets
    r = router.repl()
    try:
        r.sock.sendall(b"\x04")  # soft reset in the raw REPL: a fresh heap, main.py not run
        r.read_until(b"raw REPL; CTRL-B to exit\r\n>", 60)
        r.send_script(FLOOD_PROBE)
        r.read_until(b"dora: serving ", 120)
        time.sleep(5)
        before = router.stats()
        out = sta.run([sys.executable, "-c", FLOODER, sta.ifname, str(rate), str(seconds)], timeout=seconds + 30)
        sent = int(out.stdout.split()[-1])
        time.sleep(5)  # let the board work through what its W5500 holds
        after = router.stats()
        mark = router.mark()
        r.sock.sendall(b"\x03")
        r.read_until(b"PROBE ", 120)
        words = r.read_until(b"\n", 30).split()
    finally:
        r.sock.close()
    idle, low, samples, ms, received, offers, exhausted, heap = (int(w) for w in words)
    if not (wait_for(lambda: router.resets > resets, 60) and router.wait_line(r"^dora: serving ", 240, mark)):
        raise RuntimeError("the board did not serve again after the probe: %s" % router.lines[mark:])
    return {"heap_bytes": heap, "free_idle_min": idle, "free_flood_min": low, "samples": samples,
            "sample_ms": SAMPLE_MS, "probe_sim_ms": ms, "discovers_sent": sent, "flood_rate_per_wall_s": rate, "received": received,
            "offers": offers, "exhausted": exhausted,
            "sim_seconds": round(after["sim_seconds"] - before["sim_seconds"], 3)}


def main():
    why = EB.missing() or available()
    if why:
        print("bench-ethernet: skipped, " + why)
        return 0
    workdir = tempfile.mkdtemp(prefix="dora-ethbench-")
    cfg = os.path.join(workdir, "board.json")
    board = EB.board_config(pool_start="192.168.4.2", pool_end="192.168.4.254", lease_time=3600)
    with open(cfg, "w") as f:
        json.dump(board, f)
    figures = {}
    with Lab(stations=1) as lab:
        _, sock = EB.plug_board(lab, workdir)
        router = EB.EmulatedRouter(workdir, eth_socket=sock)
        sta = lab.station(0)
        try:
            router.start()
            EB.deploy(router, cfg)
            router.wait_line(r"^dora: serving ", 120)
            figures["reset_to_serving_sim_s"] = reset_to_serving(router, sta)
            print("reset to serving: %s simulated s" % figures["reset_to_serving_sim_s"], flush=True)
            for window in (1, 4):
                power_on(router)  # a full write budget, dora's counters at zero
                run = figures["dora_w%d" % window] = throughput(router, sta, window, EXCHANGES)
                print(run, flush=True)
                print(layers_text(run), flush=True)
            figures["udp_queue"] = [dict(zip(("burst", "w5500_stored", "driver_read_out", "socket_kept"), b))
                                    for b in udp_queue(router, sta)]
            print("stock image's UDP socket: %s" % figures["udp_queue"], flush=True)
            figures["heap_flood"] = heap_under_flood(router, sta)
            print(figures["heap_flood"], flush=True)
            figures["heap_253"] = heap_with_leases(router, board["dora"])
            print(figures["heap_253"], flush=True)
        finally:
            router.stop()
    print(json.dumps(figures, indent=2))
    out = os.path.join(ROOT, "bench", "out")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "ethernet-board.json"), "w") as f:
        json.dump(figures, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

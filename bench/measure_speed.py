"""Speed: exchanges/s at increasing offered rates, in a namespace lab, with
tools/loadgen.py (stations without an address) and perfdhcp (the relay
path), for dora (MicroPython, CPython), dnsmasq, udhcpd and kea-dhcp4, and
the server CPU per exchange."""

import os
import re
import shutil
import time

import servers as SV
from common import OUT, cpu_seconds, end_server, fmt, have, loadgen, log, rate_ratio, ratio, server_argv, start_server, wait_serving
from dora_lab.netns import Lab

RELAY_IP = "192.168.4.254"  # perfdhcp's address in the speed lab (outside SV.POOL)
# A step counts as "0 drops" when every exchange started finished AND at
# least this share of the exchanges asked for were started: a server that
# falls behind fills loadgen's window, which then starts fewer exchanges,
# and those few all finishing does not make the offered rate served.
KEPT_UP = 0.95
RATES = [25, 50, 100, 250, 350, 500, 700, 1000, 1400, 2000, 2800, 4000, 5600, 8000, 11000, 16000]
STEP_S = 1.5


SERVERS = [("dora-mp", None), ("dora-cpython", None), ("dnsmasq", "dnsmasq"), ("udhcpd", "udhcpd"), ("kea", "kea-dhcp4")]


def perfdhcp(station, rate, seconds):
    argv = ["perfdhcp", "-4", "-l", station.ifname, "-r", str(rate), "-R", "200", "-p", str(int(seconds)),
            "-F", str(rate), "-W", "500000", SV.SERVER_IP]
    r = station.run(argv, timeout=seconds + 30, check=False)
    text = r.stdout + r.stderr

    def stat(section, key):
        part = text.split("***Statistics for: %s***" % section)
        if len(part) < 2:
            return None
        m = re.search(r"%s: ([0-9.]+)" % key, part[1])
        return float(m.group(1)) if m else None

    m = re.search(r"Rate: ([0-9.]+) 4-way", text)
    sent = stat("DISCOVER-OFFER", "sent packets") or 0
    acks = stat("REQUEST-ACK", "received packets") or 0
    return {
        "offered_rate": rate,
        "rate": float(m.group(1)) if m else 0.0,
        "asked": rate * seconds,
        "started": sent,
        "done": acks,
        "drop_pct": 100.0 * (sent - acks) / sent if sent else 100.0,
        "avg_do_ms": stat("DISCOVER-OFFER", "avg delay"),
        "avg_ra_ms": stat("REQUEST-ACK", "avg delay"),
        "ok": bool(m),
    }


def ladder(run_one, rates):
    """Step the offered rate up until the server clearly saturates."""
    steps = []
    for rate in rates:
        r = run_one(rate)
        steps.append(r)
        if r.get("started", 0) == 0 or r.get("drop_pct", 100) > 10 or r.get("rate", 0) < 0.6 * rate:
            break
        time.sleep(0.4)
    return steps


def served(step):
    """Every exchange started finished, and the offered rate was kept up."""
    started = step.get("started")
    return bool(started) and step["done"] >= started and started >= KEPT_UP * step.get("asked", started)


def summarize(steps):
    clean = [s for s in steps if served(s)]
    best = max(steps, key=lambda s: s.get("rate", 0)) if steps else {}
    return {
        # the highest offered rate served with no drop (the ladder's step)
        "zero_drop_rate": max((s["offered_rate"] for s in clean), default=0),
        "zero_drop_offered": max((s["offered_rate"] for s in clean), default=0),
        "max_rate": best.get("rate", 0.0),
        "max_at_offered": best.get("offered_rate"),
        "max_drop_pct": best.get("drop_pct"),
    }


def speed(res, mpy_path, quick, servers=None):
    sec = res["speed"] = {}
    work = os.path.join(OUT, "speed")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    step = 1.5 if quick else STEP_S
    with Lab(stations=2) as lab:
        s0, s1 = lab.station(0), lab.station(1)
        s1.run(["ip", "addr", "add", "%s/24" % RELAY_IP, "dev", s1.ifname])
        for name, binary in SERVERS:
            if servers and name not in servers:
                continue
            if binary and not have(binary):
                sec[name] = {"skipped": "%s not installed" % binary}
                continue
            log("speed: %s" % name)
            argv, env, _ = server_argv(name, work, mpy_path)
            p = start_server(lab, name, argv, env, work)
            d = sec[name] = {}
            if not wait_serving(s0):
                d["skipped"] = "did not answer within 15 s"
                end_server(p)
                continue
            cpu0 = cpu_seconds(p.pid)

            def lg(rate):
                r = loadgen(s0, ["--rate", rate, "--count", int(rate * step), "--seconds", step,
                                 "--window", 200, "--timeout", 1], step + 30)
                r["asked"] = int(rate * step)
                log("  loadgen %6d/s offered: %s/s, drops %s%%, p50 %s ms, p99 %s ms"
                    % (rate, fmt(r.get("rate")), fmt(r.get("drop_pct")), fmt(r.get("p50_ms")), fmt(r.get("p99_ms"))))
                time.sleep(0.9)  # offers of dropped exchanges and same-second releases settle
                return r

            d["loadgen"] = ladder(lg, RATES)
            cpu1 = cpu_seconds(p.pid)
            done = sum(s.get("done", 0) for s in d["loadgen"])
            if cpu0 is not None and cpu1 is not None and done:
                d["cpu_us_per_exchange"] = (cpu1 - cpu0) * 1e6 / done
            if have("perfdhcp"):
                def pd(rate):
                    r = perfdhcp(s1, rate, 2)
                    log("  perfdhcp %6d/s offered: %s/s, drops %s%%" % (rate, fmt(r.get("rate")), fmt(r.get("drop_pct"))))
                    time.sleep(0.6)
                    return r

                d["perfdhcp"] = ladder(pd, [r for r in RATES if r >= 100 and r != 350])
            end_server(p)
            d["loadgen_summary"] = summarize(d["loadgen"])
            if "perfdhcp" in d:
                d["perfdhcp_summary"] = summarize(d["perfdhcp"])
    sec["ratios"] = ratios(sec)


def ratios(sec):
    """dora on MicroPython against each other server: exchanges/s at 0 %
    drops, and at the max, for each tool ({server: {figure: ratio}})."""
    mine = sec.get("dora-mp", {})
    out = {}
    for name, _ in SERVERS[1:]:
        d = sec.get(name, {})
        if "skipped" in d or not d:
            continue
        r = out[name] = {}
        for tool in ("loadgen", "perfdhcp"):
            a, b = mine.get(tool + "_summary", {}), d.get(tool + "_summary", {})
            r[tool] = rate_ratio(a.get("zero_drop_rate"), b.get("zero_drop_rate"))
            r[tool + "_max"] = ratio(a.get("max_rate"), b.get("max_rate"))
    return out



"""How the bench starts each DHCP server in the lab's AP namespace: the same
pool, persistence on, files in a private directory.  Used by bench/run.py.

Each function returns (argv, env, lease_dir); every file a server writes
(lease file, pid, lock, log) is inside `work`, and the lease files alone are
in lease_dir (so that the flash-wear count can take every write there,
temporary files of a compaction included).
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SERVER_IP = "192.168.4.1"
NETMASK = "255.255.255.0"
IFNAME = "br0"
POOL = ("192.168.4.16", "192.168.4.250")  # 235 addresses
LEASE_TIME = 7200


def pool_size(pool=POOL):
    a = int(pool[0].rsplit(".", 1)[1])
    b = int(pool[1].rsplit(".", 1)[1])
    return b - a + 1


def _dirs(work, name):
    w = os.path.join(work, name)
    ld = os.path.join(w, "leases")
    os.makedirs(ld, exist_ok=True)
    return w, ld


def dora_config(work, name, pool=POOL, **extra):
    w, ld = _dirs(work, name)
    cfg = {
        "address": SERVER_IP,
        "netmask": NETMASK,
        "pool_start": pool[0],
        "pool_end": pool[1],
        "lease_time": LEASE_TIME,
        "interface": IFNAME,
        "lease_file": os.path.join(ld, "leases.dat"),
        "log": False,
        "run_seconds": 900,  # a bound, should teardown fail
    }
    cfg.update(extra)
    path = os.path.join(w, "dora.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path, w, ld


def dora_mp(work, mp, mpy_dir, pool=POOL):
    path, w, ld = dora_config(work, "dora-mp", pool)
    env = dict(os.environ, MICROPYPATH=mpy_dir + ":.frozen")
    return [mp, os.path.join(ROOT, "boards", "unix", "main.py"), path], env, ld


def dora_cpython(work, pool=POOL):
    path, w, ld = dora_config(work, "dora-cpython", pool)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "firmware"))
    return [sys.executable, os.path.join(ROOT, "boards", "unix", "main.py"), path], env, ld


def dnsmasq(work, pool=POOL):
    w, ld = _dirs(work, "dnsmasq")
    argv = [
        "dnsmasq", "-k", "-C", "/dev/null", "--no-ping", "-p", "0",
        "--interface=" + IFNAME, "--bind-interfaces", "--except-interface=lo",
        "--dhcp-range=%s,%s,%s,%d" % (pool[0], pool[1], NETMASK, LEASE_TIME),
        "--dhcp-leasefile=" + os.path.join(ld, "dnsmasq.leases"),
        "--pid-file=" + os.path.join(w, "dnsmasq.pid"),
        "--dhcp-authoritative", "--user=root", "--group=root",
        "--log-facility=" + os.path.join(w, "dnsmasq.log"),
    ]
    return argv, dict(os.environ), ld


def udhcpd(work, pool=POOL):
    w, ld = _dirs(work, "udhcpd")
    conf = os.path.join(w, "udhcpd.conf")
    with open(conf, "w") as f:
        f.write("start %s\nend %s\ninterface %s\n" % (pool[0], pool[1], IFNAME))
        f.write("max_leases %d\n" % pool_size(pool))
        f.write("lease_file %s\npidfile %s\n" % (os.path.join(ld, "udhcpd.leases"), os.path.join(w, "udhcpd.pid")))
        f.write("opt subnet %s\nopt router %s\nopt dns %s\nopt lease %d\n" % (NETMASK, SERVER_IP, SERVER_IP, LEASE_TIME))
    # -a 0: no ARP probe before an offer (as dnsmasq's --no-ping).
    return ["udhcpd", "-f", "-a", "0", conf], dict(os.environ), ld


def kea(work, pool=POOL):
    w, ld = _dirs(work, "kea")
    cfg = {
        "Dhcp4": {
            "interfaces-config": {"interfaces": [IFNAME]},
            "lease-database": {"type": "memfile", "persist": True, "name": os.path.join(ld, "kea-leases4.csv"),
                               "lfc-interval": 0},
            "valid-lifetime": LEASE_TIME,
            "authoritative": True,
            "subnet4": [{
                "id": 1, "subnet": "192.168.4.0/24",
                "pools": [{"pool": "%s - %s" % pool}],
                "option-data": [{"name": "routers", "data": SERVER_IP},
                                {"name": "domain-name-servers", "data": SERVER_IP}],
            }],
            "loggers": [{"name": "kea-dhcp4", "severity": "WARN",
                         "output_options": [{"output": os.path.join(w, "kea.log")}]}],
        }
    }
    path = os.path.join(w, "kea.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    env = dict(os.environ, KEA_LOCKFILE_DIR=w, KEA_PIDFILE_DIR=w, KEA_LOGGER_DESTINATION=os.path.join(w, "kea.log"))
    return ["kea-dhcp4", "-c", path], env, ld

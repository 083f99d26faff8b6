# dora's client runner against dora's server runner on real UDP sockets over
# loopback, in one event loop: both interpreters.  The pool lives in
# 127.0.4.0/24 so that unicast renewals and replies stay on loopback.

import os

from dora import client_file, client_lease
from dora import client_config as CC
from dora import client_runner as CR
from dora import runner
from dora.compat import asyncio, sleep_ms

import packets as P
import util
from util import until


def ports():
    return util.loopback_ports()


def server_config(path, **over):
    over.setdefault("pool_end", "127.0.4.30")
    return util.loopback_config(path, **over)


def client_config(path, **over):
    sp, cp = ports()
    d = {
        "mac": "02:00:00:00:07:01",
        "hostname": "loop",
        "server_port": sp,
        "client_port": cp,
        "broadcast": "127.0.0.1",
        "lease_file": path,
        "log": False,
    }
    d.update(over)
    return d


def with_server(srv_cfg, body):
    """Run dora's server runner and the coroutine body() in one loop."""
    r = runner.Runner(srv_cfg)

    async def main():
        r.open()
        task = asyncio.create_task(r.serve())
        try:
            await body()
        finally:
            task.cancel()
            await sleep_ms(0)
            r.close()

    asyncio.run(main())
    return r


def test_client_runner_binds_renews_reboots_and_releases_over_udp():
    spath = util.tmp_path("leases.dat")
    cpath = util.tmp_path("client.dat")
    seen = []
    applied = []
    state = {}

    async def body():
        c = CR.ClientRunner(client_config(cpath), apply=applied.append)
        c.on_event(lambda ev: seen.append(ev.kind))
        q = c.events()
        task = asyncio.create_task(c.run())
        lease = await asyncio.wait_for(c.bound(), 3)
        state["lease"] = lease
        ev = await q.get()
        assert ev.kind == "bound" and ev.lease is lease
        c.renew()
        assert await until(lambda: "renewed" in seen)
        c.stop()
        await asyncio.wait_for(task, 3)
        # A reboot: a new runner finds the lease file and uses INIT-REBOOT.
        c2 = CR.ClientRunner(client_config(cpath), apply=applied.append)
        task = asyncio.create_task(c2.run())
        lease2 = await asyncio.wait_for(c2.bound(), 3)
        state["mode"] = c2.mode
        state["lease2"] = lease2
        c2.release()
        c2.stop()
        await asyncio.wait_for(task, 3)
        await sleep_ms(50)

    r = with_server(server_config(spath), body)
    lease = state["lease"]
    assert lease.address == "127.0.4.16" and lease.server == "127.0.4.1"
    assert lease.netmask == "255.255.255.0" and lease.prefix_len == 24
    assert lease.router == "127.0.4.1" and lease.dns == ["127.0.4.1"]
    assert lease.lease_time == 600 and lease.t1 == 300 and lease.t2 == 525
    assert seen[:2] == ["bound", "renewed"]
    assert state["mode"] == "init-reboot" and state["lease2"].address == "127.0.4.16"
    # Each grant applied again (the renewal too: it restarts an OS lifetime).
    assert [a.address if a else None for a in applied] == ["127.0.4.16", "127.0.4.16", "127.0.4.16", None]
    s = r.server.stats
    assert s.acks == 1 and s.renewals == 2 and s.releases == 1, (s.acks, s.renewals, s.releases)
    assert not _exists(cpath)  # released: nothing to INIT-REBOOT with


def test_nak_of_a_stored_lease_removes_its_address():
    """After a power cut the interface may still carry the stored address:
    when INIT-REBOOT is NAKed, apply(None) must remove it, although no lease
    was granted in this run."""
    from dora import client as K

    spath = util.tmp_path("leases.dat")
    cpath = util.tmp_path("client.dat")
    k = K.Client(P.mac(4))
    k.addr[:] = P.ip("127.0.9.9")  # not on the server's network: NAKed
    k.server[:] = P.ip("127.0.4.1")
    k.lease_time = 600
    with open(cpath, "wb") as f:
        f.write(client_file.encode(k))
    applied = []
    seen = []

    async def body():
        c = CR.ClientRunner(client_config(cpath, mac="02:00:00:00:07:04"), apply=applied.append)
        c.on_event(lambda ev: seen.append((ev.kind, ev.lease.address if ev.lease else None)))
        task = asyncio.create_task(c.run())
        await asyncio.wait_for(c.bound(), 5)
        c.stop()
        await asyncio.wait_for(task, 3)

    with_server(server_config(spath), body)
    assert seen[0] == ("nak", None) and seen[1][0] == "bound", seen
    assert applied[0] is None and applied[1].address == "127.0.4.16", applied


def test_a_message_that_cannot_leave_from_its_address_is_applied_again_or_counted():
    """holds() says the address has gone from the interface: a RENEW applies
    the lease again first; if it is still missing, or for a RELEASE, the
    send counts as an error."""
    spath = util.tmp_path("leases.dat")
    applied = []
    held = {"now": True, "asked": 0}

    def holds(lease):
        held["asked"] += 1
        return held["now"]

    got = {}

    async def body():
        c = CR.ClientRunner(client_config(None, mac="02:00:00:00:07:05"), apply=applied.append, holds=holds)
        kinds = []
        c.on_event(lambda ev: kinds.append(ev.kind))
        task = asyncio.create_task(c.run())
        await asyncio.wait_for(c.bound(), 3)
        c.renew()  # held: sent as is
        assert await until(lambda: kinds.count("renewed") == 1)
        got["clean"] = (c.errors, len(applied))
        held["now"] = False
        c.renew()  # gone, and applying again does not bring it back
        assert await until(lambda: kinds.count("renewed") == 2)
        got["gone"] = (c.errors, len(applied))
        c.release()  # gone: counted
        got["release"] = c.errors
        c.stop()
        await asyncio.wait_for(task, 3)

    with_server(server_config(spath), body)
    assert got["clean"] == (0, 2), got  # bound, renewed
    assert got["gone"] == (1, 4), got  # applied again before the send, then renewed
    assert got["release"] == 2 and applied[-1] is None, (got, applied)


def test_rapid_commit_over_udp():
    spath = util.tmp_path("leases.dat")
    state = {}

    async def body():
        c = CR.ClientRunner(client_config(None, rapid_commit=True, mac="02:00:00:00:07:02"))
        task = asyncio.create_task(c.run())
        lease = await asyncio.wait_for(c.bound(), 3)
        state["rapid"] = lease.rapid
        c.stop()
        await asyncio.wait_for(task, 3)

    r = with_server(server_config(spath, rapid_commit=True), body)
    assert state["rapid"] and r.server.stats.offers == 0 and r.server.stats.acks == 1


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def test_lease_file_round_trip_and_damage():
    from dora import client as K

    c = K.Client(P.mac(3))
    c.addr[:] = P.ip("10.0.0.9")
    c.server[:] = P.ip("10.0.0.1")
    c.lease_time = 7200
    opts = bytes((1, 4, 255, 255, 255, 0, 3, 4, 10, 0, 0, 1))
    c.opts[: len(opts)] = opts
    c.opts_len = len(opts)
    b = client_file.encode(c)
    assert client_file.decode(b) == (P.ip("10.0.0.9"), P.ip("10.0.0.1"), 7200, opts)
    for cut in range(len(b)):
        assert client_file.decode(b[:cut]) is None
    for i in range(len(b)):
        bad = bytearray(b)
        bad[i] ^= 0x10
        assert client_file.decode(bad) is None
    lease = client_lease.Lease("10.0.0.9", "10.0.0.1", 7200, opts)
    assert lease.router == "10.0.0.1" and lease.prefix_len == 24 and lease.options[1] == b"\xff\xff\xff\0"


def test_config_errors_name_their_field():
    ConfigError = CC.ConfigError

    for bad, field in (
        ({"mac": "nope"}, "mac"),
        ({"mac": "02:00:00:00:00:01", "client_port": 0}, "client_port"),
        ({"mac": "02:00:00:00:00:01", "params": [0]}, "params"),
        ({"mac": "02:00:00:00:00:01", "client_id": "hex:0"}, "client_id"),
        ({"mac": "02:00:00:00:00:01", "rapid_commit": 1}, "rapid_commit"),
        ({"mac": "02:00:00:00:00:01", "colour": "red"}, "colour"),
        ({"mac": "02:00:00:00:00:01", "prefer_server": "1.2.3"}, "prefer_server"),
        ({"mac": "02:00:00:00:00:01", "broadcast": "1.2.3.256"}, "broadcast"),
        ({"mac": "02:00:00:00:00:0g"}, "mac"),
    ):
        e = util.raises(ConfigError, CC.ClientConfig, bad)
        assert str(e).startswith(field + ":"), str(e)
    cfg = CC.ClientConfig({"mac": "02:00:00:00:00:01", "client_id": "hex:01:02:03", "hostname": "x"})
    assert cfg.client_id == b"\x01\x02\x03" and cfg.hostname == b"x"
    assert CC.ClientConfig({"client_id": "dev"}).client_id == b"\x00dev"
    util.raises(ConfigError, CR.ClientRunner, {})  # no MAC


def test_a_board_mac_given_as_text_is_taken():
    # boards/common/dora_board.py hands the STA's MAC over as "aa:bb:..." text.
    cfg = client_config(None)
    del cfg["mac"]
    c = CR.ClientRunner(cfg, mac="02:00:00:00:07:09")
    assert c.mac == P.mac(0x709)
    e = util.raises(CC.ConfigError, CR.ClientRunner, cfg, "02:00:00:00:07")
    assert str(e).startswith("mac:"), str(e)


def test_heap_per_exchange_of_both_runners_is_bounded_on_micropython():
    """What the asyncio edges cost per exchange (datagrams, peer addresses,
    views, events, asyncio waits), with gc disabled, stays under bounds a
    few times the usual figure: a runner that starts allocating per packet
    (a copy of each datagram, a list per round) fails here.  The decisions
    themselves allocate nothing (test_client_alloc); the figures themselves
    are measured by `make bench` (its client and memory sections)."""
    if not util.MICROPYTHON:
        util.skip("gc.mem_alloc exists on MicroPython only")
    import gc

    spath = util.tmp_path("leases.dat")
    got = {}
    rounds = 20

    async def body():
        c = CR.ClientRunner(client_config(None, mac="02:00:00:00:07:03"))
        kinds = []
        c.on_event(lambda ev: kinds.append(ev.kind))
        task = asyncio.create_task(c.run())
        await c.bound()
        await sleep_ms(20)
        # Renewals: REQUEST + ACK each.
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        for i in range(rounds):
            c.renew()
            assert await until(lambda: len(kinds) == i + 2)
        got["renew"] = (gc.mem_alloc() - before) // rounds
        gc.enable()
        # Whole leases: RELEASE, then DISCOVER, OFFER, REQUEST, ACK.
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        for i in range(rounds):
            c.release()
            c.client.start(c.clock.now())
            assert await until(lambda: c.lease is not None)
        got["lease"] = (gc.mem_alloc() - before) // rounds
        gc.enable()
        # Idle while BOUND: the timer's one-second steps.
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        await sleep_ms(3000)
        got["idle"] = (gc.mem_alloc() - before) // 3
        gc.enable()
        c.stop()
        await task

    try:
        with_server(server_config(spath, lease_file=None), body)
    finally:
        gc.enable()  # also when an assertion failed while it was off
    print("runners' heap per renewal %d bytes, per release + DORA %d bytes, idle %d bytes/s"
          % (got["renew"], got["lease"], got["idle"]))
    assert got["renew"] < 4096 and got["lease"] < 12288 and got["idle"] < 256, got

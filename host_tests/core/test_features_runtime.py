# Lease events, the expiry sweep, the awaitable queue, runtime control
# (dora.control) and several servers in one loop: both interpreters.  The
# runner is driven without sockets (its packet path is Server.handle, its
# reporting _report) except in the last test, which uses loopback UDP.

from dora import admin, compat, control, runner
from dora import events as E
from dora.compat import asyncio
from dora import dhcp as D

import packets as P
import util
from test_runner_loopback import exchange, loopback_config


def make_runner(**over):
    d = {
        "address": "192.168.4.1",
        "pool_start": "192.168.4.16",
        "pool_end": "192.168.4.23",
        "lease_time": 3600,
        "lease_file": util.tmp_path("leases.dat"),
        "log": False,
        "hostname_len": 15,
    }
    d.update(over)
    r = runner.Runner(d)
    r.store.load(0)
    runner.running[:] = [r]  # as open() does, without a socket
    return r


def send(r, msg_type, i, now=0, options=(), ciaddr=b"\0\0\0\0"):
    """One datagram through the runner's server, reported as round() does."""
    pkt = P.request(msg_type, P.mac(i), xid=i, options=list(options), ciaddr=ciaddr)
    out = bytearray(576)
    n = r.server.handle(pkt, len(pkt), now, out)
    if r.server.durable:
        r.store.commit(now)
    if r.server.event:
        r._report(r.server.event, r.server.event_slot, pkt)
    return (P.options(out, n)[53][0], P.yiaddr(out)) if n else (None, None)


def join(r, i, now=0, options=()):
    _, addr = send(r, 1, i, now, options)
    t, _ = send(r, 3, i, now, [(54, r.cfg.address), (50, P.ip(addr))] + list(options))
    assert t == 5
    return addr


def test_events_carry_mac_address_hostname_and_vendor_class():
    r = make_runner()
    seen = []
    r.on_event(seen.append)
    addr = join(r, 1, 0, [(12, b"sensor-7"), (60, b"udhcp 1.35.0")])
    send(r, 3, 1, 10, [(12, b"sensor-7")], ciaddr=P.ip(addr))
    send(r, 7, 1, 20, [(54, r.cfg.address)], ciaddr=P.ip(addr))
    addr2 = join(r, 2, 30)
    send(r, 4, 2, 40, [(54, r.cfg.address), (50, P.ip(addr2))])
    kinds = [e.kind for e in seen]
    assert kinds == [E.GRANTED, E.RENEWED, E.RELEASED, E.GRANTED, E.DECLINED]
    g = seen[0]
    assert g.mac == "02:00:00:00:00:01" and g.address == addr
    assert g.hostname == "sensor-7" and g.vendor_class == "udhcp 1.35.0"
    assert seen[3].address == addr2 and seen[3].vendor_class == ""


def test_expiry_is_reported_once_by_the_sweep():
    r = make_runner(lease_time=60)
    seen = []
    r.on_event(seen.append)
    addr = join(r, 1, 0, [(12, b"tv")])
    admin.sweep(r, 30)
    assert [e.kind for e in seen] == [E.GRANTED]
    admin.sweep(r, 61)
    admin.sweep(r, 62)
    assert [e.kind for e in seen] == [E.GRANTED, E.EXPIRED]
    assert seen[1].address == addr and seen[1].mac == "02:00:00:00:00:01" and seen[1].hostname == "tv"


def test_a_failing_listener_does_not_stop_the_server():
    r = make_runner()

    def bad(ev):
        raise ValueError("app bug")

    r.on_event(bad)
    join(r, 1)
    join(r, 2)
    assert r.errors == 2 and r.server.stats.acks == 2


def test_event_queue_can_be_awaited_and_drops_the_oldest_when_full():
    r = make_runner()
    q = r.events(size=2)
    got = []

    async def consumer():
        got.append((await q.get()).kind)

    async def main():
        task = asyncio.create_task(consumer())
        await compat.sleep_ms(5)
        join(r, 1)
        await compat.sleep_ms(5)
        await task

    asyncio.run(main())
    assert got == [E.GRANTED]
    for i in (2, 3, 4):
        join(r, i)
    assert len(q.items) == 2 and q.lost == 1


def test_control_lists_revokes_and_edits_static_hosts_at_run_time():
    r = make_runner()
    seen = []
    r.on_event(seen.append)
    addr = join(r, 1, 0, [(12, b"plug")])
    rows = control.leases()
    assert rows[0][0] == addr and rows[0][2] == "bound" and rows[0][4] == "plug"
    assert "plug" in admin.table_text(r)
    # revoke by address: the renewal is NAKed, the record is on flash
    assert control.revoke(addr)
    assert seen[-1].kind == E.REVOKED and seen[-1].hostname == "plug"
    t, _ = send(r, 3, 1, 10, ciaddr=P.ip(addr))
    assert t == 6
    assert not control.revoke(addr)  # nothing left to revoke
    # revoke by MAC
    addr = join(r, 2)
    assert control.revoke("02:00:00:00:00:02")
    # a static host added now gets its address at once, hostname listed
    control.add_static("02:00:00:00:00:05", "192.168.4.22", hostname="door", options={"114": "http://x/"})
    t, yi = send(r, 1, 5, 20, [(55, b"\x01\x0c\x72")])
    assert yi == "192.168.4.22"
    join(r, 5, 20)
    assert any(row[0] == "192.168.4.22" and row[4] == "door" for row in control.leases())
    e = util.raises(Exception, control.add_static, "02:00:00:00:00:06", "192.168.4.22")
    assert "reserved twice" in str(e)
    e = util.raises(Exception, control.add_static, "02:00:00:00:00:06", "10.1.1.1")
    assert "no pool" in str(e)
    assert control.remove_static("02:00:00:00:00:05")
    assert not control.remove_static("02:00:00:00:00:05")
    assert r.server.static_slot(P.mac(5), 0) == -1


def test_add_static_takes_the_address_from_a_dynamic_holder():
    r = make_runner()
    addr = join(r, 1)
    control.add_static("02:00:00:00:00:07", addr)
    t, _ = send(r, 3, 1, 10, ciaddr=P.ip(addr))
    assert t == 6  # the old holder is told to go
    t, yi = send(r, 1, 7, 10)
    assert yi == addr


def test_control_without_a_running_server_says_so():
    runner.running[:] = []
    e = util.raises(RuntimeError, control.leases)
    assert "not running" in str(e)


def test_two_servers_in_one_loop_each_answer_on_their_own_socket():
    a = loopback_config(util.tmp_path("a.dat"))
    b = loopback_config(util.tmp_path("b.dat"), address="127.0.5.1", pool_start="127.0.5.16",
                        pool_end="127.0.5.30", server_port=a["server_port"] + 2)
    first = runner.Runner(a)
    runners = [first, runner.Runner(b, share=first)]  # as runner.main does
    runner.running[:] = []
    got = []

    async def client():
        cl = compat.udp_socket(a["client_port"])
        try:
            for r in runners:
                await compat.sleep_ms(20)
                srv = compat.sockaddr("127.0.0.1", r.cfg.server_port)
                off = await exchange(cl, srv, P.request(D.DISCOVER, P.mac(1), xid=7))
                got.append(P.yiaddr(off))
        finally:
            cl.close()

    async def main():
        server = asyncio.create_task(runner.serve_all(runners))
        await client()
        server.cancel()
        await compat.sleep_ms(10)

    asyncio.run(main())
    assert got == ["127.0.4.16", "127.0.5.16"], got
    assert [r.sock for r in runners] == [None, None]  # both stopped
    assert control.runners() == []


def test_granted_is_told_only_once_the_binding_is_on_flash():
    # A failed flash write withholds the ACK; the application hears of the
    # lease only after the retry made it durable and the ACK left.
    from failing_fs import FailingFS

    path = util.tmp_path("leases.dat")
    flash = FailingFS(fail_appends=(1,))
    r = runner.Runner(loopback_config(path), fs=flash)
    seen = []
    r.on_event(lambda ev: seen.append(ev.kind))
    counts = []

    async def main():
        r.open()
        task = asyncio.create_task(r.serve())
        cl = compat.udp_socket(r.cfg.client_port)
        srv = compat.sockaddr("127.0.0.1", r.cfg.server_port)
        try:
            off = await exchange(cl, srv, P.request(D.DISCOVER, P.mac(1), xid=1))
            req = P.request(D.REQUEST, P.mac(1), xid=1, options=[(54, r.cfg.address), (50, bytes(off[16:20]))])
            try:
                await exchange(cl, srv, req, 300)
            except AssertionError:
                pass
            counts.append(len(seen))
            await exchange(cl, srv, req)
            counts.append(len(seen))
        finally:
            cl.close()
            task.cancel()
            await compat.sleep_ms(0)
            r.stop()

    asyncio.run(main())
    # Nothing while the write failed; then the grant, and the retried
    # REQUEST's own answer (a renewal of the binding already in the table).
    assert counts == [0, 2], counts
    assert seen == [E.GRANTED, E.RENEWED], seen

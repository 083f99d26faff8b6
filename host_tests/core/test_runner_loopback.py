# The real asyncio runner on real UDP sockets over loopback, in one event
# loop with a client coroutine: both interpreters.
#
# The pool lives in 127.0.4.0/24 so that every reply, unicast ones to ciaddr
# included, stays on the loopback interface.


from dora import admin, compat, runner
from dora.compat import asyncio

from failing_fs import FailingFS
import packets as P
import util


def ports():
    return util.loopback_ports()


def loopback_config(path, **over):
    # Bound to 127.0.0.1: where every datagram of these tests arrives.
    over.setdefault("bind_address", "127.0.0.1")
    return util.loopback_config(path, **over)


async def exchange(sock, server_addr, pkt, timeout_ms=2000):
    sock.sendto(pkt, server_addr)
    deadline = compat.ticks_ms() + timeout_ms
    while compat.ticks_diff(deadline, compat.ticks_ms()) > 0:
        try:
            data, _ = sock.recvfrom(1500)
            return data
        except OSError:
            await compat.sleep_ms(1)
    raise AssertionError("no reply")


def with_runner(r, client):
    """Run the runner `r` and the coroutine client(sock, server_addr) in one
    event loop; the runner is stopped and closed afterwards."""

    async def main():
        r.open()
        task = asyncio.create_task(r.serve())
        cl = compat.udp_socket(r.cfg.client_port)  # any 127.x: replies to ciaddr too
        try:
            await client(cl, compat.sockaddr("127.0.0.1", r.cfg.server_port))
        finally:
            cl.close()
            task.cancel()
            await compat.sleep_ms(0)
            r.close()

    asyncio.run(main())


def run_clients(cfg_dict, count):
    r = runner.Runner(cfg_dict)
    result = {}

    async def clients(cl, srv):
        for i in range(count):
            m = P.mac(i)
            off = await exchange(cl, srv, P.request(1, m, xid=i))
            assert P.options(off)[53] == b"\x02", "expected OFFER"
            a = bytes(off[16:20])
            ack = await exchange(cl, srv, P.request(3, m, xid=i, options=[(54, r.cfg.address), (50, a)]))
            assert P.options(ack)[53] == b"\x05", "expected ACK"
            result[i] = P.yiaddr(ack)
        # A malformed datagram is dropped and the runner keeps serving.
        cl.sendto(b"\x01" * 50, srv)
        ren = await exchange(cl, srv, P.request(3, P.mac(0), xid=99, ciaddr=P.ip(result[0])))
        assert P.options(ren)[53] == b"\x05"

    with_runner(r, clients)
    return r, result


def test_runner_serves_dora_over_loopback_udp():
    path = util.tmp_path("leases.dat")
    r, got = run_clients(loopback_config(path), 20)
    assert len(set(got.values())) == 20
    assert r.server.stats.acks == 20 and r.server.stats.renewals == 1
    assert r.server.stats.malformed == 1 and r.errors == 0
    assert r.store.bytes_written == 16 + 20 * 16  # header + one record per binding
    text = admin.table_text(r)
    assert "127.0.4.16" in text and "bound" in text


def test_runner_restart_keeps_leases():
    path = util.tmp_path("leases.dat")
    _, first = run_clients(loopback_config(path), 5)
    r, second = run_clients(loopback_config(path), 5)
    assert first == second
    assert r.server.stats.acks == 0 and r.server.stats.renewals == 6  # no rewrite


def test_failed_flash_write_withholds_the_ack_until_a_retry_succeeds():
    path = util.tmp_path("leases.dat")
    flash = FailingFS(fail_appends=(1,))
    r = runner.Runner(loopback_config(path), fs=flash)
    replies = []

    async def client(cl, srv):
        m = P.mac(1)
        off = await exchange(cl, srv, P.request(1, m, xid=1))
        req = P.request(3, m, xid=1, options=[(54, r.cfg.address), (50, bytes(off[16:20]))])
        try:
            await exchange(cl, srv, req, 300)
            replies.append("ack")
        except AssertionError:
            replies.append("withheld")
        # The client retransmits its REQUEST; now the write goes through.
        replies.append(P.options(await exchange(cl, srv, req))[53][0])

    with_runner(r, client)
    assert replies == ["withheld", 5]
    # One append (failed); the retry rewrote the file whole (a failed write
    # may leave part of a record: store.commit compacts after a failure).
    assert r.commit_failures == 1 and flash.calls == 1
    # The binding did reach the file.
    from helpers import make_server, state_of

    again = make_server(path, address="127.0.4.1", pool_start="127.0.4.16", pool_end="127.0.4.250")
    assert state_of(again, "127.0.4.16", 0) == "bound"


def test_a_round_reads_what_waits_and_holds_its_acks_for_one_commit():
    # A round reads every datagram waiting (ROUND_READS at most) and holds
    # up to BATCH ACKs for one commit: under load, one sync covers many
    # ACKs.  (On a host a round is long; on a board both bounds are small.)
    r = runner.Runner(loopback_config(util.tmp_path("leases.dat")))
    r.open()
    cl = compat.udp_socket(r.cfg.client_port)
    srv = compat.sockaddr("127.0.0.1", r.cfg.server_port)

    def waiting():
        got = []
        while True:
            try:
                got.append(cl.recvfrom(1500)[0])
            except OSError:
                return got

    n = runner.BATCH + 3
    try:
        for i in range(n):
            cl.sendto(P.request(1, P.mac(i), xid=i), srv)
        r.round()
        offered = waiting()
        assert len(offered) == min(n, runner.ROUND_READS)
        for _ in range(n):  # bounded: a round reads one datagram at least
            if len(offered) == n:
                break
            r.round()
            offered += waiting()
        assert len(offered) == n
        for off in offered:
            xid = int.from_bytes(off[4:8], "big")
            cl.sendto(P.request(3, P.mac(xid), xid=xid, options=[(54, r.cfg.address), (50, bytes(off[16:20]))]), srv)
        writes = r.store.writes
        r.round()
        assert (len(waiting()), r.store.writes - writes) == (runner.BATCH, 1)  # the rest waits for the next round
        r.round()
        assert (len(waiting()), r.store.writes - writes) == (3, 2)
        assert r.server.stats.acks == n
    finally:
        cl.close()
        r.stop()


def test_the_housekeeping_collects_once_a_quarter_of_the_free_heap_is_garbage():
    # gc.threshold counts what was allocated since the last collection: set
    # to a quarter of the free heap, garbage never fills the heap first.
    import gc

    if not util.MICROPYTHON:
        util.skip("CPython has no gc.threshold")
    gc.collect()
    # Live data of an eighth of the heap, as a server's code and table are:
    # a threshold that counted it in would collect that much later.  (In
    # pieces: a board's heap may have no single free run that long.)
    size = max(1024, gc.mem_free() // 256)
    ballast = [bytearray(size) for _ in range(gc.mem_free() // 8 // size)]
    compat.pace_gc(gc)
    try:
        free = gc.mem_free()
        # Pieces of 1/256 of the free heap: reading gc.mem_alloc() walks the
        # whole heap, so a few hundred readings whatever the heap's size.
        piece = max(256, free // 256)
        made = 0
        before = gc.mem_alloc()
        while made < free // 2:  # bounded: half of the free heap at most
            bytearray(piece)
            made += piece + 16  # the allocator's rounding, at most
            now = gc.mem_alloc()
            if now < before:
                break  # a collection ran
            before = now
        assert made <= free // 4 + 4 * piece, (made, free)
    finally:
        gc.threshold(-1)
        del ballast

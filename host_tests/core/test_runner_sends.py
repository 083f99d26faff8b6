# What the runner sends, and when it says so: the unicast budget, renewals
# while the lease file cannot be written, and log lines that tell the truth.
# Real runner, real UDP sockets over loopback, both interpreters.

from dora import admin, compat, runner
from dora.runner import SendBudget

from failing_fs import FailingFS
import packets as P
import util
from test_runner_loopback import exchange, loopback_config, with_runner


class FixedClock:
    """The runner's clock held at one second: budgets refill only when a
    test moves it."""

    def __init__(self, t=100):
        self.t = t

    def now(self):
        return self.t


async def replies(sock, ms=150):
    """Every datagram that reaches `sock` within ms."""
    got = []
    deadline = compat.ticks_ms() + ms
    while compat.ticks_diff(deadline, compat.ticks_ms()) > 0:
        try:
            data, _ = sock.recvfrom(1500)
            got.append(data)
        except OSError:
            await compat.sleep_ms(2)
    return got


async def bind(cl, srv, r, i):
    m = P.mac(i)
    off = await exchange(cl, srv, P.request(1, m, xid=i))
    ack = await exchange(cl, srv, P.request(3, m, xid=i, options=[(54, r.cfg.address), (50, bytes(off[16:20]))]))
    assert P.options(ack)[53] == b"\x05"
    return P.yiaddr(ack)


def inform(i, ciaddr, xid=None):
    return P.request(8, P.mac(i), xid=xid or 0x800 + i, ciaddr=P.ip(ciaddr))


# -- the budget itself ----------------------------------------------------------


def test_send_budget_refills_per_second_up_to_its_burst():
    b = SendBudget(3, 2)
    assert [b.unicast(10) for _ in range(4)] == [True, True, True, False]
    assert [b.unicast(11) for _ in range(3)] == [True, True, False]  # 2 a second
    assert [b.unicast(30) for _ in range(4)] == [True, True, True, False]  # never above the burst


def test_send_budget_limits_third_party_unicasts_per_requester():
    b = SendBudget(100, 100, third_party_max=2, window=60, size=4)
    a = P.mac(1)
    assert [b.third_party(a, 0, 5) for _ in range(3)] == [True, True, False]
    assert b.third_party(P.mac(2), 0, 5)  # another requester has its own share
    assert not b.third_party(a, 0, 64)  # the window has not ended
    assert b.third_party(a, 0, 65)  # it has
    # Four other requesters push `a` out of the table: it starts afresh, and
    # the table never grows.
    for i in range(3, 7):
        b.third_party(P.mac(i), 0, 70)
    assert len(b.counts) == 4 and len(b.macs) == 24


def test_send_budget_allocates_nothing():
    b = SendBudget(4, 2)
    buf = bytearray(P.request(8, P.mac(9)))

    def spend():
        n = 0
        for t in range(200, 260):
            n += b.unicast(t) + b.third_party(buf, 28, t)
        return n

    assert util.locked(spend) > 0


# -- through the runner: unicasts to hosts nobody may hold ---------------------------------


def test_informs_naming_other_hosts_get_two_answers_per_requester():
    # Fails before the budget: every one of the 30 INFORMs is answered by a
    # unicast to the host it names.
    r = runner.Runner(loopback_config(util.tmp_path("leases.dat")))
    r.clock = FixedClock()
    got = {}

    async def client(cl, srv):
        for k in range(30):
            cl.sendto(inform(1, "127.0.4.%d" % (100 + k)), srv)
        got["storm"] = len(await replies(cl))
        cl.sendto(inform(2, "127.0.4.99"), srv)  # another requester: its own share
        got["other"] = len(await replies(cl))

    with_runner(r, client)
    assert got == {"storm": 2, "other": 1}, got
    assert r.unicast_withheld == 28 and r.server.stats.informs == 31
    assert "unicasts withheld 28" in admin.stats_text(r)


def test_unicasts_to_requesters_own_addresses_are_bounded_and_acks_go_broadcast():
    # A spoofed storm looks like each host's own request: only the bucket
    # bounds it.  The ACK of a binding over the budget is broadcast instead.
    r = runner.Runner(loopback_config(util.tmp_path("leases.dat")))
    clock = r.clock = FixedClock()
    r.budget = SendBudget(4, 1)
    got = {}

    async def client(cl, srv):
        addr = await bind(cl, srv, r, 1)  # broadcast replies: no token spent
        for k in range(10):
            cl.sendto(inform(10 + k, "127.0.0.1"), srv)  # from 127.0.0.1, naming it
        got["informs"] = len(await replies(cl))
        ren = await exchange(cl, srv, P.request(3, P.mac(1), xid=77, ciaddr=P.ip(addr)))
        got["renewal"] = P.options(ren)[53][0]
        clock.t += 1  # one more token a second
        cl.sendto(inform(30, "127.0.0.1"), srv)
        got["later"] = len(await replies(cl))

    with_runner(r, client)
    assert got == {"informs": 4, "renewal": 5, "later": 1}, got
    assert r.unicast_withheld == 6 and r.unicast_broadcast == 1 and r.errors == 0


def test_a_relay_is_answered_at_any_rate_from_giaddr_and_by_the_bucket_otherwise():
    # A relay serves many clients: one that sends from giaddr (as most do)
    # is not held by the budget; one that sends from another address is
    # held by the bucket only, not by the per-requester share.
    r = runner.Runner(loopback_config(util.tmp_path("leases.dat")))
    r.clock = FixedClock()
    r.budget = SendBudget(3, 1)
    got = {}

    async def client(cl, srv):
        relay = compat.udp_socket(r.cfg.server_port, None, "127.0.4.200")  # giaddr's port 67
        try:
            for k in range(12):
                relay.sendto(P.request(1, P.mac(k), xid=k, giaddr=P.ip("127.0.4.200")), srv)
            got["from giaddr"] = len(await replies(relay, 200))
            for k in range(6):  # one client's retries, from a relay's other address
                cl.sendto(P.request(1, P.mac(1), xid=100 + k, giaddr=P.ip("127.0.4.200")), srv)
            got["from elsewhere"] = len(await replies(relay, 200))
        finally:
            relay.close()

    with_runner(r, client)
    assert got == {"from giaddr": 12, "from elsewhere": 3}, got
    assert r.unicast_withheld == 3


# -- renewals while the lease file cannot be written -----------------------------------------


def test_renewals_of_bindings_on_flash_go_on_while_a_write_fails():
    # Fails before the fix: one failed commit held EVERY renewal (0 of 10).
    path = util.tmp_path("leases.dat")
    flash = FailingFS()
    r = runner.Runner(loopback_config(path), fs=flash)
    got = {}

    async def client(cl, srv):
        addrs = []
        for i in range(10):
            addrs.append(await bind(cl, srv, r, i))
        flash.broken = True
        m = P.mac(50)
        off = await exchange(cl, srv, P.request(1, m, xid=50))
        new = P.request(3, m, xid=50, options=[(54, r.cfg.address), (50, bytes(off[16:20]))])
        cl.sendto(new, srv)
        got["new"] = len(await replies(cl, 200))
        for i in range(10):
            cl.sendto(P.request(3, P.mac(i), xid=100 + i, ciaddr=P.ip(addrs[i])), srv)
        got["renewed"] = sum(1 for d in await replies(cl, 300) if P.options(d)[53] == b"\x05")
        cl.sendto(new, srv)  # its retransmission: its record is still not on flash
        got["new again"] = len(await replies(cl, 200))
        flash.broken = False
        got["new at last"] = P.options(await exchange(cl, srv, new))[53][0]

    with_runner(r, client)
    assert got == {"new": 0, "renewed": 10, "new again": 0, "new at last": 5}, got
    assert flash.failures >= 2 and r.commit_failures >= 2
    from helpers import make_server, state_of

    again = make_server(path, address="127.0.4.1", pool_start="127.0.4.16", pool_end="127.0.4.250")
    assert state_of(again, "127.0.4.26", 0) == "bound"  # the 11th binding reached the file


def test_stopping_with_a_failing_flash_says_what_is_lost_without_a_traceback():
    # Fails before: the final commit's OSError escaped stop().
    flash = FailingFS()
    lines = []
    r = runner.Runner(loopback_config(util.tmp_path("leases.dat")), log=lines.append, fs=flash)
    r.open()
    r.store.note(3, 0)  # a release, say: its record waits for the next write
    flash.broken = True
    r.stop()
    assert [ln for ln in lines if "at stop" in ln] == [
        "lease file not written at stop (ENOSPC, no space left): 1 record(s) not saved"
    ], lines
    assert lines[-1].startswith("stopped: ") and r.sock is None, lines


def test_revoking_while_the_flash_fails_ends_the_lease_and_says_it_waits():
    # Fails before: the commit's OSError escaped revoke() (a traceback at
    # the REPL, for dora.control.revoke).
    flash = FailingFS()
    lines = []
    r = runner.Runner(loopback_config(util.tmp_path("leases.dat")), log=lines.append, fs=flash)
    got = {}

    async def client(cl, srv):
        addr = await bind(cl, srv, r, 1)
        flash.broken = True
        got["revoked"] = admin.revoke(r, r.server.pool.slot_of(P.ip(addr), 0))
        nak = await exchange(cl, srv, P.request(3, P.mac(1), xid=5, ciaddr=P.ip(addr)))
        got["renewal"] = P.options(nak)[53][0]
        flash.broken = False

    with_runner(r, client)
    assert got == {"revoked": True, "renewal": 6}, got
    assert [ln for ln in lines if ln.startswith("the revocation waits")] == [
        "the revocation waits for the next lease file write (ENOSPC, no space left)"
    ], lines


def test_store_durable_tracks_each_slots_record():
    path = util.tmp_path("leases.dat")
    flash = FailingFS()
    r = runner.Runner(loopback_config(path), fs=flash)
    s = r.store
    s.load(0)
    assert s.durable(0) and s.durable(5)
    s.note(5, 600)
    assert s.durable(0) and not s.durable(5)
    flash.broken = True
    util.raises(OSError, s.commit, 1)
    assert not s.durable(5) and s.pending == 1
    flash.broken = False
    s.commit(2)
    assert s.durable(5) and s.pending == 0
    s.close()


# -- log lines -----------------------------------------------------------------------------


def test_an_ack_is_logged_once_sent_and_a_withheld_one_says_so():
    # Fails before the fix: "ACK 127.0.4.16 ..." was logged before the
    # commit, although the failed write withheld it.
    path = util.tmp_path("leases.dat")
    flash = FailingFS()
    lines = []
    r = runner.Runner(loopback_config(path, log=True), log=lines.append, fs=flash)
    marks = {}

    async def client(cl, srv):
        m = P.mac(1)
        off = await exchange(cl, srv, P.request(1, m, xid=1))
        req = P.request(3, m, xid=1, options=[(54, r.cfg.address), (50, bytes(off[16:20]))])
        flash.broken = True
        cl.sendto(req, srv)
        await replies(cl, 200)
        marks["failed"] = list(lines)
        flash.broken = False
        await exchange(cl, srv, req)
        marks["after"] = list(lines)

    with_runner(r, client)
    during = marks["failed"]
    assert not [ln for ln in during if ln.startswith("ACK ") or ln.startswith("RENEW ")], during
    assert "withheld: ACK 127.0.4.16 02:00:00:00:00:01 600s (ENOSPC, no space left)" in during, during
    assert [ln for ln in during if "write failed (ENOSPC" in ln], during  # the store's line
    after = marks["after"][len(during):]
    assert [ln for ln in after if ln.startswith("ACK 127.0.4.16 02:00:00:00:00:01")] == [
        "ACK 127.0.4.16 02:00:00:00:00:01 600s"
    ], after


def test_nak_and_inform_lines_name_the_client_and_the_address():
    # Fails before the fix: the line was a bare "NAK".
    lines = []
    r = runner.Runner(loopback_config(util.tmp_path("leases.dat"), log=True), log=lines.append)

    async def client(cl, srv):
        # INIT-REBOOT for an address outside the subnet: NAKed.
        nak = await exchange(cl, srv, P.request(3, P.mac(7), xid=7, options=[(50, P.ip("10.1.2.3"))]))
        assert P.options(nak)[53] == b"\x06"
        cid = b"\xff\x00\x00\x00\x01\x00\x01\x02\x03"
        nak = await exchange(cl, srv, P.request(3, P.mac(8), xid=8, options=[(50, P.ip("10.1.2.4")), (61, cid)]))
        assert P.options(nak)[53] == b"\x06"
        await exchange(cl, srv, inform(9, "127.0.0.1"))

    with_runner(r, client)
    naks = [ln for ln in lines if ln.startswith("NAK")]
    assert naks[0] == "NAK 10.1.2.3 02:00:00:00:00:07", lines
    assert naks[1].startswith("NAK 10.1.2.4 02:00:00:00:00:08 id:"), lines
    assert "INFORM-ACK 127.0.0.1 02:00:00:00:00:09" in lines, lines

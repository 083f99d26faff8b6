# What a reply carries and how big it may be: option 57 (counting the IP
# and UDP headers), option overload into file/sname, what did not fit
# counted and named, requests up to a full Ethernet frame, echoes of 61/82
# only when valid, trusted relays, next_server/boot_file.  Both interpreters.

from dora import admin, compat, config, runner, udp
from dora import dhcp as D
from dora import server as S
from dora.compat import asyncio

import packets as P
import util
from helpers import Client, make_server

# Android 13's parameter request list: it asks for the captive portal (114).
ANDROID_PRL = (55, bytes([1, 3, 6, 15, 26, 28, 51, 58, 59, 43, 114]))
PORTAL = "http://192.168.4.1/portal/android-captive-check"
# A vendor option of 250 bytes before the portal URI: together they do not
# fit in 576 bytes.
BIG = {"43": "hex:" + "ab" * 250, "114": PORTAL, "26": 1400}


def size57(n):
    return (57, bytes(((n >> 8) & 255, n & 255)))


def out_for(s):
    return bytearray(s.cfg.reply_size)


def many_small():
    """100 options of 20 bytes: whatever the limit, the reply fills it."""
    opts = {}
    for code in range(128, 228):
        opts[str(code)] = "hex:" + "%02x" % code * 20
    return opts


def discover_of(size, i):
    """A DISCOVER of exactly `size` bytes, as a TR-111 CPE sends: 60, then
    43/124/125 filled up."""
    b = bytearray(P.request(D.DISCOVER, P.mac(10 + i), xid=10 + i, options=[(60, b"dslforum.org")], end=False, pad_to=0))
    codes = (43, 124, 125)
    k = 0
    while size - len(b) > 3:
        n = min(255, size - len(b) - 3)
        b += bytes((codes[k % 3], n)) + bytes((k,)) * n
        k += 1
    b.append(255)
    while len(b) < size:
        b.append(0)
    return bytes(b)


def parsed(out, n):
    m = D.Message()
    assert m.parse(out, n, D.BOOTREPLY), "reply does not parse: %s" % D.ERROR_NAMES[m.error]
    return P.options(out, n)


# -- option 57 and the default ------------------------------------------------
def test_a_client_without_57_gets_at_most_548_bytes():
    # RFC 2131 2.: a client must take a 576-byte IP datagram: 548 bytes of DHCP.
    s = make_server(options=many_small())
    out = bytearray(1500)
    pkt = P.request(D.DISCOVER, P.mac(1))
    n = s.handle(pkt, len(pkt), 0, out)
    assert 300 <= n <= 548
    assert parsed(out, n)[53] == bytes([D.OFFER])


def test_option_57_counts_the_ip_and_udp_headers():
    s = make_server(options=many_small())
    out = bytearray(1500)
    for told, most in ((576, 548), (1000, 972), (1500, 1472), (300, 548), (65535, 1472)):
        pkt = P.request(D.DISCOVER, P.mac(1), options=[size57(told)])
        n = s.handle(pkt, len(pkt), 0, out)
        assert n <= most, (told, n)
        assert n > most - 40, (told, n)  # it did fill up to the limit
        parsed(out, n)


def test_android_with_57_1500_gets_its_captive_portal_uri():
    s = make_server(options=BIG)
    out = out_for(s)
    pkt = P.request(D.DISCOVER, P.mac(1), options=[ANDROID_PRL, size57(1500)])
    n = s.handle(pkt, len(pkt), 0, out)
    o = parsed(out, n)
    assert o[114] == PORTAL.encode() and len(o[43]) == 250 and 26 in o
    assert s.stats.options_cut == 0 and s.cut == 0


# -- option overload ------------------------------------------------------------
def test_overload_fills_file_then_sname_before_leaving_anything_out():
    # 57 = 576: 308 bytes of options field, plus 128 of file and 64 of sname.
    opts = {"128": "hex:" + "11" * 120, "129": "hex:" + "22" * 120, "130": "hex:" + "33" * 110,
            "131": "hex:" + "44" * 50, "132": "hex:" + "55" * 8}
    s = make_server(options=opts)
    out = out_for(s)
    pkt = P.request(D.DISCOVER, P.mac(1), options=[size57(576)])
    n = s.handle(pkt, len(pkt), 0, out)
    assert n <= 548
    o = parsed(out, n)
    for code, text in opts.items():
        assert o[int(code)] == bytes.fromhex(text[4:]), code
    assert o[52] == b"\x03"  # both file and sname carry options
    assert s.stats.options_cut == 0
    # Essentials stay in the options field proper.
    main = P.options(out[:D.OFF_OPTIONS] + bytes(out[D.OFF_OPTIONS:n]))
    for code in (53, 54, 51, 1, 3, 6):
        assert code in main


def test_what_still_does_not_fit_is_counted_and_named():
    opts = {"128": "hex:" + "11" * 200, "129": "hex:" + "22" * 250, "130": "hex:" + "33" * 250}
    s = make_server(options=opts)
    out = out_for(s)
    pkt = P.request(D.DISCOVER, P.mac(1), options=[size57(576)])
    n = s.handle(pkt, len(pkt), 0, out)
    o = parsed(out, n)
    assert 128 in o and 129 not in o and 130 not in o
    assert s.cut == 2 and s.stats.options_cut == 2
    text = S.cut_text(s)
    assert "129" in text and "130" in text and "544" in text, text
    # The next reply that fits says nothing.
    pkt = P.request(D.DISCOVER, P.mac(2), options=[size57(1500)])
    s.handle(pkt, len(pkt), 0, out)
    assert s.cut == 0 and s.stats.options_cut == 2


def test_reply_buffers_are_sized_by_the_config():
    small = config.parse(util.loopback_config(None))
    assert small.reply_size == 576  # what the runner always had
    big = config.parse(util.loopback_config(None, options=BIG))
    assert 576 < big.reply_size <= D.MAX_MESSAGE and big.reply_size % 32 == 0
    huge = {}
    for code in range(128, 140):
        huge[str(code)] = "hex:" + "ab" * 250
    assert config.parse(util.loopback_config(None, options=huge)).reply_size == D.MAX_MESSAGE
    # Several servers share their reply buffers: each is sized for the largest.
    both = config.parse_servers({"servers": [util.loopback_config(None), util.loopback_config(None, options=BIG, server_port=1067)]})
    assert both[0].reply_size == both[1].reply_size == big.reply_size


# -- the runner, over loopback UDP: what actually leaves --------------------------
def _serve(cfg_dict, client, logs=None):
    r = runner.Runner(cfg_dict, log=logs.append if logs is not None else (lambda line: None))

    async def main():
        r.open()
        task = asyncio.create_task(r.serve())
        cl = compat.udp_socket(r.cfg.client_port)
        try:
            await client(cl, compat.sockaddr("127.0.0.1", r.cfg.server_port))
        finally:
            cl.close()
            task.cancel()
            await compat.sleep_ms(0)
            r.close()

    asyncio.run(main())
    return r


async def _exchange(sock, addr, pkt):
    sock.sendto(pkt, addr)
    for _ in range(300):
        try:
            return sock.recvfrom(2048)[0]
        except OSError:
            await compat.sleep_ms(10)
    raise AssertionError("no reply")


def test_runner_sends_android_its_portal_and_keeps_576_clients_within_576():
    got = {}

    async def client(sock, addr):
        got["android"] = await _exchange(sock, addr, P.request(D.DISCOVER, P.mac(1), xid=1, options=[ANDROID_PRL, size57(1500)]))
        got["small"] = await _exchange(sock, addr, P.request(D.DISCOVER, P.mac(2), xid=2, options=[ANDROID_PRL, size57(576)]))
        got["plain"] = await _exchange(sock, addr, P.request(D.DISCOVER, P.mac(3), xid=3, options=[ANDROID_PRL]))

    logs = []
    r = _serve(util.loopback_config(None, options=BIG, log=True), client, logs)
    a = got["android"]
    assert P.options(a)[114] == PORTAL.encode() and len(a) <= 1472
    for k in ("small", "plain"):
        d = got[k]
        assert len(d) + 28 <= 576, (k, len(d))  # the IP datagram
        assert P.options(d)[114] == PORTAL.encode()  # 43 is what did not fit
    # Said in the log and counted in the totals.
    cut = [line for line in logs if "left out" in line]
    assert len(cut) == 2 and "option(s) 43 left out" in cut[0], logs
    assert r.server.stats.options_cut == 2 and "options cut 2" in admin.stats_text(r)


def test_runner_answers_requests_up_to_a_full_ethernet_frame():
    # TR-111 CPEs and VoIP phones send DISCOVERs of 613 to 1,222 bytes.
    got = []
    sizes = (613, 1222, D.MAX_MESSAGE)

    async def client(sock, addr):
        for i, size in enumerate(sizes):
            pkt = discover_of(size, i)
            assert len(pkt) == size
            got.append(await _exchange(sock, addr, pkt))

    r = _serve(util.loopback_config(None), client)
    assert [P.options(d)[53] for d in got] == [b"\x02"] * len(sizes)
    assert r.server.stats.malformed == 0


# -- echoes of 61 and 82 ---------------------------------------------------------------
def test_only_a_valid_client_identifier_is_echoed():
    s = make_server()
    out = out_for(s)
    for value, echoed in ((b"", False), (b"\x01", False), (b"\x00x", True), (b"\x01" + P.mac(5), True)):
        pkt = P.request(D.DISCOVER, P.mac(5), options=[(61, value)])
        n = s.handle(pkt, len(pkt), 0, out)
        o = parsed(out, n)
        assert (61 in o) == echoed, value
        if echoed:
            assert o[61] == value
    assert s.stats.bad_echoes == 2


def test_only_well_formed_relay_agent_information_is_echoed():
    s = make_server()
    out = out_for(s)
    cases = (
        (b"\x01\x03abc\x02\x02xy", True),
        (b"\x01\x01a", True),
        (b"", False),
        (b"\x01", False),  # no length byte
        (b"\x01\x05ab", False),  # sub-option runs past the option
        (b"\x01\x00", False),  # empty sub-option
        (b"\x01\x01a\x02", False),  # trailing byte
    )
    for value, echoed in cases:
        pkt = P.request(D.DISCOVER, P.mac(6), giaddr=P.ip("10.0.0.1"), options=[(82, value)])
        n = s.handle(pkt, len(pkt), 0, out)
        assert n and s.dest == S.TO_RELAY
        o = parsed(out, n)
        assert (82 in o) == echoed, value
        if echoed:
            assert o[82] == value
    assert s.stats.bad_echoes == 5


# -- trusted relays ------------------------------------------------------------------------
def test_relayed_requests_from_untrusted_relays_are_dropped_and_counted():
    s = make_server(trusted_relays=["10.0.0.1", "10.0.1.1"])
    out = out_for(s)
    for gi, answered in (("10.0.0.1", True), ("10.0.1.1", True), ("10.0.0.2", False), ("192.168.4.50", False)):
        pkt = P.request(D.DISCOVER, P.mac(7), giaddr=P.ip(gi), options=[(82, b"\x01\x01a")])
        n = s.handle(pkt, len(pkt), 0, out)
        assert bool(n) == answered, gi
        if answered:
            assert s.dest == S.TO_RELAY and bytes(out[24:28]) == P.ip(gi)
    assert s.stats.untrusted_relays == 2
    pkt = P.request(D.DISCOVER, P.mac(8))  # on-link clients are not affected
    assert s.handle(pkt, len(pkt), 0, out) and s.dest == S.TO_BROADCAST


def test_trusted_relays_default_accepts_any_and_empty_accepts_none():
    pkt = P.request(D.DISCOVER, P.mac(7), giaddr=P.ip("10.9.9.9"))
    s = make_server()
    assert s.handle(pkt, len(pkt), 0, out_for(s))
    s = make_server(trusted_relays=[])
    assert s.handle(pkt, len(pkt), 0, out_for(s)) == 0 and s.stats.untrusted_relays == 1


def test_bad_trusted_relays_name_the_field():
    for bad in ("10.0.0.1", ["10.0.0"], [1], ["0.0.0.0"], ["255.255.255.255"]):
        e = util.raises(config.ConfigError, lambda bad=bad: make_server(trusted_relays=bad))
        assert str(e).startswith("trusted_relays"), str(e)


# -- next_server and boot_file -------------------------------------------------------------
BOOT = {"next_server": "192.168.4.5", "boot_file": "pxelinux.0"}


def test_next_server_and_boot_file_fill_siaddr_file_and_66_67_when_asked():
    s = make_server(**BOOT)
    out = out_for(s)
    pkt = P.request(D.DISCOVER, P.mac(1), options=[(55, bytes([1, 3, 66, 67]))])
    n = s.handle(pkt, len(pkt), 0, out)
    o = parsed(out, n)
    assert bytes(out[20:24]) == P.ip("192.168.4.5")
    assert P.cstring(out, D.OFF_FILE, 128) == b"pxelinux.0"
    assert o[66] == b"192.168.4.5" and o[67] == b"pxelinux.0"
    c = Client(s, 2)
    c.out = out_for(s)
    n = c.send(D.DISCOVER, 0, [(55, bytes([1, 3]))])
    o = parsed(c.out, n)
    assert 66 not in o and 67 not in o
    assert bytes(c.out[20:24]) == P.ip("192.168.4.5") and P.cstring(c.out, D.OFF_FILE, 128) == b"pxelinux.0"
    a = c.dora(0)
    assert a and bytes(c.out[20:24]) == P.ip("192.168.4.5")  # the ACK too
    # A NAK (a renewal of the address offered to the first client) carries neither.
    n = c.send(D.REQUEST, 0, ciaddr=P.ip("192.168.4.16"))
    assert parsed(c.out, n)[53] == bytes([D.NAK])
    assert bytes(c.out[20:24]) == bytes(4) and P.cstring(c.out, D.OFF_FILE, 128) == b""


def test_a_static_host_and_a_class_have_their_own_boot_server_and_file():
    s = make_server(
        static=[{"mac": "02:00:00:00:00:09", "address": "192.168.4.20", "next_server": "192.168.4.6", "boot_file": "cam.bin"}],
        classes=[{"name": "phones", "vendor_class": "phone", "boot_file": "phone.cfg", "next_server": "192.168.4.7"}],
        **BOOT
    )
    out = out_for(s)
    prl = (55, bytes([1, 66, 67]))
    for mac, extra, server, name in (
        (P.mac(9), [], "192.168.4.6", b"cam.bin"),
        (P.mac(3), [(60, b"phone-x1")], "192.168.4.7", b"phone.cfg"),
        (P.mac(4), [], "192.168.4.5", b"pxelinux.0"),
    ):
        pkt = P.request(D.DISCOVER, mac, options=[prl] + extra)
        n = s.handle(pkt, len(pkt), 0, out)
        o = parsed(out, n)
        assert bytes(out[20:24]) == P.ip(server) and P.cstring(out, D.OFF_FILE, 128) == name
        assert o[66] == server.encode() and o[67] == name


def test_boot_file_moves_to_option_67_when_file_carries_options():
    opts = {"128": "hex:" + "11" * 120, "129": "hex:" + "22" * 120, "130": "hex:" + "33" * 100}
    s = make_server(options=opts, **BOOT)
    out = out_for(s)
    pkt = P.request(D.DISCOVER, P.mac(1), options=[size57(576), (55, bytes([1, 3, 128, 129, 130]))])
    n = s.handle(pkt, len(pkt), 0, out)
    o = parsed(out, n)
    assert o[52][0] & 1 and o[130] == b"\x33" * 100
    assert o[67] == b"pxelinux.0"  # not asked for, but the file field is taken
    # With room to spare the boot file stays in the file field.
    pkt = P.request(D.DISCOVER, P.mac(2), options=[size57(1500), (55, bytes([1, 3, 128, 129, 130]))])
    n = s.handle(pkt, len(pkt), 0, out)
    o = parsed(out, n)
    assert 52 not in o and 67 not in o and P.cstring(out, D.OFF_FILE, 128) == b"pxelinux.0"


def test_bad_boot_settings_name_the_field():
    for over, field in (
        ({"next_server": "tftp"}, "next_server"),
        ({"boot_file": ""}, "boot_file"),
        ({"boot_file": "x" * 128}, "boot_file"),
        ({"boot_file": "\u00e9" * 64}, "boot_file"),  # 128 bytes of UTF-8
        ({"boot_file": 7}, "boot_file"),
        ({"boot_file": "a", "options": {"67": "b"}}, "boot_file"),
        ({"static": [{"mac": "02:00:00:00:00:09", "address": "192.168.4.20", "next_server": "x"}]}, "static[0].next_server"),
        ({"classes": [{"name": "c", "mac_prefix": "02", "boot_file": ""}]}, "classes[0].boot_file"),
    ):
        e = util.raises(config.ConfigError, lambda over=over: make_server(**over))
        assert str(e).startswith(field), (field, str(e))


# -- nothing allocated on these paths -------------------------------------------------------------
def test_the_new_reply_paths_allocate_nothing():
    opts = dict(BIG)
    opts["128"] = "hex:" + "11" * 120
    opts["129"] = "hex:" + "22" * 250
    s = make_server(options=opts, trusted_relays=["10.0.0.1"],
                    static=[{"mac": "02:00:00:00:00:09", "address": "192.168.4.20", "next_server": "192.168.4.6", "boot_file": "cam.bin"}],
                    **BOOT)
    out = out_for(s)
    seq = [
        P.request(D.DISCOVER, P.mac(1), options=[size57(576), (61, b"\x01")]),  # overload, cut, bad 61
        P.request(D.DISCOVER, P.mac(2), options=[ANDROID_PRL, size57(1500), (61, b"\x00abc")]),
        P.request(D.DISCOVER, P.mac(9), options=[(55, bytes([1, 66, 67]))]),  # static host's boot server
        P.request(D.DISCOVER, P.mac(3), giaddr=P.ip("10.0.0.1"), options=[(82, b"\x01\x05ab")]),  # bad 82
        P.request(D.DISCOVER, P.mac(4), giaddr=P.ip("10.0.0.2")),  # untrusted relay
        P.request(D.DISCOVER, P.mac(5), xid=5, options=[(43, b"x" * 250), (124, b"y" * 250), (125, b"z" * 250)], pad_to=1200),
    ]
    lengths = [len(p) for p in seq]
    got = bytearray(len(seq))

    def run():
        for i in range(len(seq)):
            got[i] = 1 if s.handle(seq[i], lengths[i], 0, out) else 0

    util.locked(run)
    assert bytes(got) == b"\x01\x01\x01\x01\x00\x01"
    assert s.stats.untrusted_relays == 1 and s.stats.bad_echoes == 2 and s.stats.options_cut >= 1


def test_a_heap_without_a_1472_byte_piece_still_serves_usual_requests():
    # recvfrom(n) allocates n bytes first.  On a fragmented heap (seen with
    # .mpy files loaded into a 128 KB heap: 28 KB free, no piece over 704
    # bytes) a 1472-byte read fails; the runner then reads 600 bytes.
    class Fragmented:
        def __init__(self, sock):
            self.sock = sock
            self.sizes = []

        def recvfrom(self, n):
            self.sizes.append(n)
            if n > D.SHORT_READ:
                raise MemoryError("memory allocation failed, allocating %d bytes" % n)
            return self.sock.recvfrom(n)

    sp, cp = util.loopback_ports()
    srv = compat.udp_socket(sp, None, "127.0.0.1")
    cl = compat.udp_socket(cp, None, "127.0.0.1")
    try:
        pkt = P.request(D.DISCOVER, P.mac(1))
        cl.sendto(pkt, compat.sockaddr("127.0.0.1", sp))
        frag = Fragmented(srv)
        edge = udp.Edge(print, False)
        edge.sock = frag
        data = None
        for _ in range(100):
            got = edge.recv(D.MAX_MESSAGE)
            if got is not None:
                data = got[0]
                break
            asyncio.run(compat.sleep_ms(10))
        assert data == pkt and edge.errors == 0
        assert frag.sizes[:2] == [D.MAX_MESSAGE, D.SHORT_READ]
    finally:
        srv.close()
        cl.close()

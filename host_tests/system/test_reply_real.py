# What dora's replies carry, read by a real client, as root in network
# namespaces (dora on the MicroPython unix port in the AP namespace): busybox
# udhcpc takes 576-byte datagrams, so a config with more options than fit is
# answered with option overload (file/sname), and udhcpc must find every
# option it asked for, the boot server (siaddr, 66) and the boot file (67)
# in it.  Every reply dora sends must dissect cleanly in tshark.
#
# Uses tools/dora_lab/netns.py; skips without root/netns (fails in CI).

import pytest

from dora_lab.netns import Dora, Lab, Udhcpc, wait_for


@pytest.fixture
def lab(need, tmp_path):
    need("udhcpc", "tshark")
    with Lab(stations=1) as lab:
        lab.workdir = str(tmp_path)
        yield lab


PORTAL = "http://192.168.4.1/portal"
VENDOR = bytes(range(1, 121))  # option 43: 120 bytes
PRIVATE = b"p" * 110  # option 224: 110 bytes


def test_udhcpc_reads_an_overloaded_reply_with_its_boot_server_and_file(lab):
    dora = Dora(
        lab, lab.workdir, log=True, next_server="192.168.4.5", boot_file="pxelinux.0",
        options={"114": PORTAL, "43": "hex:" + VENDOR.hex(), "224": "hex:" + PRIVATE.hex()},
    ).start()
    c = Udhcpc(lab.station(0), lab.workdir)
    c.start(["-O", "43", "-O", "114", "-O", "224", "-O", "66", "-O", "67"])
    assert c.wait_address(), c.lines
    assert wait_for(lambda: c.options().get("opt114"), 5), c.lines
    opts = c.options()
    assert bytes.fromhex(opts["opt114"]) == PORTAL.encode(), opts
    assert bytes.fromhex(opts.get("opt43", "")) == VENDOR, opts
    assert bytes.fromhex(opts.get("opt224", "")) == PRIVATE, opts
    assert opts.get("tftp") == "192.168.4.5" and opts.get("siaddr") == "192.168.4.5", opts
    assert opts.get("bootfile") == "pxelinux.0", opts
    c.stop()
    dora.stop()
    # Nothing was left out, and the overloaded replies dissect cleanly.
    assert not dora.find("left out"), dora.lines
    replies, problems = dora.check_replies()
    assert replies > 0 and not problems, problems
    # udhcpc sends 57 = 576: its OFFER and ACK did need the overload, and
    # every datagram stayed within 576 bytes of IP.
    sizes = dora.capture.lines("dhcp.option.type == 52", fields=["ip.len", "dhcp.option.option_overload"])
    assert len(sizes) >= 2, sizes
    for line in sizes:
        ip_len, overload = line.split("\t")
        assert int(ip_len) <= 576 and int(overload) in (1, 2, 3), line


SEND = r"""
import socket, sys
mac = bytes.fromhex(sys.argv[1].replace(":", ""))
def request(xid, options):
    b = bytearray(236)
    b[0:3] = b"\x01\x01\x06"
    b[4:8] = xid.to_bytes(4, "big")
    b[28:34] = mac
    b += b"\x63\x82\x53\x63" + bytes((53, 1, 1))
    for code, value in options:
        b += bytes((code, len(value))) + value
    b += b"\xff" + bytes(300 - len(b) - 1)
    return bytes(b)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, sys.argv[2].encode())
s.bind(("0.0.0.0", 68))
# Option 61 of 0 and 1 byte, option 82 with a sub-option that overruns it.
for xid, opts in ((1, [(61, b"")]), (2, [(61, b"\x01")]), (3, [(82, b"\x01\x09ab")]), (4, [(61, b"\x01" + mac)])):
    s.sendto(request(xid, opts), ("255.255.255.255", 67))
"""


def test_replies_to_invalid_61_and_82_dissect_cleanly_and_are_counted(lab):
    dora = Dora(lab, lab.workdir, log=True).start()
    sta = lab.station(0)
    sta.run(["python3", "-c", SEND, sta.mac, sta.ifname])
    assert wait_for(lambda: len(dora.find("OFFER")) >= 4, 5), dora.lines
    dora.stop()
    assert [ln for ln in dora.lines if "bad echoes 3" in ln], dora.lines[-3:]
    replies, problems = dora.check_replies()
    assert replies >= 4 and not problems, problems
    echoed = dora.capture.lines("dhcp.option.type == 61", fields=["dhcp.id"])
    assert echoed == ["0x00000004"], echoed  # only the valid one came back

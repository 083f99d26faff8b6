"""tools/ethbridge.py: the TCP/UDP checksum a veth leaves to offload is
filled in before a frame reaches the emulated board (whose lwIP checks it)."""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

import ethbridge  # noqa: E402


def ones_sum(data):
    data += b"\0" * (len(data) & 1)
    n = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while n >> 16:
        n = (n & 0xFFFF) + (n >> 16)
    return n


def udp_frame(payload, checksum=0):
    udp = struct.pack("!HHHH", 68, 67, 8 + len(payload), checksum) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, bytes([192, 168, 4, 17]), bytes([192, 168, 4, 1]))
    ip = ip[:10] + struct.pack("!H", ~ones_sum(ip) & 0xFFFF) + ip[12:]
    return b"\x02\0\0\0\0\x02" + b"\x02\xd0\x4a\0\0\0" + b"\x08\x00" + ip + udp


def test_udp_checksum_is_filled_in_and_verifies():
    frame = ethbridge.finish_checksum(udp_frame(b"dhcp request body", checksum=0x1234))
    ip = frame[14:34]
    udp = frame[34:]
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, len(udp))
    assert ones_sum(pseudo + udp) == 0xFFFF, "the receiver's check must pass"
    assert frame[:34] == udp_frame(b"dhcp request body")[:34], "headers untouched"


def test_odd_length_and_trailing_padding_are_handled():
    frame = udp_frame(b"abc") + b"\0" * 9  # Ethernet padding after the datagram
    out = ethbridge.finish_checksum(frame)
    assert len(out) == len(frame) and out[-9:] == b"\0" * 9
    udp = out[34:34 + 11]
    assert ones_sum(out[26:34] + struct.pack("!BBH", 0, 17, 11) + udp) == 0xFFFF


def test_other_frames_pass_unchanged():
    arp = b"\xff" * 6 + b"\x02\xd0\x4a\0\0\0" + b"\x08\x06" + bytes(28)
    assert ethbridge.finish_checksum(arp) == arp
    icmp = bytearray(udp_frame(b"x"))
    icmp[23] = 1
    assert ethbridge.finish_checksum(bytes(icmp)) == bytes(icmp)
    assert ethbridge.finish_checksum(b"short") == b"short"

#!/bin/sh
# Installs the Debian packages dora's tests, demo and benchmarks need, when
# missing.  Needs root and apt-get; elsewhere it says what it skipped and
# returns 0 (the tests then skip, and say why).
# Usage: install_debs.sh [list or package ...]   (default: dhcp)
# Named lists:
#   dhcp       the DHCP software and tools the namespace tests drive
#   toolchain  what builds MicroPython: the unix ports (64- and 32-bit),
#              mpy-cross, picotool and the rp2 images (docs/building.md)
#   node       Node.js and npm, for the RP2040 emulator (tools/emu)
set -e
list_dhcp="iproute2 udhcpc isc-dhcp-client dhcpcd-base dnsmasq-base udhcpd kea-dhcp4-server kea-admin tshark strace"
list_toolchain="build-essential gcc-multilib pkg-config libffi-dev cmake gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib"
list_node="nodejs npm"
pkgs=""
for a in ${*:-dhcp}; do
    case "$a" in
        dhcp) pkgs="$pkgs $list_dhcp" ;;
        toolchain) pkgs="$pkgs $list_toolchain" ;;
        node) pkgs="$pkgs $list_node" ;;
        *) pkgs="$pkgs $a" ;;
    esac
done
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "install_debs: not root or no apt-get; missing:$missing (tests that need them skip)"
    exit 0
fi
echo "install_debs: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture: answer no, quietly.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null

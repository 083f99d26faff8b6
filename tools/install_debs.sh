#!/bin/sh
# Installs the Debian packages that dora's namespace tests, demo and
# benchmarks drive, when missing.  Needs root and apt-get; elsewhere it says
# what it skipped and returns 0 (the tests then skip, and say why).
# Usage: install_debs.sh [package ...]   (default: all of them)
set -e
pkgs="${*:-iproute2 udhcpc isc-dhcp-client dhcpcd-base dnsmasq-base udhcpd kea-dhcp4-server kea-admin tshark strace}"
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

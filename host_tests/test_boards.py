# Board bring-up (boards/common/dora_board.py) against the host-only fakes
# of `network`, `machine` and the dora_hook C module (boards/fake), strict
# per port (rp2, esp32), on CPython and on the MicroPython unix port; the
# fakes' rejections, one test row each; the board tooling's dry runs and
# errors; package.json in step with manifest.py.
#
# The real server runs (bound to 127.0.0.1 on a high port, for one second,
# with no client: nothing is sent anywhere).

import json
import os
import subprocess
import sys

import pytest
from dora_lab.loopback import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE = os.path.join(ROOT, "boards", "fake")
COMMON = os.path.join(ROOT, "boards", "common")


def board_config(kind, tmp_path, port, lan_type="W5500", **dora):
    d = {
        "server_port": port, "client_port": port + 1, "bind_address": "127.0.0.1",
        "run_seconds": 1, "lease_file": str(tmp_path / "leases.dat"), "log": False,
    }
    d.update(dora)
    if kind == "ethernet":
        return {"lan": {"type": lan_type, "address": "10.42.0.1"}, "dora": d, "watchdog_ms": 2000}
    led = "LED" if kind == "rp2" else 2
    return {"ap": {"ssid": "dora-test", "password": "secret-pass-1", "address": "192.168.7.1"},
            "dora": d, "watchdog_ms": 2000, "led": led}


FAKE_MODULES = ("network", "machine", "dora_hook", "dora_board")


@pytest.fixture
def fakes(monkeypatch):
    """Import the fakes as `network`, `machine`, `dora_hook` (ESP32 until a
    test calls machine.use("rp2")), and record each bind of a dora socket
    with the UDP ports the fake firmware's own DHCP code held at that
    moment."""
    monkeypatch.syspath_prepend(FAKE)
    monkeypatch.syspath_prepend(COMMON)
    for m in FAKE_MODULES:
        sys.modules.pop(m, None)
    import dora_board
    import dora_hook
    import machine
    import network
    from dora import compat

    machine.use("esp32")
    real = compat.udp_socket

    def recording(port, ifname=None, ip="0.0.0.0"):
        network.CALLS.append(("dora.bind", (ip, port, ifname, network.held_ports())))
        return real(port, ifname, ip)

    monkeypatch.setattr(compat, "udp_socket", recording)
    yield network, machine, dora_hook, dora_board
    for m in FAKE_MODULES:
        sys.modules.pop(m, None)


def names(calls):
    return [c[0] for c in calls]


@pytest.mark.parametrize("kind", ["esp32", "rp2"])
def test_wifi_bring_up_order(fakes, tmp_path, kind):
    """The AP comes up through the port's strict fake: every WLAN.config key
    the port's driver refuses fails this test (the Pico W's has no `hidden`
    and no `max_clients`)."""
    network, machine, hook, dora_board = fakes
    machine.use(kind)
    b = board_config(kind, tmp_path, free_port(), interface=None)
    dora_board.run(network, machine, hook, kind, board=b, log=lambda line: None, rounds=1)
    seq = names(network.CALLS)
    # AP configured and up with its address, then the built-in server
    # stopped, and only then dora's socket bound, with port 67 free.
    order = [seq.index(x) for x in ("AP.config", "AP.active", "AP.ifconfig", "dora_hook.stop_builtin_dhcp", "dora.bind")]
    assert order == sorted(order), seq
    bind = dict(network.CALLS)["dora.bind"]
    assert 67 not in bind[3], "dora bound while the firmware's DHCP server held port 67"
    cfg = dict(network.CALLS)["AP.config"]
    assert cfg["ssid"] == "dora-test" and cfg["key"] == "secret-pass-1"
    assert cfg["security"] == (3 if kind == "esp32" else network.WLAN.SEC_WPA_WPA2)
    assert ("max_clients" in cfg) == ("hidden" in cfg) == (kind == "esp32")
    ap = network.WLAN(network.AP_IF)
    assert ap.ifconfig() == ("192.168.7.1", "255.255.255.0", "192.168.7.1", "192.168.7.1")
    assert "WDT" in seq and "WDT.feed" in seq and "Pin.value" in seq
    assert "reset" not in seq


def test_replies_leave_by_the_ap_on_each_board(fakes, tmp_path):
    network, machine, hook, dora_board = fakes
    b = dora_board.check({"ap": {"ssid": "x"}}, "esp32")
    ap = network.WLAN(network.AP_IF)
    ap.active(True)
    # ESP32: dora's socket is bound to the AP's lwIP interface.
    assert dora_board.server_config(b, "esp32", ap)["interface"] == "ap1"
    # Pico W: no SO_BINDTODEVICE; replies go to the AP's directed broadcast.
    machine.use("rp2")
    ap = network.WLAN(network.AP_IF)
    cfg = dora_board.server_config(dora_board.check({"ap": {"ssid": "x", "address": "10.9.8.1"}}, "rp2"), "rp2", ap)
    assert cfg["broadcast"] == "10.9.8.255" and "interface" not in cfg
    assert cfg["pool_start"] == "10.9.8.16" and cfg["pool_end"] == "10.9.8.250"


def test_esp32_without_an_ap_interface_name_stops_at_start(fakes, tmp_path):
    """Without the AP's name dora cannot tie its socket to the AP and would
    answer on the STA side too: the board refuses to serve."""
    network, machine, hook, dora_board = fakes
    b = dora_board.check({"ap": {"ssid": "x"}}, "esp32")
    ap = network.WLAN(network.AP_IF)  # never started: esp_ifname gives None
    with pytest.raises(dora_board.BoardError) as e:
        dora_board.server_config(b, "esp32", ap)
    assert str(e.value).startswith("ap:")


@pytest.mark.parametrize("lan_type,port,ctor", [("W5500", "rp2", "WIZNET5K()"), ("LAN8720", "esp32", "LAN()")])
def test_ethernet_needs_no_hook(fakes, tmp_path, lan_type, port, ctor):
    network, machine, hook, dora_board = fakes
    machine.use(port)
    b = board_config("ethernet", tmp_path, free_port(), lan_type=lan_type)
    dora_board.run(network, machine, None, "ethernet", board=b, log=lambda line: None, rounds=1)
    seq = names(network.CALLS)
    kind = ctor[:-2]
    assert seq.index(ctor) < seq.index(kind + ".active") < seq.index(kind + ".ifconfig") < seq.index("dora.bind")
    assert "dora_hook.stop_builtin_dhcp" not in seq
    # The static address stopped the firmware's DHCP client on the port.
    assert dict(network.CALLS)["dora.bind"][3] == []


def test_w5500_uses_the_boards_own_wiring_unless_pins_are_given(fakes, tmp_path):
    network, machine, hook, dora_board = fakes
    machine.use("rp2")
    b = board_config("ethernet", tmp_path, free_port())
    b["lan"].update({"spi": 0, "cs": 17, "rst": 20})
    dora_board.run(network, machine, None, "ethernet", board=b, log=lambda line: None, rounds=1)
    assert dict(network.CALLS)["WIZNET5K()"] == {"args": 3}


def test_a_crashing_server_is_restarted_then_the_board_reset(fakes, tmp_path, monkeypatch):
    network, machine, hook, dora_board = fakes
    from dora import runner

    async def broken(cfg):
        raise OSError(12)

    monkeypatch.setattr(runner, "serve", broken)
    lines = []
    b = board_config("esp32", tmp_path, free_port(), interface=None)
    with pytest.raises(machine.ResetCalled):
        dora_board.run(network, machine, hook, "esp32", board=b, log=lines.append)
    seq = names(network.CALLS)
    assert seq.count("dora_hook.stop_builtin_dhcp") == 1 + dora_board.MAX_FAILURES - 1
    assert seq[-1] == "reset"
    assert sum("dora stopped" in ln for ln in lines) == dora_board.MAX_FAILURES


def test_upstream_sta_joins(fakes, tmp_path):
    network, machine, hook, dora_board = fakes
    b = board_config("esp32", tmp_path, free_port(), interface=None)
    b["upstream"] = {"ssid": "uplink", "password": "pw"}
    dora_board.run(network, machine, hook, "esp32", board=b, log=lambda line: None, rounds=1)
    assert ("STA.connect", "uplink") in network.CALLS
    # The firmware's own client keeps the STA side (port 68) when dora's is not asked for.
    assert network.WLAN(network.STA_IF).dhcp_client


@pytest.mark.parametrize("kind", ["esp32", "rp2"])
def test_dora_client_finds_port_68_free(fakes, tmp_path, monkeypatch, kind):
    """With "dora_client": true the firmware's DHCP client on the STA must
    be stopped before dora's binds port 68 (lwIP refuses the second bind)."""
    network, machine, hook, dora_board = fakes
    machine.use(kind)
    from dora import client_runner

    seen = []

    class Recorder:
        def __init__(self, cfg, mac, apply, log):
            seen.append(network.held_ports())

        async def run(self):
            return None

    monkeypatch.setattr(client_runner, "ClientRunner", Recorder)
    b = board_config(kind, tmp_path, free_port(), interface=None, allow=["02:00:00"])
    b["upstream"] = {"ssid": "uplink", "password": "pw", "dora_client": True}
    dora_board.run(network, machine, hook, kind, board=b, log=lambda line: None, rounds=1)
    assert seen and 68 not in seen[0], seen


def test_pico_w_upstream_allowed_when_restricted(fakes):
    _, _, _, dora_board = fakes
    b = dora_board.check({"upstream": {"ssid": "u"}, "dora": {"allow": ["02:00:00"]}}, "rp2")
    assert b["upstream"]["ssid"] == "u"
    dora_board.check({"upstream": {"ssid": "u"}}, "esp32")  # bound to the AP: fine


def test_bad_board_config_names_the_field(fakes):
    _, _, _, dora_board = fakes
    cases = [
        ({"ap": {"ssid": ""}}, "esp32", "ap.ssid:"),
        ({"ap": {"password": "short"}}, "esp32", "ap.password:"),
        ({"ap": {"channel": 14}}, "rp2", "ap.channel:"),
        ({"ap": {"address": "192.168.4"}}, "esp32", "ap.address:"),
        ({"ap": {"sid": "x"}}, "esp32", "ap.sid:"),
        ({"wifi": {}}, "esp32", "wifi:"),
        ({"watchdog_ms": 10}, "esp32", "watchdog_ms:"),
        ({"lan": {"type": "ENC28J60", "address": "10.0.0.1"}}, "ethernet", "lan.type:"),
        ({"lan": {"type": "LAN8720", "address": "10.0.0.1", "phy_addr": 32}}, "ethernet", "lan.phy_addr:"),
        ({"lan": {"type": "LAN8720", "address": "10.0.0.1", "mdc": "23"}}, "ethernet", "lan.mdc:"),
        ({"lan": {"type": "W5500", "address": "10.0.0.1", "mdc": 23}}, "ethernet", "lan.mdc:"),
        ({"lan": {"type": "W5500", "address": "10.0.0.1", "cs": -1}}, "ethernet", "lan.cs:"),
        ({"dora": {"pool_end": "192.168.5.9"}}, "esp32", "pool_end:"),
        ({"dora": {"lease_time": "1h"}}, "rp2", "lease_time:"),
        # A Pico W cannot keep dora off the upstream network: only restricted.
        ({"upstream": {"ssid": "uplink"}}, "rp2", "upstream: on a Pico W"),
        # What the Pico W's driver has no setting for is refused, not dropped.
        ({"ap": {"hidden": True}}, "rp2", "ap.hidden:"),
        ({"ap": {"max_clients": 4}}, "rp2", "ap.max_clients:"),
        # The RP2040's watchdog counts to 8388 ms at most.
        ({"watchdog_ms": 9000}, "rp2", "watchdog_ms:"),
        ({"lan": {"type": "W5500", "address": "10.0.0.1"}, "watchdog_ms": 9000}, "ethernet", "watchdog_ms:"),
        # rp2 has no SO_BINDTODEVICE (a warning, no error, on the board).
        ({"dora": {"interface": "wl1"}}, "rp2", "interface:"),
        ({"lan": {"type": "W5500", "address": "10.0.0.1"}, "dora": {"interface": "e0"}}, "ethernet", "interface:"),
        # The ESP32 copies an interface name into 6 bytes unchecked.
        ({"dora": {"interface": "veth-long"}}, "esp32", "interface:"),
        ({"lan": {"type": "LAN8720", "address": "10.0.0.1"}, "dora": {"interface": "eth-long"}}, "ethernet", "interface:"),
    ]
    for board, kind, field in cases:
        with pytest.raises(ValueError) as e:
            dora_board.check(board, kind)
        assert str(e.value).startswith(field), (board, str(e.value))
    # ...while the ESP32 takes them.
    dora_board.check({"ap": {"hidden": True, "max_clients": 4}, "watchdog_ms": 9000}, "esp32")
    dora_board.check({"lan": {"type": "LAN8720", "address": "10.0.0.1"}, "watchdog_ms": 9000}, "ethernet")


@pytest.mark.parametrize("port,led", [("esp32", "LED"), ("esp32", 34), ("rp2", "GP40"), ("rp2", 2.5)])
def test_an_led_the_board_lacks_is_a_config_error(fakes, tmp_path, port, led):
    network, machine, hook, dora_board = fakes
    machine.use(port)
    b = board_config(port, tmp_path, free_port(), interface=None)
    b["led"] = led
    with pytest.raises(dora_board.BoardError) as e:
        dora_board.run(network, machine, hook, port, board=b, log=lambda line: None, rounds=1)
    assert str(e.value).startswith("led: this board has no output pin")
    assert "dora.bind" not in names(network.CALLS)
    assert "WDT" not in names(network.CALLS)  # no watchdog left running to reset the board


@pytest.mark.parametrize("board,kind", [("esp32", "esp32"), ("rp2040", "rp2"), ("ethernet", "ethernet")])
def test_shipped_board_configs_pass_their_check(fakes, board, kind):
    _, _, _, dora_board = fakes
    dora_board.check(dora_board.load(os.path.join(ROOT, "boards", board, "board.json")), kind)


# -- the fakes refuse what each driver refuses -----------------------------------------
#
# One row per rejection: (port, code, exception, message).  Each row runs in
# a fresh fake firmware of that port, on CPython and on the MicroPython unix
# port.  The driver function each comes from is named in boards/fake/*.py.

AP = "ap = network.WLAN(network.AP_IF)\n"
STA = "sta = network.WLAN(network.STA_IF)\n"
SPI0 = "spi = machine.SPI(0)\n"
LAN_PINS = "mdc=machine.Pin(23), mdio=machine.Pin(18), "
SET_10 = "ap.ifconfig(('10.1.1.1', '255.255.255.0', '10.1.1.1', '0.0.0.0'))\n"
ESP_LAN = "lan = network.LAN(mdc=machine.Pin(23), mdio=machine.Pin(18), phy_type=network.PHY_LAN8720, phy_addr=1)\n"

def refused(port, setup, exc, msg, *calls):
    """Rows of REJECTIONS: each call, after `setup`, raises `exc` whose
    message starts with `msg` on `port`'s firmware."""
    return [(port, setup + call, exc, msg) for call in calls]


REJECTIONS = [
    # rp2, network_cyw43_config: keys it does not know, one way only, wrong types
    *refused("rp2", AP, "ValueError", "unknown config param",
             "ap.config(hidden=False)",
             "ap.config(max_clients=4)",
             "ap.config('ifname')",
             "ap.config('key')",
             "ap.config(mac=b'123456')",
             "ap.config(protocol=7)"),
    *refused("rp2", AP, "TypeError", "", "ap.config(channel='6')", "ap.config(ssid=5)", "ap.config(security=None)"),
    *refused("rp2", AP, "TypeError", "must query one param", "ap.config('ssid', 'channel')", "ap.config()"),
    *refused("rp2", AP, "TypeError", "can't specify pos and kw args", "ap.config('ssid', channel=6)"),
    *refused("rp2", AP, "ValueError", "", "ap.config(hostname='h' * 33)"),
    *refused("rp2", "", "TypeError", "", "network.WLAN(network.AP_IF, 1)", "network.WLAN('ap')"),
    # rp2, mod_network_nic_ifconfig / _ipconfig (lwIP), netutils_parse_ipv4_addr
    *refused("rp2", AP, "TypeError", "", "ap.ifconfig(('192.168.4.1', 24, '192.168.4.1', '0.0.0.0'))"),
    *refused("rp2", AP, "ValueError", "invalid arguments", "ap.ifconfig(('192.168.4', '255.255.255.0', '0.0.0.0', '0.0.0.0'))"),
    *refused("rp2", AP, "ValueError", "requested length 4", "ap.ifconfig(('192.168.4.1', '255.255.255.0'))"),
    *refused("rp2", AP, "TypeError", "", "ap.ifconfig('static')"),
    *refused("rp2", AP, "OSError", "timeout waiting for DHCP", "ap.active(True)\nap.ifconfig('dhcp')"),
    *refused("rp2", AP, "ValueError", "unexpected key", "ap.ipconfig(dns='1.1.1.1')", "ap.ipconfig('dns')"),
    *refused("rp2", AP, "ValueError", "invalid address type", "ap.ipconfig(gw4='fe80::1')"),
    *refused("rp2", AP, "ValueError", "invalid arguments", "ap.ipconfig(addr4='192.168.4.300/24')"),
    *refused("rp2", AP, "ValueError", "unexpected key", "ap.ipconfig(addr4='1.2.3.4', dhcp4=False, x=1)"),
    # rp2, network_cyw43_status / _connect
    *refused("rp2", AP, "ValueError", "STA required", "ap.status('rssi')"),
    *refused("rp2", STA, "ValueError", "AP required", "sta.status('stations')"),
    *refused("rp2", STA, "ValueError", "unknown status param", "sta.status('channel')"),
    *refused("rp2", STA, "ValueError", "", "sta.connect('up', 'pw', bssid=b'12')"),
    # rp2, network_wiznet5k.c (lwIP build)
    *refused("rp2", SPI0, "TypeError", "",
             "network.WIZNET5K(spi, machine.Pin(17), rst=machine.Pin(20))",
             "network.WIZNET5K(spi, machine.Pin(17))"),
    *refused("rp2", "", "TypeError", "expecting an SPI object", "network.WIZNET5K(0, 17, 20)"),
    *refused("rp2", SPI0, "ValueError", "invalid pin", "network.WIZNET5K(spi, 30, 20)"),
    *refused("rp2", "", "ValueError", "unknown config param", "w = network.WIZNET5K()\nw.config('ifname')"),
    *refused("rp2", "", "ValueError", "", "w = network.WIZNET5K()\nw.config(mac=b'12345')"),
    *refused("rp2", "", "ValueError", "unknown status param", "w = network.WIZNET5K()\nw.status('stations')"),
    *refused("rp2", "", "AttributeError", "", "network.LAN"),
    # rp2 machine: machine_wdt.c, machine_pin.c, machine_spi.c
    *refused("rp2", "", "ValueError", "timeout exceeds 8388", "machine.WDT(timeout=8389)", "machine.WDT(timeout=-1)"),
    *refused("rp2", "", "ValueError", "WDT(1) doesn't exist", "machine.WDT(id=1, timeout=1000)"),
    *refused("rp2", "", "TypeError", "", "machine.WDT(timeout=1000.0)", "machine.WDT(timeout_ms=1000)"),
    *refused("rp2", "", "ValueError", "pulls are not supported for external pins", "machine.Pin('LED', machine.Pin.OUT, 1)"),
    *refused("rp2", "", "ValueError", 'unknown named pin "GP40"', "machine.Pin('GP40')"),
    *refused("rp2", "", "ValueError", "invalid pin", "machine.Pin(30)"),
    *refused("rp2", "", "ValueError", "SPI(2) doesn't exist", "machine.SPI(2)"),
    # esp32, network_wlan_make_new / network_wlan_config / require_if
    *refused("esp32", "", "ValueError", "invalid WLAN interface identifier", "network.WLAN(2)"),
    *refused("esp32", AP, "ValueError", "unknown config param",
             "ap.config(country='DE')",
             "ap.config('key')",
             "ap.config(ifname='ap9')"),
    *refused("esp32", STA, "OSError", "AP required",
             "sta.config(ssid='x')",
             "sta.config(hidden=True)",
             "sta.config(max_clients=4)"),
    *refused("esp32", AP, "OSError", "STA required", "ap.config(reconnects=3)", "ap.config('hostname')"),
    *refused("esp32", STA, "OSError", "AP required", "sta.config('hidden')"),
    *refused("esp32", AP, "ValueError", "invalid buffer length", "ap.config(mac=b'123')"),
    *refused("esp32", AP, "TypeError", "",
             "ap.config(channel='6')",
             "ap.config(max_clients=None)",
             "ap.config(key=12345678)",
             "ap.config(txpower='20')"),
    *refused("esp32", AP, "TypeError", "either pos or kw args are allowed", "ap.config('ssid', ssid='x')"),
    *refused("esp32", AP, "TypeError", "can query only one param", "ap.config()"),
    # esp32, network_common.c esp_ifconfig / esp_ipconfig
    *refused("esp32", AP, "ValueError", "invalid arguments", "ap.ifconfig('dhcp')"),
    *refused("esp32", STA, "ValueError", "invalid arguments", "sta.ifconfig('static')"),
    *refused("esp32", AP, "ValueError", "requested length 4", "ap.ifconfig(('1.2.3.4', '255.255.255.0', '1.2.3.4'))"),
    *refused("esp32", AP, "ValueError", "invalid arguments", "ap.ifconfig(('1.2.3', '255.255.255.0', '1.2.3.4', '1.2.3.4'))"),
    *refused("esp32", AP, "ValueError", "unexpected key",
             "ap.ipconfig(dhcp4=False)",
             "ap.ipconfig('dhcp4')",
             "ap.ipconfig('dns')"),
    *refused("esp32", AP, "OSError", "STA required", "ap.status('rssi')"),
    *refused("esp32", STA, "OSError", "AP required", "sta.status('stations')"),
    *refused("esp32", STA, "ValueError", "unknown status param", "sta.status('channel')"),
    *refused("esp32", STA, "TypeError", "", "sta.connect(ssid='up')"),
    # esp32, network_lan.c get_lan / lan_config
    *refused("esp32", "", "TypeError", "", "network.LAN(" + LAN_PINS + "phy_type=1)"),
    *refused("esp32", "", "ValueError", "invalid phy address", "network.LAN(" + LAN_PINS + "phy_type=1, phy_addr=32)"),
    *refused("esp32", "", "ValueError", "invalid phy type", "network.LAN(" + LAN_PINS + "phy_type=99, phy_addr=1)"),
    *refused("esp32", "", "ValueError", "mdc and mdio must be specified", "network.LAN(phy_type=1, phy_addr=1)"),
    *refused("esp32", "", "ValueError", "invalid LAN interface identifier",
             "network.LAN(1, mdc=23, mdio=18, phy_type=1, phy_addr=1)"),
    *refused("esp32", "", "ValueError", "invalid pin", "network.LAN(mdc=24, mdio=18, phy_type=1, phy_addr=1)"),
    *refused("esp32", ESP_LAN, "ValueError", "unknown config param", "lan.config('ssid')"),
    *refused("esp32", ESP_LAN, "ValueError", "invalid buffer length", "lan.config(mac=b'12')"),
    *refused("esp32", "", "AttributeError", "", "network.WIZNET5K"),
    # esp32 machine: machine_wdt.c, machine_pin.c, machine_hw_spi.c
    *refused("esp32", "", "ValueError", "WDT timeout too short", "machine.WDT(timeout=0)"),
    *refused("esp32", "", "ValueError", "", "machine.WDT(id=1, timeout=1000)"),
    *refused("esp32", "", "ValueError", "pin can only be input", "machine.Pin(34, machine.Pin.OUT)"),
    *refused("esp32", "", "ValueError", "invalid pin", "machine.Pin(24)", "machine.Pin('LED', machine.Pin.OUT)"),
    *refused("esp32", "", "ValueError", "SPI(0) doesn't exist", "machine.SPI(0)"),
]

# What each driver does WITHOUT raising, that dora must not trip over.
BEHAVIOURS = [
    # cyw43: a config key that needs the radio cycled, set on an active AP,
    # puts the default address back and restarts the driver's DHCP server.
    ("rp2", AP + "ap.config(ssid='a')\nap.active(True)\n" + SET_10 + "network.stop_builtin_dhcp()\n"
     "ap.config(ssid='b')\nresult = (ap.ifconfig()[0], network.held_ports())", ("192.168.4.1", [67])),
    # cyw43: the AP's DHCP server starts with the interface, an address change keeps it stopped.
    ("rp2", AP + "ap.active(True)\nnetwork.stop_builtin_dhcp()\n" + SET_10 + "result = network.held_ports()", []),
    # lwIP ipconfig: addr4 takes effect only as the call's first keyword.
    # (MicroPython does not keep a **kw dict in call order: CPython only.)
    ("rp2", AP + "ap.active(True)\nap.ipconfig(gw4='10.0.0.1', addr4=('10.0.0.2', '255.0.0.0'))\n"
     "result = ap.ipconfig('addr4')", ("192.168.4.1", "255.255.255.0"), "keyword order"),
    # ESP32: every AP address change restarts ESP-IDF's DHCP server.
    ("esp32", AP + "ap.active(True)\nnetwork.stop_builtin_dhcp()\n" + SET_10 + "result = network.held_ports()", [67]),
    # ESP32: the AP's lwIP name exists once the AP has started.
    ("esp32", AP + "a = ap.config('ifname')\nap.active(True)\nresult = (a, ap.config('ifname'))", (None, "ap1")),
    # ESP32: ipconfig(dhcp4=False) before the STA connected leaves the client to start later; ifconfig stops it.
    ("esp32", STA + "sta.active(True)\nsta.ipconfig(dhcp4=False)\nsta.connect('up', 'pw')\na = network.held_ports()\n"
     "sta.ifconfig(('0.0.0.0',) * 4)\nresult = (a, network.held_ports())", ([68], [])),
    # ESP32 LAN: unknown keys are ignored when set.
    ("esp32", ESP_LAN + "lan.config(ssid='x')\nresult = lan.config('mac') is not None", True),
]

RUN_CASES = """
def plain(v):
    # tuples as lists, so that expectations that went through JSON compare
    if isinstance(v, (tuple, list)):
        return [plain(x) for x in v]
    return v


def run_cases(rejections, behaviours):
    out = []
    for port, code, exc, msg in rejections:
        machine.use(port)
        ns = {"network": network, "machine": machine}
        try:
            exec(code, ns)
            out.append("no exception")
        except Exception as e:
            got = type(e).__name__
            text = str(e.args[0]) if e.args else ""
            out.append("ok" if got == exc and text.startswith(msg) else "%s: %s" % (got, text))
    for row in behaviours:
        port, code, want = row[:3]
        machine.use(port)
        ns = {"network": network, "machine": machine}
        exec(code, ns)
        out.append("ok" if plain(ns["result"]) == plain(want) else "got %r" % (ns["result"],))
    return out
"""


def _outcomes(results, behaviours=BEHAVIOURS):
    cases = REJECTIONS + behaviours
    return [(c[0], c[1].splitlines()[-1], r) for c, r in zip(cases, results) if r != "ok"]


def test_fakes_refuse_what_each_driver_refuses(fakes):
    network, machine, _, _ = fakes
    ns = {"network": network, "machine": machine}
    exec(RUN_CASES, ns)
    results = ns["run_cases"](REJECTIONS, BEHAVIOURS)
    assert len(results) == len(REJECTIONS) + len(BEHAVIOURS)
    assert _outcomes(results) == []


def test_fakes_refuse_the_same_on_micropython(micropython, tmp_path):
    behaviours = [b for b in BEHAVIOURS if len(b) == 3]
    script = tmp_path / "cases.py"
    script.write_text(
        "import json, network, machine\n" + RUN_CASES
        + "print('RESULTS ' + json.dumps(run_cases(json.loads(%r), json.loads(%r))))\n"
        % (json.dumps(REJECTIONS), json.dumps(behaviours))
    )
    env = dict(os.environ, MICROPYPATH=FAKE)
    out = subprocess.run([micropython, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    results = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("RESULTS ")][0][8:])
    assert len(results) == len(REJECTIONS) + len(behaviours)
    assert _outcomes(results, behaviours) == []


# The same rp2 rows on the real firmware, in the RP2040 emulator: the Pico W
# image for the cyw43 and machine rows, the W5500-EVB-Pico image (when
# named) for the WIZNET5K ones.  `make test-emulated` names the images.
EMULATED_IMAGES = {"picow": os.environ.get("DORA_PICOW_IMAGE", ""), "w5500": os.environ.get("DORA_W5500_IMAGE", "")}
BOOTROM = os.environ.get("RP2040_BOOTROM", "")


def _emulator_missing(image):
    if not (image and BOOTROM):
        return "runs with DORA_PICOW_IMAGE / DORA_W5500_IMAGE and RP2040_BOOTROM set (make test-emulated)"
    for path in (image, BOOTROM, os.path.join(ROOT, "tools", "board_repl.py")):
        if not os.path.exists(path):
            return "missing %s" % path
    return None


def board_rows(image):
    """The rp2 REJECTIONS rows an image can run: no radio wait (the DHCP
    row waits 10 s for a lease), WIZNET5K only on the W5500 image."""
    rows = [r for r in REJECTIONS if r[0] == "rp2" and "'dhcp'" not in r[1]]
    if image == "w5500":
        return [r for r in rows if "WIZNET5K" in r[1]]
    return [r for r in rows if "WIZNET5K" not in r[1]]


@pytest.mark.parametrize("image", ["picow", "w5500"])
def test_rp2_rows_match_the_real_firmware(image):
    missing = _emulator_missing(EMULATED_IMAGES[image])
    if missing:
        pytest.skip(missing)
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from board_repl import EmulatedBoard

    differences = []
    with EmulatedBoard(EMULATED_IMAGES[image], BOOTROM) as board:
        for _, code, exc, msg in board_rows(image):
            body = "\n".join("    " + ln for ln in code.splitlines())
            out = board.exec(
                "import network, machine\ntry:\n%s\n    print('RESULT none')\nexcept Exception as e:\n"
                "    print('RESULT', type(e).__name__, e.args[0] if e.args else '')\n" % body
            )
            got = [ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1][7:].split(" ", 1)
            if got[0] != exc or not (got[1] if len(got) > 1 else "").startswith(msg):
                differences.append((code.splitlines()[-1], exc, msg, got))
        if image == "picow":
            # lwIP ipconfig's first-keyword rule (a CPython-only row for the fakes)
            out = board.exec(
                "import network\nap = network.WLAN(network.AP_IF)\n"
                "ap.ifconfig(('10.1.1.1', '255.255.255.0', '10.1.1.1', '0.0.0.0'))\n"
                "ap.ipconfig(gw4='10.0.0.1', addr4=('10.0.0.2', '255.0.0.0'))\nprint('RESULT', ap.ipconfig('addr4'))\n"
            )
            if "RESULT ('10.1.1.1', '255.255.255.0')" not in out:
                differences.append(("ipconfig first keyword", out))
    assert differences == []


@pytest.mark.parametrize("kind,lan_type", [("rp2", None), ("esp32", None), ("ethernet", "W5500"), ("ethernet", "LAN8720")])
def test_bring_up_on_the_micropython_unix_port(micropython, tmp_path, kind, lan_type):
    port = free_port()
    board = board_config(kind, tmp_path, port, lan_type=lan_type or "W5500", interface=None)
    fake_port = "rp2" if kind == "rp2" or lan_type == "W5500" else "esp32"
    script = tmp_path / "bringup.py"
    script.write_text(
        "import json, network, machine, dora_hook, dora_board\n"
        "from dora import compat\n"
        "machine.use(%r)\n"
        "real = compat.udp_socket\n"
        "def rec(port, ifname=None, ip='0.0.0.0'):\n"
        "    network.CALLS.append(('dora.bind', network.held_ports()))\n"
        "    return real(port, ifname, ip)\n"
        "compat.udp_socket = rec\n"
        "hook = None if %r == 'ethernet' else dora_hook\n"
        "dora_board.run(network, machine, hook, %r, board=json.loads(%r), log=lambda l: None, rounds=1)\n"
        "print('CALLS ' + json.dumps(network.CALLS))\n" % (fake_port, kind, kind, json.dumps(board))
    )
    env = dict(os.environ, MICROPYPATH="%s:%s:%s:.frozen" % (FAKE, COMMON, os.path.join(ROOT, "firmware")))
    out = subprocess.run([micropython, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    calls = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("CALLS ")][0][6:])
    seq = [c[0] for c in calls]
    nic = {"rp2": "AP", "esp32": "AP", "ethernet": "WIZNET5K" if lan_type == "W5500" else "LAN"}[kind]
    steps = [nic + ".active", nic + ".ifconfig"] + ([] if kind == "ethernet" else ["dora_hook.stop_builtin_dhcp"]) + ["dora.bind"]
    order = [seq.index(x) for x in steps]
    assert order == sorted(order), seq
    assert dict((c[0], c[1]) for c in calls)["dora.bind"] == [], "the firmware's DHCP code still held a port"


# -- tooling ------------------------------------------------------------------------------


def board_tool(*args, env=None):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "board.py")] + list(args),
                          capture_output=True, text=True, timeout=120, env=env)


def test_firmware_dry_run_prints_the_build_and_what_is_missing():
    env = dict(os.environ, PATH="/usr/bin:/bin")  # no ESP-IDF, no ARM GCC here
    out = board_tool("firmware", "--board", "rp2040", "--micropy-dir", "/opt/micropython", "--dry-run", env=env)
    assert out.returncode == 0, out.stderr
    assert "make -C /opt/micropython/ports/rp2 BOARD=RPI_PICO_W USER_C_MODULES=" in out.stdout
    assert "FROZEN_MANIFEST=%s/boards/rp2040/manifest.py" % ROOT in out.stdout
    assert "image: /opt/micropython/ports/rp2/build-RPI_PICO_W/firmware.uf2" in out.stdout
    assert "missing: MICROPY_DIR=/opt/micropython has no ports/rp2/Makefile" in out.stdout
    # Without --dry-run it refuses, naming each missing piece.
    out = board_tool("firmware", "--board", "esp32", "--micropy-dir", "", env=env)
    assert out.returncode != 0
    assert "MICROPY_DIR is not set" in out.stderr and "idf.py is not on PATH" in out.stderr


def test_deploy_dry_run_and_missing_board(tmp_path):
    out = board_tool("deploy", "--board", "esp32", "--port", "/dev/ttyUSB7", "--dry-run")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(ln.endswith("connect /dev/ttyUSB7 cp %s/boards/esp32/main.py :main.py" % ROOT) for ln in lines)
    assert any(":board.json" in ln for ln in lines) and lines[-1].endswith("reset")
    assert not any(".mpy" in ln for ln in lines)  # dora is frozen in the Wi-Fi image
    eth = board_tool("deploy", "--board", "ethernet", "--port", "/dev/ttyUSB7", "--dry-run")
    assert eth.returncode != 0 and "ARCH: " in eth.stderr  # .mpy machine code needs the board's CPU
    eth = board_tool("deploy", "--board", "ethernet", "--port", "/dev/ttyUSB7", "--arch", "armv6m", "--dry-run")
    assert eth.returncode == 0, eth.stderr
    assert ":lib/dora/runner.mpy" in eth.stdout and ":lib/dora_board.mpy" in eth.stdout
    assert "-march=armv6m" in eth.stdout and "/armv6m/dora/leases.mpy" in eth.stdout
    # The server alone unless the config runs dora's client upstream.
    assert "role: server" in eth.stdout and "client_runner.mpy" not in eth.stdout
    up = tmp_path / "upstream.json"
    with open(os.path.join(ROOT, "boards", "ethernet", "board.json")) as f:
        cfg = json.load(f)
    up.write_text(json.dumps(dict(cfg, upstream={"ssid": "up", "password": "secret123", "dora_client": True})))
    both = board_tool("deploy", "--board", "ethernet", "--config", str(up), "--port", "/dev/ttyUSB7", "--arch",
                      "armv6m", "--dry-run")
    assert both.returncode == 0, both.stderr
    assert "role: both" in both.stdout and ":lib/dora/client_runner.mpy" in both.stdout
    forced = board_tool("deploy", "--board", "ethernet", "--role", "both", "--port", "/dev/ttyUSB7", "--arch",
                        "armv6m", "--dry-run")
    assert "role: both" in forced.stdout and ":lib/dora/client_runner.mpy" in forced.stdout
    alone = board_tool("deploy", "--board", "ethernet", "--role", "client", "--port", "/dev/ttyUSB7", "--arch",
                       "armv6m", "--dry-run")
    assert alone.returncode != 0 and "ROLE=client" in alone.stderr
    out = board_tool("deploy", "--board", "esp32", "--port", str(tmp_path / "ttyNONE"))
    assert out.returncode != 0 and "no board at" in out.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"ap": {"channel": 99}}))
    out = board_tool("deploy", "--board", "esp32", "--config", str(bad), "--dry-run")
    assert out.returncode != 0 and "ap.channel:" in out.stderr


def test_mpy_build_reports_sizes_and_loads(tmp_path):
    out = board_tool("mpy", "--out", str(tmp_path / "build"))
    assert out.returncode == 0, out.stderr
    assert "mpy: loads on the unix port" in out.stdout
    total = [ln for ln in out.stdout.splitlines() if ln.startswith("total")][0]
    assert int(total.split()[1]) > 10000
    assert (tmp_path / "build" / "dora_board.mpy").exists()


def test_a_server_only_deploy_loads_without_the_client(tmp_path):
    # What `make deploy BOARD=ethernet` copies by default: the server role and
    # the board's bring-up; imported on the unix port from those files alone.
    import board

    out = tmp_path / "server"
    names = [n for n, _ in board.build_mpy(str(out), "host", role="server", glue=True)]
    assert "dora_board.mpy" in names and "dora/runner.mpy" in names
    assert not [n for n in names if n.startswith("dora/client")]
    env = dict(os.environ, MICROPYPATH="%s:.frozen" % out)
    code = "import dora_board, dora.runner; b = dora_board.check({'lan': {'type': 'W5500', 'address': '10.1.0.1'}}, 'ethernet'); print(b['lan']['type'])"
    r = subprocess.run([board.tool("micropython"), "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "W5500", r.stdout + r.stderr


def test_mpy_builds_for_the_boards_cpus(tmp_path):
    """The viper scans in dora.leases compile to each board's machine code
    (what the ports' frozen builds do with MICROPY_CROSS_FLAGS too)."""
    for arch in ("xtensawin", "armv6m"):
        out = board_tool("mpy", "--out", str(tmp_path / arch), "--arch", arch)
        assert out.returncode == 0, out.stderr
        assert "(%s)" % arch in out.stdout
        # The .mpy header: byte 2 holds the native architecture in its top bits.
        with open(tmp_path / arch / "dora" / "leases.mpy", "rb") as f:
            head = f.read(4)
        assert head[0] == ord("M") and head[2] >> 2 != 0, head
    out = board_tool("mpy", "--out", str(tmp_path / "x"), "--arch", "sparc")
    assert out.returncode != 0 and "arch sparc" in out.stderr


def test_package_json_is_in_step_with_manifest_and_version():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import package_json

    with open(os.path.join(ROOT, "package.json")) as f:
        assert f.read() == package_json.text(), "package.json is stale: run `make package.json`"
    pkg = package_json.package_json()
    shipped = sorted(t for t, _ in pkg["urls"])
    expected = sorted(["dora/" + f for f in os.listdir(os.path.join(ROOT, "firmware", "dora")) if f.endswith(".py")]
                      + ["dora_board.py"])
    assert shipped == expected
    sys.path.insert(0, os.path.join(ROOT, "firmware"))
    import dora

    assert pkg["version"] == dora.__version__
    for board in ("esp32", "rp2040"):
        with open(os.path.join(ROOT, "boards", board, "manifest.py")) as f:
            assert 'include("../../manifest.py")' in f.read()

# Board bring-up shared by every board image: read the board config, bring
# the LAN side up, stop the firmware's own DHCP server, run dora's server
# (and, when configured, dora's client upstream), feed a watchdog, and come
# back from failures.
#
# The order is the point (docs/drivers.md says why, driver by driver):
#   1. AP configured while still down, then made active, then its address
#      set (or the Ethernet interface up, with its address);
#   2. the built-in DHCP server stopped (dora_hook, a small C module: no
#      Python API can do it), again after every address change;
#   3. dora's socket bound to port 67.
# Binding before step 2 fails with EADDRINUSE; forgetting step 2 after an
# ifconfig() on the ESP32 brings the built-in server back; on the Pico W a
# radio setting changed on an active AP restarts the interface, which puts
# the default address and the built-in server back.
#
# Replies must leave by the AP:
#   - ESP32: dora binds its socket to the AP's lwIP interface
#     (SO_BINDTODEVICE with WLAN.config("ifname"), MicroPython >= 1.21), which
#     also keeps it from answering requests heard on the STA side;
#   - Pico W: no SO_BINDTODEVICE; replies to clients without an address go to
#     the AP's directed broadcast (e.g. 192.168.4.255), which lwIP routes by
#     subnet, not by the default interface.
#
# Only settings the port's driver has are passed to it: the Pico W's cyw43
# driver refuses `hidden` and `max_clients` ("unknown config param"), so a
# board config asking for them there fails at start-up instead.
#
# Everything board-specific comes in as arguments (the `network` and
# `machine` modules and the hook), so the host tests run this file against
# strict fakes of those modules (boards/fake), one per port.

import json

from dora import compat
from dora.compat import asyncio
from dora import config as C
from dora.fields import int_ip, ip_int, ip_text, parse_ip

BOARD_CONFIG = "/board.json"
MAX_FAILURES = 3  # serving crashes in a row before machine.reset()
ESP32_IFNAME_MAX = 5  # lwIP's NETIF_NAMESIZE (6) less the terminating NUL
RP2_WDT_MAX_MS = 8388  # the RP2040 watchdog's longest timeout (docs/drivers.md, `machine`)

_AP_DEFAULTS = {
    "ssid": "dora",
    "password": None,
    "channel": 6,
    "max_clients": 10,
    "address": "192.168.4.1",
    "netmask": "255.255.255.0",
    "hidden": False,
}


class BoardError(ValueError):
    pass


def _fail(field, what):
    raise BoardError("%s: %s" % (field, what))


def load(path=BOARD_CONFIG):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        _fail("board config", "cannot read %s (%s)" % (path, e))
    except ValueError as e:
        _fail("board config", "%s is not valid JSON (%s)" % (path, e))


def port_of(kind, board):
    """The MicroPython port a board runs: "rp2" for the Pico W and for a
    W5500 (the WIZnet RP2040 image), "esp32" otherwise."""
    if kind == "ethernet":
        lan = board.get("lan") if isinstance(board, dict) else None
        return "rp2" if isinstance(lan, dict) and lan.get("type") == "W5500" else "esp32"
    return "rp2" if kind == "rp2" else "esp32"


def check(board, kind):
    """The board config with defaults filled in; BoardError names the field.
    kind: "esp32", "rp2" (Wi-Fi AP) or "ethernet"."""
    if not isinstance(board, dict):
        _fail("board config", "expected a JSON object")
    known = ("ap", "lan", "upstream", "dora", "watchdog_ms", "led", "log")
    for k in board:
        if k not in known:
            _fail(k, "unknown field (known: %s)" % ", ".join(known))
    out = dict(board)
    if kind == "ethernet":
        lan = board.get("lan")
        if not isinstance(lan, dict):
            _fail("lan", "an Ethernet board needs {\"type\": \"LAN8720\"|\"W5500\", ...}")
        if lan.get("type") not in ("LAN8720", "W5500"):
            _fail("lan.type", "expected LAN8720 or W5500")
        for f in ("address", "netmask"):
            parse_ip(lan.get(f, "255.255.255.0" if f == "netmask" else None), "lan." + f)
        # Pin and bus numbers go to the driver as they are; a wrong one would
        # stop the board there with a traceback instead of the field's name.
        pins = ("mdc", "mdio", "phy_addr") if lan["type"] == "LAN8720" else ("spi", "cs", "rst")
        for f in lan:
            if f not in ("type", "address", "netmask") + pins:
                _fail("lan." + f, "unknown field for %s (known: %s)" % (lan["type"], ", ".join(pins)))
            if f in pins and (not isinstance(lan[f], int) or isinstance(lan[f], bool) or lan[f] < 0):
                _fail("lan." + f, "expected a pin or bus number")
        if not 0 <= lan.get("phy_addr", 1) <= 31:
            _fail("lan.phy_addr", "expected 0 to 31")
    else:
        given = board.get("ap") or {}
        ap = dict(_AP_DEFAULTS)
        ap.update(given)
        for k in ap:
            if k not in _AP_DEFAULTS:
                _fail("ap." + k, "unknown field")
        if kind == "rp2":
            # The cyw43 driver has no setting for either (network_cyw43_config).
            if ap["hidden"]:
                _fail("ap.hidden", "the Pico W's Wi-Fi driver cannot hide the SSID; remove it or set false")
            if "max_clients" in given:
                _fail("ap.max_clients", "the Pico W's Wi-Fi driver has no such setting; remove it")
        if not isinstance(ap["ssid"], str) or not 0 < len(ap["ssid"]) <= 32:
            _fail("ap.ssid", "expected 1 to 32 characters")
        pw = ap["password"]
        if pw is not None and (not isinstance(pw, str) or not 8 <= len(pw) <= 63):
            _fail("ap.password", "WPA2 needs 8 to 63 characters (null: an open network)")
        if not isinstance(ap["channel"], int) or not 1 <= ap["channel"] <= 13:
            _fail("ap.channel", "expected 1 to 13")
        if not isinstance(ap["max_clients"], int) or not 1 <= ap["max_clients"] <= 10:
            _fail("ap.max_clients", "expected 1 to 10")
        parse_ip(ap["address"], "ap.address")
        parse_ip(ap["netmask"], "ap.netmask")
        out["ap"] = ap
    up = board.get("upstream")
    if up is not None:
        if not isinstance(up, dict) or (kind != "ethernet" and not isinstance(up.get("ssid"), str)):
            _fail("upstream", 'expected {"ssid": ..., "password": ..., "dora_client": false}')
        if kind == "rp2":
            # lwIP on the Pico W cannot tie dora's socket to the AP, so it
            # would also answer DISCOVERs heard upstream: a rogue DHCP
            # server on someone else's network.  Only a restricted server
            # may run beside an upstream link there.
            d = board.get("dora") or {}
            if not (d.get("allow") or d.get("ignore_unknown")):
                _fail("upstream", "on a Pico W dora would also answer DHCP clients on the upstream network;"
                      " set dora.allow or dora.ignore_unknown, or remove upstream")
    wd = board.get("watchdog_ms", 8000)
    wd_max = RP2_WDT_MAX_MS if port_of(kind, board) == "rp2" else 60000
    if not isinstance(wd, int) or isinstance(wd, bool) or not (wd == 0 or 1000 <= wd <= wd_max):
        _fail("watchdog_ms", "expected 0 (off) or 1000 to %d on this board" % wd_max)
    out["watchdog_ms"] = wd
    iface = (board.get("dora") or {}).get("interface")
    if port_of(kind, board) == "rp2" and iface:
        # rp2's lwIP sockets have no SO_BINDTODEVICE: setsockopt() only
        # prints a warning (docs/drivers.md, "Socket options"): dora would not be bound.
        _fail("interface", "the rp2 port cannot tie a socket to an interface; remove it")
    if port_of(kind, board) == "esp32" and isinstance(iface, str) and len(iface) > ESP32_IFNAME_MAX:
        # The ESP32's setsockopt(SO_BINDTODEVICE) copies the name into a
        # 6-byte buffer without checking its length (docs/drivers.md, "Socket options").
        _fail("interface", "an ESP32 interface name has at most %d characters" % ESP32_IFNAME_MAX)
    # The server's own config is checked now too, so a typo stops the board
    # at start-up with the field's name, before anything is brought up.
    C.parse(server_config(out, kind, None))
    return out


def server_config(board, kind, lan_if):
    """dora's server config: the board's "dora" object with the LAN side's
    address filled in, and the way replies leave chosen for the board."""
    side = board["lan"] if kind == "ethernet" else board["ap"]
    address = side["address"]
    netmask = side.get("netmask", "255.255.255.0")
    cfg = {
        "address": address,
        "netmask": netmask,
        "pool_start": _host(address, netmask, 16),
        "pool_end": _host(address, netmask, 250),
        "lease_file": "/leases.dat",
    }
    cfg.update(board.get("dora") or {})
    cfg["address"] = address
    cfg["netmask"] = netmask
    if kind == "rp2":
        cfg.setdefault("broadcast", _directed_broadcast(address, netmask))
    elif kind == "esp32" and lan_if is not None:
        ifname = lan_if.config("ifname")  # None until the AP's lwIP interface exists
        if not ifname:
            # Unbound, dora would also answer DHCP clients heard on the STA side.
            _fail("ap", "the firmware reports no interface name for the AP (WLAN.config('ifname'))")
        cfg.setdefault("interface", ifname)
    return cfg


def _host(address, netmask, n):
    a = ip_int(parse_ip(address, "address"))
    m = ip_int(parse_ip(netmask, "netmask"))
    return ip_text(int_ip((a & m) | (n & ~m & 0xFFFFFFFF)))


def _directed_broadcast(address, netmask):
    a = ip_int(parse_ip(address, "address"))
    m = ip_int(parse_ip(netmask, "netmask"))
    return ip_text(int_ip((a & m) | (~m & 0xFFFFFFFF)))


# -- bringing things up ------------------------------------------------------------


def start_ap(network, hook, board, kind, log):
    """Bring the access point up and stop the firmware's DHCP server on it."""
    a = board["ap"]
    ap = network.WLAN(network.AP_IF)
    kw = {"ssid": a["ssid"], "channel": a["channel"]}
    W = network.WLAN
    if a["password"]:
        kw["key"] = a["password"]
        # ESP32 names it SEC_WPA2; the Pico W's cyw43 driver offers WPA/WPA2
        # mixed (docs/drivers.md, `WLAN.config()` keys): never a bare number, which the two
        # drivers read differently.
        kw["security"] = W.SEC_WPA2 if hasattr(W, "SEC_WPA2") else W.SEC_WPA_WPA2
    else:
        kw["security"] = W.SEC_OPEN
    if kind == "esp32":
        kw["max_clients"] = a["max_clients"]  # the cyw43 driver has neither key
        kw["hidden"] = a["hidden"]
    # Configured while down: on the Pico W, these keys set on an active AP
    # restart it (default address, built-in DHCP server back).
    ap.config(**kw)
    ap.active(True)
    ap.ifconfig((a["address"], a["netmask"], a["address"], a["address"]))
    stop_builtin_dhcp(hook, log)  # after ifconfig: on the ESP32 it restarts it
    log("AP %s up at %s" % (a["ssid"], a["address"]))
    return ap


def start_lan(network, machine, board, log):
    """Ethernet (stock firmware: no built-in DHCP server there)."""
    lan_cfg = board["lan"]
    if lan_cfg["type"] == "LAN8720":
        lan = network.LAN(
            mdc=machine.Pin(lan_cfg.get("mdc", 23)),
            mdio=machine.Pin(lan_cfg.get("mdio", 18)),
            phy_type=network.PHY_LAN8720,
            phy_addr=lan_cfg.get("phy_addr", 1),
        )
    elif any(k in lan_cfg for k in ("spi", "cs", "rst")):
        spi = machine.SPI(lan_cfg.get("spi", 0))
        lan = network.WIZNET5K(spi, machine.Pin(lan_cfg.get("cs", 17)), machine.Pin(lan_cfg.get("rst", 20)))
    else:
        # The W5500-EVB-Pico image knows its own wiring: SPI at 20 MHz and
        # the chip's interrupt line (a bare machine.SPI(0) runs at 1 MHz, polled).
        lan = network.WIZNET5K()
    lan.active(True)
    # A static address also stops the DHCP client the firmware runs on the port.
    lan.ifconfig((lan_cfg["address"], lan_cfg.get("netmask", "255.255.255.0"), lan_cfg["address"], lan_cfg["address"]))
    log("LAN %s up at %s" % (lan_cfg["type"], lan_cfg["address"]))
    return lan


def _led(machine, pin):
    """The LED pin as an output; a pin the board does not have is a config
    error naming the field (pin names and numbers differ per port)."""
    if not pin:
        return None
    try:
        return machine.Pin(pin, machine.Pin.OUT)
    except (ValueError, TypeError) as e:
        _fail("led", "this board has no output pin %r (%s)" % (pin, e))


def stop_builtin_dhcp(hook, log):
    if hook is None:
        return
    try:
        stopped = hook.stop_builtin_dhcp()
    except OSError as e:
        log("could not stop the built-in DHCP server: %r" % (e,))
        raise
    if not stopped:
        log("no built-in DHCP server was running")


def start_upstream(network, board, log):
    """The STA side, when configured.  With "dora_client": true, dora's own
    client takes the address (INIT-REBOOT from flash, options exposed);
    otherwise the firmware's lwIP client does."""
    up = board.get("upstream")
    if not up or "ssid" not in up:
        return None
    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    if up.get("dora_client"):
        # The firmware's DHCP client holds UDP port 68 from here (cyw43) or
        # from the connection (ESP32); lwIP would refuse dora's client a
        # second bind.  A static address stops it on both ports (that the
        # ESP32 leaves it stopped on connecting is read, not run: docs/boards.md).
        sta.ifconfig(("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0"))
    sta.connect(up["ssid"], up.get("password") or "")
    log("upstream: joining %s" % up["ssid"])
    return sta


async def _client(sta, board, log):
    # Imported only when used: the client costs RAM the server does not need.
    from dora import client_runner as CR

    up = board["upstream"]

    def apply(lease):
        if lease is None:
            sta.ifconfig(("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0"))
        else:
            sta.ifconfig((lease.address, lease.netmask, lease.router or "0.0.0.0", (lease.dns or ["0.0.0.0"])[0]))

    cfg = dict(up.get("client") or {})
    cfg.setdefault("lease_file", "/client_lease.dat")
    mac = ":".join("%02x" % b for b in sta.config("mac"))
    r = CR.ClientRunner(cfg, mac=mac, apply=apply, log=log)
    await r.run()


async def _watchdog(wdt, led, period_ms):
    on = False
    while True:
        if wdt is not None:
            wdt.feed()
        if led is not None:
            on = not on
            led.value(on)
        await compat.sleep_ms(period_ms)


async def serve(cfg, board, wdt, led, sta, log):
    from dora import runner

    tasks = [asyncio.create_task(_watchdog(wdt, led, max(500, board["watchdog_ms"] // 4) if wdt else 1000))]
    if sta is not None and board["upstream"].get("dora_client"):
        tasks.append(asyncio.create_task(_client(sta, board, log)))
    try:
        await runner.serve(cfg)
    finally:
        for t in tasks:
            t.cancel()


def run(network, machine, hook, kind, board=None, log=print, rounds=None):
    """Bring the board up and serve, for ever (or `rounds` serving attempts,
    for the tests).  A crash of the serving loop is logged and the loop
    started again; after MAX_FAILURES in a row the board resets (the
    watchdog would reset it anyway if the event loop itself hung)."""
    board = check(board if board is not None else load(), kind)
    led = _led(machine, board.get("led"))  # before the watchdog: a config error must not reset-loop
    wdt = machine.WDT(timeout=board["watchdog_ms"]) if board["watchdog_ms"] else None
    if kind == "ethernet":
        lan_if = start_lan(network, machine, board, log)
    else:
        lan_if = start_ap(network, hook, board, kind, log)
    sta = start_upstream(network, board, log)
    cfg = server_config(board, kind, lan_if)
    failures = 0
    n = 0
    while rounds is None or n < rounds:
        n += 1
        try:
            asyncio.run(serve(cfg, board, wdt, led, sta, log))
            failures = 0
        except KeyboardInterrupt:
            raise
        except Exception as e:
            failures += 1
            log("dora stopped (%d in a row): %r" % (failures, e))
            if failures >= MAX_FAILURES:
                log("resetting the board")
                machine.reset()
                return
            if kind != "ethernet":
                stop_builtin_dhcp(hook, log)  # in case anything restarted it

# HOST-ONLY FAKE of MicroPython's `network` module, strict per port.  It
# never goes on a board.  It records every call that succeeds in CALLS (so
# the tests can check dora's bring-up order) and rejects what the port's
# real driver rejects, with the same exception type and message.
#
# Choose the port first: use("rp2") or use("esp32") (the tests do; the
# default is "esp32").  Followed, in MicroPython v1.28.0:
#   rp2 (Pico W, W5500-EVB-Pico):
#     extmod/network_cyw43.c   network_cyw43_make_new, _active, _config,
#                              _ifconfig, _ipconfig, _status, _connect,
#                              _isconnected; the config "cycle" of the AP
#     lib/cyw43-driver/src/cyw43_ctrl.c cyw43_wifi_set_up and
#     cyw43_lwip.c cyw43_cb_tcpip_init/_deinit (who runs DHCP on each side)
#     extmod/network_wiznet5k.c wiznet5k_make_new, _active, _config,
#                              _status, wiznet5k_lwip_init (lwIP stack build)
#     extmod/network_lwip.c    mod_network_nic_ifconfig, mod_network_nic_ipconfig
#     shared/netutils/netutils.c netutils_parse_ipv4_addr
#     extmod/modnetwork.c      mod_network_hostname
#   esp32:
#     ports/esp32/network_wlan.c  network_wlan_make_new, _active, _config,
#                                 _connect, _status, require_if
#     ports/esp32/network_common.c esp_ifconfig, esp_ipconfig, esp_ifname
#     ports/esp32/network_lan.c   get_lan, lan_active, lan_config
# What ESP-IDF itself refuses inside esp_wifi_set_config() and friends is
# closed code: not modelled here (docs/boards.md lists it as unverified).

CALLS = []  # ("AP.config", {...}), ("AP.active", True), ...

PORTS = ("rp2", "esp32")
PORT = "esp32"

STA_IF = 0
AP_IF = 1

# Firmware state the tests look at: which interfaces exist and what the
# firmware itself runs on them (a DHCP server on the AP, a client elsewhere).
_nics = {}

HOSTNAME_MAX = 32  # MICROPY_PY_NETWORK_HOSTNAME_MAX_LEN
_hostname = ["mpy"]


def use(port):
    """Act as `port`'s network module from now on, with fresh state."""
    global PORT
    if port not in PORTS:
        raise ValueError("fake network: port is one of %s" % (PORTS,))
    PORT = port
    reset()
    g = globals()
    for name in ("WLAN", "LAN", "WIZNET5K", "PHY_LAN8720", "PHY_LAN8710", "PHY_W5500"):
        g.pop(name, None)
    if port == "rp2":
        g["WLAN"] = CYW43
        g["WIZNET5K"] = WIZNET5K_LWIP
    else:
        g["WLAN"] = ESP32WLAN
        g["LAN"] = ESP32LAN
        g["PHY_LAN8710"] = 0
        g["PHY_LAN8720"] = 1
        g["PHY_W5500"] = 102
    import sys

    machine = sys.modules.get("machine")
    if machine is not None and hasattr(machine, "_use_port_constants"):
        machine._use_port_constants()


def reset():
    del CALLS[:]
    _nics.clear()
    _hostname[0] = "mpy"


def held_ports():
    """UDP ports the firmware's own DHCP code holds right now: 67 while a
    built-in server runs on an AP, 68 while the firmware's client runs on
    any interface.  lwIP refuses dora a second bind on them."""
    held = []
    for nic in _nics.values():
        if nic.dhcp_server and 67 not in held:
            held.append(67)
        if nic.dhcp_client and 68 not in held:
            held.append(68)
    return held


def stop_builtin_dhcp():
    """What dora_hook.stop_builtin_dhcp() does to the firmware (the fake
    hook calls this).  False when there is no AP interface to act on."""
    ap = _nics.get("AP")
    if ap is None:
        return PORT == "rp2"  # rp2's hook stops the driver's server struct unconditionally
    ap.dhcp_server = False
    return True


def hostname(name=None):
    if name is None:
        return _hostname[0]
    _set_hostname(name)


def _set_hostname(name):
    text = _text(name)
    if len(text) > HOSTNAME_MAX:
        raise ValueError()
    _hostname[0] = text


# -- how the C code converts Python values --------------------------------------


def _int(v):  # mp_obj_get_int: int or bool
    if isinstance(v, (int, bool)):
        return int(v)
    raise TypeError("can't convert %s to int" % type(v).__name__)


def _float(v):  # mp_obj_get_float: int, bool or float
    if isinstance(v, (int, bool, float)):
        return float(v)
    raise TypeError("can't convert %s to float" % type(v).__name__)


def _text(v):  # mp_obj_str_get_data: str or bytes only
    if isinstance(v, (str, bytes)):
        return v
    raise TypeError("can't convert '%s' object to str implicitly" % type(v).__name__)


def _buffer(v):  # mp_get_buffer_raise(..., MP_BUFFER_READ)
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    raise TypeError("object with buffer protocol required")


def _seq(v, n):  # mp_obj_get_array_fixed_n
    if not isinstance(v, (tuple, list)):
        raise TypeError("object '%s' isn't a tuple or list" % type(v).__name__)
    if len(v) != n:
        raise ValueError("requested length %d but object has length %d" % (n, len(v)))
    return v


def _query_key(v):  # mp_obj_str_get_qstr
    if not isinstance(v, str):
        raise TypeError("can't convert '%s' object to str implicitly" % type(v).__name__)
    return v


def _query_or_set(args, kw):
    """The argument rule of config() and ipconfig() where the drivers word it
    "must query one param" (network_cyw43.c, network_wiznet5k.c,
    network_lwip.c, the ESP32's esp_ipconfig): one positional key queries,
    keywords set, never both.  The key queried, or None for a call that sets."""
    if kw:
        if args:
            raise TypeError("can't specify pos and kw args")
        return None
    if len(args) != 1:
        raise TypeError("must query one param")
    return _query_key(args[0])


def parse_ipv4(v):
    """netutils_parse_ipv4_addr: str or bytes; "" is 0.0.0.0; a run of digits
    and dots with exactly four parts, each taken modulo 256 (no range check);
    trailing characters that are neither are ignored."""
    s = _text(v)
    if isinstance(s, bytes):
        s = s.decode()
    if not s:
        return "0.0.0.0"
    end = 0
    while end < len(s) and (s[end] == "." or "0" <= s[end] <= "9"):
        end += 1
    parts = s[:end].split(".")
    if len(parts) != 4:
        raise ValueError("invalid arguments")
    return ".".join(str((int(p) if p else 0) & 0xFF) for p in parts)


def _aton(v):
    """lwIP ipaddr_aton as ipconfig uses it: a dotted quad, or an IPv6
    address (which the IPv4 keys then refuse as the wrong type)."""
    s = _text(v)
    if isinstance(s, bytes):
        s = s.decode()
    if ":" in s:
        return None  # IPv6
    parts = s.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) <= 255 for p in parts):
        raise ValueError("invalid arguments")
    return s


def _prefix_mask(bits):
    m = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
    return "%d.%d.%d.%d" % (m >> 24, (m >> 16) & 0xFF, (m >> 8) & 0xFF, m & 0xFF)


# -- the interfaces ---------------------------------------------------------------


class _Nic:
    """State every interface has.  Subclasses are the per-port drivers."""

    name = "NIC"

    def _setup(self):
        self._active = False
        self.address = ("0.0.0.0", "0.0.0.0", "0.0.0.0")
        self.dhcp_server = False  # the firmware's own server (AP)
        self.dhcp_client = False  # the firmware's own client (STA, Ethernet)
        _nics[self.name] = self

    def _record(self, what, arg):
        CALLS.append((self.name + "." + what, arg))

    def _set_address(self, ip, mask, gw):
        self.address = (ip, mask, gw)

    # lwIP's ifconfig (rp2): mod_network_nic_ifconfig
    def _lwip_ifconfig(self, args):
        if not args:
            return self.address + (_DNS[0],)
        if len(args) > 1:
            raise TypeError("function takes at most 2 positional arguments")
        cfg = args[0]
        if cfg == "dhcp":
            # It waits up to 10 s for an address; nothing answers in the fake.
            raise OSError("timeout waiting for DHCP to get IP address")
        self.dhcp_client = False  # dhcp_release(); dhcp_stop() before parsing
        items = _seq(cfg, 4)
        ip, mask, gw, dns = (parse_ipv4(x) for x in items)
        self._set_address(ip, mask, gw)
        _DNS[0] = dns
        self._record("ifconfig", tuple(cfg))

    # lwIP's ipconfig (rp2): mod_network_nic_ipconfig
    def _lwip_ipconfig(self, args, kw):
        key = _query_or_set(args, kw)
        if key is not None:
            if key == "dhcp4":
                return self.dhcp_client
            if key == "has_dhcp4":
                return False
            if key == "addr4":
                return self.address[:2]
            if key == "gw4":
                return self.address[2]
            if key in ("addr6", "autoconf6", "has_autoconf6", "dhcp6"):
                return []
            raise ValueError("unexpected key")
        # The C code asks which key it is handling by looking at the FIRST
        # keyword of the call: addr4 takes effect only when it comes first.
        first = list(kw)[0]
        for key in kw:
            value = kw[key]
            if key == "dhcp4":
                self.dhcp_client = bool(value)
            elif key in ("addr4", "addr6"):
                ip, mask = self._lwip_addr(key, value)
                if first == "addr4" and key == "addr4":
                    self._set_address(ip, mask, self.address[2])
            elif key == "gw4":
                gw = _aton(value)
                if gw is None:
                    raise ValueError("invalid address type")
                self._set_address(self.address[0], self.address[1], gw)
            elif key in ("autoconf6", "dhcp6"):
                pass
            else:
                raise ValueError("unexpected key")
        self._record("ipconfig", dict(kw))

    def _lwip_addr(self, key, value):
        if value is None:
            return "0.0.0.0", "0.0.0.0"
        if isinstance(value, str):
            text, mask = value, self.address[1]
            if "/" in value:
                text, bits = value.split("/", 1)
                mask = _prefix_mask(int(bits))
            ip = _aton(text)
            if (ip is None) != (key == "addr6"):
                raise ValueError("invalid address type")
            return ip, mask
        items = _seq(value, 2)
        ip, mask = _aton(items[0]), _aton(items[1])
        if ip is None or mask is None:
            raise ValueError("invalid address type")
        return ip, mask


_DNS = ["0.0.0.0"]


# -- rp2: the Pico W's cyw43 driver -------------------------------------------------

_CYW43_AP_DEFAULT = ("192.168.4.1", "255.255.255.0", "192.168.4.1")
# Keys the driver only stores; setting one on an active interface cycles it
# down and up (cyw43_cb_tcpip_deinit/init): the AP's address goes back to
# the default and the driver's DHCP server starts again.
_CYW43_CYCLE = ("channel", "ssid", "essid", "security", "key", "password")


def _cyw43_pm(mode, sleep_ms, beacon, dtim, assoc):
    return assoc << 20 | dtim << 16 | beacon << 12 | (sleep_ms // 10) << 4 | mode


class CYW43(_Nic):
    """network.WLAN on the Pico W (extmod/network_cyw43.c)."""

    IF_STA = STA_IF
    IF_AP = AP_IF
    SEC_OPEN = 0
    SEC_WPA_WPA2 = 0x00400006  # CYW43_AUTH_WPA2_MIXED_PSK
    SEC_WPA3 = 0x01000004
    SEC_WPA2_WPA3 = 0x01400004
    PM_NONE = _cyw43_pm(0, 10, 0, 0, 0)
    PM_PERFORMANCE = _cyw43_pm(2, 200, 1, 1, 10)
    PM_POWERSAVE = _cyw43_pm(1, 10, 0, 0, 0)

    # config keys by direction (network_cyw43_config)
    READABLE = ("antenna", "channel", "ssid", "essid", "security", "mac", "pm", "txpower", "hostname")
    WRITABLE = ("antenna", "channel", "ssid", "essid", "monitor", "security", "key", "password",
                "pm", "trace", "txpower", "hostname")

    def __new__(cls, *args, **kw):
        if kw:
            raise TypeError("function doesn't take keyword arguments")
        if len(args) > 1:
            raise TypeError("function takes at most 1 positional arguments")
        # Any interface number but STA_IF gives the AP.
        itf = STA_IF if not args or _int(args[0]) == STA_IF else AP_IF
        name = "STA" if itf == STA_IF else "AP"
        if name in _nics:
            return _nics[name]
        self = object.__new__(cls)
        self.itf = itf
        self.name = name
        self._setup()
        self._cfg = {"ssid": "", "key": "", "channel": 3,
                     "security": CYW43.SEC_WPA_WPA2, "pm": CYW43.PM_PERFORMANCE, "txpower": 31,
                     "antenna": 0, "trace": 0, "monitor": 0}
        self.mac = bytes((0x28, 0xCD, 0xC1, 0, 0, 0x10 + itf))
        return self

    def __init__(self, *args, **kw):
        pass

    def active(self, *args):
        if not args:
            return self._active
        if len(args) > 1:
            raise TypeError("function takes at most 2 positional arguments")
        on = bool(args[0])
        if on and not self._active:
            self._tcpip_init()
        elif not on and self._active:
            self.dhcp_server = self.dhcp_client = False
            self.address = ("0.0.0.0",) * 3
        self._active = on
        self._record("active", args[0])

    def _tcpip_init(self):
        if self.itf == AP_IF:
            self.address = _CYW43_AP_DEFAULT
            self.dhcp_server = True
        else:
            self.address = ("0.0.0.0",) * 3
            self.dhcp_client = True  # dhcp_start() at interface init

    def config(self, *args, **kw):
        key = _query_or_set(args, kw)
        if key is not None:
            if key not in self.READABLE:
                raise ValueError("unknown config param")
            if key == "mac":
                return self.mac
            if key == "hostname":
                return _hostname[0]
            if key == "essid":
                key = "ssid"
            return self._cfg[key]
        cycle = False
        for key in kw:
            value = kw[key]
            if key not in self.WRITABLE:
                raise ValueError("unknown config param")
            if key in ("ssid", "essid"):
                self._cfg["ssid"] = _text(value)[:32]
            elif key in ("key", "password"):
                self._cfg["key"] = _text(value)[:64]
            elif key == "hostname":
                _set_hostname(value)
            elif key == "channel":
                self._cfg["channel"] = _int(value) & 0xFF  # stored as uint8_t
            else:
                self._cfg[key] = _int(value)
            cycle = cycle or key in _CYW43_CYCLE
        if cycle and self._active:
            self.dhcp_server = self.dhcp_client = False
            self._tcpip_init()
        self._record("config", dict(kw))

    def ifconfig(self, *args):
        return self._lwip_ifconfig(args)

    def ipconfig(self, *args, **kw):
        return self._lwip_ipconfig(args, kw)

    def status(self, *args):
        if not args:
            return 3 if self._active else 0
        key = _query_key(args[0])
        if key == "rssi":
            if self.itf != STA_IF:
                raise ValueError("STA required")
            return -50
        if key == "stations":
            if self.itf != AP_IF:
                raise ValueError("AP required")
            return []
        raise ValueError("unknown status param")

    def isconnected(self):
        return False  # no radio: no station ever associates, no AP is ever joined

    def connect(self, ssid, key=None, *, auth=-1, security=-1, bssid=None, channel=0):
        _buffer(ssid)
        if key is not None:
            _buffer(key)
        _int(auth)
        _int(security)
        _int(channel)
        if bssid is not None and len(_buffer(bssid)) != 6:
            raise ValueError()
        self._record("connect", ssid)

    def disconnect(self):
        self._record("disconnect", None)


# -- rp2: WIZnet W5500 with lwIP (W5500-EVB-Pico image) ----------------------------


class WIZNET5K_LWIP(_Nic):
    """network.WIZNET5K on rp2 (extmod/network_wiznet5k.c, lwIP build)."""

    name = "WIZNET5K"

    def __new__(cls, *args, **kw):
        import machine

        if kw:
            raise TypeError("function doesn't take keyword arguments")
        if args:
            # WIZNET5K(spi, pin_cs, pin_rst[, pin_intn]); with no arguments
            # the board's own wiring (MICROPY_HW_WIZNET_*) is used.
            if len(args) < 3:
                raise TypeError("function missing %d required positional arguments" % (3 - len(args)))
            if len(args) > 4:
                raise TypeError("function expected at most 4 arguments, got %d" % len(args))
            if not isinstance(args[0], machine.SPI):
                raise TypeError("expecting an SPI object")
            for pin in args[1:]:
                machine.pin_id(pin)
        self = _nics.get("WIZNET5K") or object.__new__(cls)
        self._setup()
        self.mac = bytes((0x02, 0x08, 0xDC, 0, 0, 1))
        self.trace = 0
        CALLS.append(("WIZNET5K()", {"args": len(args)}))
        return self

    def __init__(self, *args, **kw):
        pass

    def active(self, *args):
        if not args:
            return self._active
        if args[0]:
            if not self._active:
                # wiznet5k_lwip_init: lwIP's DHCP client is started on the netif.
                self.dhcp_client = True
                self.address = ("0.0.0.0",) * 3
            self._active = True
        else:
            self._active = False
            self.dhcp_client = False
        self._record("active", args[0])

    def ifconfig(self, *args):
        return self._lwip_ifconfig(args)

    def ipconfig(self, *args, **kw):
        return self._lwip_ipconfig(args, kw)

    def config(self, *args, **kw):
        key = _query_or_set(args, kw)
        if key is not None:
            if key != "mac":
                raise ValueError("unknown config param")
            return self.mac
        for key in kw:
            if key == "mac":
                mac = _buffer(kw[key])
                if len(mac) != 6:
                    raise ValueError()
                self.mac = mac
            elif key == "trace":
                self.trace = _int(kw[key])
            else:
                raise ValueError("unknown config param")
        self._record("config", dict(kw))

    def status(self, *args):
        if args:
            raise ValueError("unknown status param")
        return 2 if self._active else 1

    def isconnected(self):
        return self._active and self.address[0] != "0.0.0.0"


# -- esp32: network_wlan.c ------------------------------------------------------------


class ESP32WLAN(_Nic):
    """network.WLAN on the ESP32 (ports/esp32/network_wlan.c)."""

    IF_STA = STA_IF
    IF_AP = AP_IF
    # wifi_auth_mode_t
    SEC_OPEN = 0
    SEC_WEP = 1
    SEC_WPA = 2
    SEC_WPA2 = 3
    SEC_WPA_WPA2 = 4
    SEC_WPA2_ENT = 5
    SEC_WPA3 = 6
    SEC_WPA2_WPA3 = 7
    SEC_WAPI = 8
    SEC_OWE = 9
    PM_NONE = 0
    PM_PERFORMANCE = 1
    PM_POWERSAVE = 2
    PROTOCOL_DEFAULT = 7
    PROTOCOL_LR = 8

    # key -> interface it needs (None: either); network_wlan_config
    WRITABLE = {"mac": None, "ssid": AP_IF, "essid": AP_IF, "hidden": AP_IF, "security": AP_IF,
                "authmode": AP_IF, "key": AP_IF, "password": AP_IF, "channel": None,
                "hostname": None, "dhcp_hostname": None, "max_clients": AP_IF,
                "reconnects": STA_IF, "txpower": None, "protocol": None, "pm": None}
    READABLE = {"mac": None, "ssid": None, "essid": None, "hidden": AP_IF, "security": AP_IF,
                "authmode": AP_IF, "channel": None, "ifname": None, "hostname": STA_IF,
                "dhcp_hostname": STA_IF, "max_clients": None, "reconnects": STA_IF,
                "txpower": None, "protocol": None, "pm": None}

    def __new__(cls, *args, **kw):
        if kw:
            raise TypeError("function doesn't take keyword arguments")
        if len(args) > 1:
            raise TypeError("function takes at most 1 positional arguments")
        itf = _int(args[0]) if args else STA_IF
        if itf not in (STA_IF, AP_IF):
            raise ValueError("invalid WLAN interface identifier")
        name = "STA" if itf == STA_IF else "AP"
        if name in _nics:
            return _nics[name]
        self = object.__new__(cls)
        self.itf = itf
        self.name = name
        self._setup()
        self._started = False  # the lwIP netif exists once the interface first started
        self._cfg = {"ssid": "", "hidden": False, "authmode": 0, "key": "", "channel": 1,
                     "max_clients": 4, "reconnects": -1, "txpower": 20.0,
                     "protocol": ESP32WLAN.PROTOCOL_DEFAULT, "pm": 1}
        self.mac = bytes((0x24, 0x0A, 0xC4, 0, 0, 0x10 + itf))
        self._dhcpc = "init"  # esp_netif DHCP client: init / started / stopped
        return self

    def __init__(self, *args, **kw):
        pass

    def _require(self, itf):
        if itf is not None and itf != self.itf:
            raise OSError("STA required" if itf == STA_IF else "AP required")

    def active(self, *args):
        if not args:
            return self._active
        if len(args) > 1:
            raise TypeError("function takes at most 2 positional arguments")
        on = bool(args[0])
        if on and not self._active:
            self._started = True
            if self.itf == AP_IF:
                # The default AP netif starts its DHCP server with the interface.
                self.address = ("192.168.4.1", "255.255.255.0", "192.168.4.1")
                self.dhcp_server = True
        elif not on and self._active:
            self.dhcp_server = self.dhcp_client = False
        self._active = on
        self._record("active", args[0])

    def config(self, *args, **kw):
        if args and kw:
            raise TypeError("either pos or kw args are allowed")
        if kw:
            pending = dict(self._cfg)
            for key in kw:
                value = kw[key]
                if key not in self.WRITABLE:
                    raise ValueError("unknown config param")
                if key == "mac":
                    mac = _buffer(value)
                    if len(mac) != 6:
                        raise ValueError("invalid buffer length")
                    self.mac = mac  # esp_wifi_set_mac: at once
                elif key in ("ssid", "essid"):
                    pending["ssid"] = _text(value)[:32]
                elif key == "hidden":
                    pending["hidden"] = bool(value)
                elif key in ("security", "authmode"):
                    pending["authmode"] = _int(value)
                elif key in ("key", "password"):
                    pending["key"] = _text(value)[:63]
                elif key == "channel":
                    pending["channel"] = _int(value) & 0xFF  # uint8_t
                elif key in ("hostname", "dhcp_hostname"):
                    _set_hostname(value)
                elif key == "max_clients":
                    pending["max_clients"] = _int(value)
                elif key == "reconnects":
                    self._cfg["reconnects"] = _int(value)  # before the interface check
                elif key == "txpower":
                    self._cfg["txpower"] = int(_float(value) * 4) / 4
                else:  # protocol, pm
                    self._cfg[key] = _int(value)
                self._require(self.WRITABLE[key])
            # esp_wifi_set_config() once, after every key was taken.
            self._cfg.update(pending)
            self._record("config", dict(kw))
            return None
        if len(args) != 1:
            raise TypeError("can query only one param")
        key = _query_key(args[0])
        if key not in self.READABLE:
            raise ValueError("unknown config param")
        if key == "mac":
            return self.mac
        if key == "ifname":
            # esp_ifname: the lwIP netif's name, None before it exists.
            return ("st1" if self.itf == STA_IF else "ap1") if self._started else None
        self._require(self.READABLE[key])
        if key in ("hostname", "dhcp_hostname"):
            return _hostname[0]
        if key == "essid":
            key = "ssid"
        if key == "authmode" or key == "security":
            return self._cfg["authmode"]
        return self._cfg[key]

    def ifconfig(self, *args):
        return _esp_ifconfig(self, args)

    def ipconfig(self, *args, **kw):
        return _esp_ipconfig(self, args, kw)

    def status(self, *args):
        if not args:
            return 1000 if self.itf == STA_IF else None  # STAT_IDLE
        key = args[0]
        if key == "stations":
            self._require(AP_IF)
            return []
        if key == "rssi":
            self._require(STA_IF)
            raise OSError("Wifi Not Connected")
        raise ValueError("unknown status param")

    def isconnected(self):
        return False

    def connect(self, *args, bssid=None):
        # The two positional parameters have no names in the C table: they
        # cannot be given as keywords.
        if len(args) > 2:
            raise TypeError("function takes at most 3 positional arguments")
        for v in args:
            if v is not None:
                _text(v)
        if bssid is not None and len(_text(bssid)) != 6:
            raise ValueError()
        if self._dhcpc == "init":
            self._dhcpc = "started"  # esp_netif starts it on the connected event
            self.dhcp_client = True
        self._record("connect", args[0] if args else None)

    def disconnect(self):
        self._record("disconnect", None)


# -- esp32: network_common.c (shared by WLAN and LAN) ---------------------------------


def _esp_ifconfig(nic, args):
    if not args:
        return nic.address + (_DNS[0],)
    if len(args) > 1:
        raise TypeError("function takes at most 2 positional arguments")
    cfg = args[0]
    if isinstance(cfg, (tuple, list)):
        items = _seq(cfg, 4)
        ip = parse_ipv4(items[0])
        mask = _prefix_mask(_int(items[1])) if isinstance(items[1], int) else parse_ipv4(items[1])
        gw, dns = parse_ipv4(items[2]), parse_ipv4(items[3])
        if nic.itf == AP_IF:
            # dhcps stopped, address set, dhcps started again.
            nic._set_address(ip, mask, gw)
            nic.dhcp_server = True
        else:
            nic._dhcpc = "stopped"
            nic.dhcp_client = False
            nic._set_address(ip, mask, gw)
        _DNS[0] = dns
        nic._record("ifconfig", tuple(cfg))
        return None
    if not isinstance(cfg, str):
        raise TypeError("can't convert '%s' object to str implicitly" % type(cfg).__name__)
    if nic.itf == AP_IF or cfg != "dhcp":
        raise ValueError("invalid arguments")
    nic._dhcpc = "started"
    nic.dhcp_client = True
    nic._record("ifconfig", cfg)


def _esp_ipconfig(nic, args, kw):
    key = _query_or_set(args, kw)
    if key is not None:
        if key == "dhcp4":
            if nic.itf == AP_IF:
                raise ValueError("unexpected key")
            return nic._dhcpc == "started"
        if key == "addr4":
            return nic.address[:2]
        if key == "gw4":
            return nic.address[2]
        raise ValueError("unexpected key")
    ip, mask, gw = nic.address
    for key in kw:
        value = kw[key]
        if key == "dhcp4":
            if nic.itf == AP_IF:
                raise ValueError("unexpected key")
            # Only a client that has STARTED is stopped; one not yet started
            # (before the STA connects) is left to start later.
            if value and nic._dhcpc != "started":
                nic._dhcpc = "started"
            elif not value and nic._dhcpc == "started":
                nic._dhcpc = "stopped"
            nic.dhcp_client = nic._dhcpc == "started"
        elif key == "addr4":
            if isinstance(value, str):
                if "/" in value:
                    mask = _prefix_mask(int(value.split("/", 1)[1]))
                ip = parse_ipv4(value)
            elif value is not None:
                items = _seq(value, 2)
                ip, mask = parse_ipv4(items[0]), parse_ipv4(items[1])
        elif key == "gw4":
            gw = parse_ipv4(value)
        else:
            raise ValueError("unexpected key")
    nic._set_address(ip, mask, gw)
    if nic.itf == AP_IF:
        nic.dhcp_server = True  # dhcps stopped and started around the change
    elif "addr4" in kw or "gw4" in kw:
        nic._dhcpc = "stopped"
        nic.dhcp_client = False
    nic._record("ipconfig", dict(kw))


# -- esp32: network_lan.c -------------------------------------------------------------

_ESP32_PHY_TYPES = (0, 1, 2, 3, 4, 5, 6)  # LAN8710 LAN8720 IP101 RTL8201 DP83848 KSZ8041 KSZ8081
_ETH_IF = 2


class ESP32LAN(_Nic):
    """network.LAN on the ESP32 (ports/esp32/network_lan.c, get_lan)."""

    name = "LAN"

    def __new__(cls, id=None, *, mdc=None, mdio=None, reset=None, power=None, phy_addr=None,
                phy_type=None, spi=None, cs=None, int=None, ref_clk_mode=-1, ref_clk=None):
        import machine

        if "LAN" in _nics:
            return _nics["LAN"]  # later calls get the first object, whatever they pass
        if phy_addr is None or phy_type is None:
            raise TypeError("'%s' argument required" % ("phy_addr" if phy_addr is None else "phy_type"))
        if id is not None and _int(id) != 0:
            raise ValueError("invalid LAN interface identifier")
        for pin in (mdc, mdio, reset, power, cs, int):
            if pin is not None:
                machine.pin_id(pin)
        phy_addr, phy_type = _int(phy_addr), _int(phy_type)
        if not 0 <= phy_addr <= 0x1F:
            raise ValueError("invalid phy address")
        if phy_type not in _ESP32_PHY_TYPES:
            raise ValueError("invalid phy type")
        if mdc is None or mdio is None:
            raise ValueError("mdc and mdio must be specified")
        self = object.__new__(cls)
        self.itf = _ETH_IF
        self._setup()
        self._dhcpc = "init"
        self.mac = bytes((0x24, 0x0A, 0xC4, 0, 0, 0x20))
        CALLS.append(("LAN()", {"phy_type": phy_type, "phy_addr": phy_addr}))
        return self

    def __init__(self, *args, **kw):
        pass

    def active(self, *args):
        if args:
            if args[0] and not self._active:
                # The default Ethernet netif runs a DHCP client.
                self._dhcpc = "started"
                self.dhcp_client = True
            self._active = bool(args[0])
            self._record("active", args[0])
        return self._active

    def config(self, *args, **kw):
        if args and kw:
            raise TypeError("either pos or kw args are allowed")
        if kw:
            for key in kw:
                if key == "mac":
                    mac = _buffer(kw[key])
                    if len(mac) != 6:
                        raise ValueError("invalid buffer length")
                    self.mac = mac
                # any other key is ignored without a word (lan_config)
            self._record("config", dict(kw))
            return None
        if len(args) != 1:
            raise TypeError("can query only one param")
        key = _query_key(args[0])
        if key == "mac":
            return self.mac
        if key == "ifname":
            return "en1"
        raise ValueError("unknown config param")

    def ifconfig(self, *args):
        return _esp_ifconfig(self, args)

    def ipconfig(self, *args, **kw):
        return _esp_ipconfig(self, args, kw)

    def status(self):
        return 1 if self._active else 0

    def isconnected(self):
        return False


use(PORT)

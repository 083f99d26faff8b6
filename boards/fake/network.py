# HOST-ONLY FAKE of MicroPython's `network` module.  It never goes on a
# board: the real module cannot exist on a desktop.  It records every call in
# CALLS so the tests can check dora's bring-up order, and returns plausible
# values.  Keep it this small.

CALLS = []  # ("WLAN.config", {...}), ("WLAN.active", True), ...

STA_IF = 0
AP_IF = 1
PHY_LAN8720 = 1


class WLAN:
    SEC_OPEN = 0
    SEC_WPA2 = 3  # the ESP32 name; tests may delete it to act as a Pico W
    SEC_WPA_WPA2 = 0x00400004

    IFNAMES = {STA_IF: "st1", AP_IF: "ap1"}  # what MicroPython >= 1.21 reports on ESP32

    def __init__(self, itf):
        self.itf = itf
        self.name = "AP" if itf == AP_IF else "STA"
        self._active = False
        self._cfg = {"mac": bytes((0x02, 0, 0, 0, 0, 0x10 + itf)), "ifname": self.IFNAMES[itf]}

    def config(self, *args, **kw):
        if args:
            return self._cfg[args[0]]
        CALLS.append((self.name + ".config", dict(kw)))
        self._cfg.update(kw)

    def active(self, on=None):
        if on is None:
            return self._active
        CALLS.append((self.name + ".active", on))
        self._active = on

    def ifconfig(self, cfg=None):
        if cfg is None:
            return self._cfg.get("ifconfig", ("0.0.0.0",) * 4)
        CALLS.append((self.name + ".ifconfig", cfg))
        self._cfg["ifconfig"] = cfg

    def connect(self, ssid, key=""):
        CALLS.append((self.name + ".connect", ssid))


class _Wired:
    kind = "LAN"

    def __init__(self, *args, **kw):
        CALLS.append((self.kind + "()", kw))
        self._ifconfig = None

    def active(self, on=None):
        CALLS.append((self.kind + ".active", on))

    def ifconfig(self, cfg=None):
        CALLS.append((self.kind + ".ifconfig", cfg))


class LAN(_Wired):
    kind = "LAN"


class WIZNET5K(_Wired):
    kind = "WIZNET5K"
